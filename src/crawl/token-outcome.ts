import { TokenError } from '../errors';
import { credentialRefusalReason } from '../identity/token-errors';
import type { CrawlDeps } from './crawl-deps';
import { failRun } from './finish-run';

/**
 * Turns a token failure into the tenant's new status (docs/graph-facts.md): a revoked app marks the tenant
 * `revoked`, a tenant-side refusal marks it `error`, a rejected app credential fails the run loudly with the reason
 * in plain words (docs/credentials.md). Returns false for anything it does not handle (transient failures: let the
 * queue retry).
 */
export async function settleTokenFailure(
  deps: CrawlDeps,
  error: unknown,
  tenantId: string,
  runId: string,
): Promise<'revoked' | 'tenant_error' | 'credential_rejected' | false> {
  if (!(error instanceof TokenError)) return false;
  const code = error.aadsts ? ` (AADSTS${error.aadsts})` : '';
  switch (error.code) {
    case 'tenant_revoked':
      deps.forgetTenant(tenantId);
      await failRun(deps, tenantId, runId, `The app's access was revoked by the tenant${code}`, 'revoked');
      return 'revoked';
    case 'tenant_error':
      await failRun(deps, tenantId, runId, `Entra ID refused a token for the tenant${code}`, 'error');
      return 'tenant_error';
    case 'app_credential_rejected': {
      const reason = credentialRefusalReason(error.aadsts);
      deps.logger.error("the app's credential was rejected by Entra ID", {
        tenantId,
        runId,
        credential: deps.appCredential.describedAs,
        aadsts: error.aadsts,
      });
      await failRun(
        deps,
        tenantId,
        runId,
        `The app's credential was rejected: ${reason}${code}`,
        'unchanged',
      );
      return 'credential_rejected';
    }
    case 'transient':
      return false;
  }
}
