import type { CrawlDeps } from '../crawl/crawl-deps';
import { checkPermissionsAgain, queueTenantCrawl } from '../crawl/plan-crawl';
import { CredentialError, GraphError, RegistryError, TokenError } from '../errors';
import type { ActionOutcome } from './status-links';

/** "Crawl now": queues a run of the tenant as `POST /api/tenants/{id}/crawl` does, the refusals as outcomes. */
export async function crawlNow(deps: CrawlDeps, tenantId: string): Promise<ActionOutcome> {
  try {
    await queueTenantCrawl(deps, tenantId);
    return 'crawl-queued';
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
    switch (error.code) {
      case 'tenant_not_found':
        return 'tenant-not-found';
      case 'tenant_not_crawlable':
        return 'crawl-not-allowed';
      case 'run_in_progress':
        return 'crawl-running';
    }
  }
}

/**
 * "Check permissions again": the plan's re-check (`checkPermissionsAgain`: the consent callback's probes and rule,
 * the outcome recorded on the tenant) for one tenant. A refused token, a probe Graph would not answer or one that
 * ran out of time is an outcome for the operator to read, not a failure of the page; each is logged with its code.
 */
export async function recheckPermissions(deps: CrawlDeps, tenantId: string): Promise<ActionOutcome> {
  const tenant = await deps.registry.get(tenantId);
  if (!tenant) return 'tenant-not-found';
  // An offboarded tenant may have removed the app: nothing asks its Entra ID for a token any more.
  if (tenant.status === 'offboarded') return 'tenant-offboarded';
  try {
    const missing = await checkPermissionsAgain(deps, tenantId);
    return missing.length === 0 ? 'permissions-proven' : 'permissions-missing';
  } catch (error) {
    const outcome = recheckFailure(error);
    if (!outcome) throw error;
    deps.logger.warn('permission re-check failed', {
      tenantId,
      error: (error as { name?: string }).name,
      code: (error as { code?: unknown }).code as string | undefined,
    });
    return outcome;
  }
}

function recheckFailure(error: unknown): ActionOutcome | undefined {
  if (error instanceof TokenError) {
    switch (error.code) {
      case 'tenant_revoked':
        return 'permissions-revoked';
      case 'tenant_error':
        return 'permissions-refused';
      case 'app_credential_rejected':
        return 'credential-failed';
      case 'transient':
        return 'permissions-failed';
    }
  }
  if (error instanceof CredentialError) return 'credential-failed';
  if (error instanceof GraphError) return 'permissions-failed';
  // The re-check's own time limit (AbortSignal.timeout) or the request ending: a DOMException, which is not
  // always an instance of this realm's Error, so it is told by its name.
  const name = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
  if (name === 'TimeoutError' || name === 'AbortError') return 'permissions-failed';
  return undefined;
}
