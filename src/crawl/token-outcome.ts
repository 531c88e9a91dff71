import { TokenError } from '../errors';
import type { CrawlDeps } from './crawl-deps';
import { failRun } from './finish-run';

/**
 * Turns a token failure into the tenant's new status (docs/graph-facts.md): a revoked app marks the tenant `revoked`, a
 * tenant-side refusal marks it `error`, a rejected client secret fails the run loudly. Returns false for
 * anything it does not handle (transient failures: let the queue retry).
 */
export async function settleTokenFailure(
  deps: CrawlDeps,
  error: unknown,
  tenantId: string,
  runId: string,
): Promise<'revoked' | 'tenant_error' | 'secret_rejected' | false> {
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
    case 'app_secret_rejected':
      deps.logger.error('client secret rejected by Entra ID', { tenantId, runId, aadsts: error.aadsts });
      await failRun(deps, tenantId, runId, `The app's client secret was rejected${code}`, 'unchanged');
      return 'secret_rejected';
    case 'transient':
      return false;
  }
}
