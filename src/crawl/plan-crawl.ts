import { CredentialError, RegistryError } from '../errors';
import { provePermissions } from '../tenants/prove-permissions';
import { CRAWLABLE } from '../tenants/tenant-registry';
import type { TenantRecord } from '../tenants/tenant-registry';
import type { CrawlDeps } from './crawl-deps';
import { describeFailure } from './describe-failure';
import { failRun } from './finish-run';
import { newRunId } from './run-id';

/**
 * Reads the app's credential afresh and checks its end date (a secret's in the vault, a certificate's own):
 * missing, unusable or expired fails loudly (no tenant can be crawled), within the warning window logs a
 * warning. A managed identity has no end date; reading it proves its endpoint answers.
 */
export async function checkAppCredential(deps: CrawlDeps): Promise<void> {
  const credential = deps.appCredential;
  const expiresOn = (await credential.refresh()).expiresOn;
  if (!expiresOn) return;
  const days = (expiresOn.getTime() - deps.now().getTime()) / 86_400_000;
  const fields = { credential: credential.describedAs, expiresOn: expiresOn.toISOString() };
  if (days <= 0) {
    deps.logger.error("the app's credential has expired", fields);
    const renew = credential.kind === 'certificate' ? 'a new certificate version' : 'a new secret';
    throw new CredentialError(
      'credential_expired',
      credential.describedAs,
      `expired on ${expiresOn.toISOString()}; put ${renew} in the vault and register it on the app`,
    );
  }
  if (days <= deps.settings.credentialWarningDays) {
    deps.logger.warn("the app's credential expires soon", { ...fields, daysLeft: Math.floor(days) });
  }
}

/** Marks runs left `running` past the time limit (a crashed worker) as `failed`. */
export async function failStaleRuns(deps: CrawlDeps): Promise<number> {
  const limit = deps.now().getTime() - deps.settings.runTimeLimitMs;
  let failed = 0;
  for (const run of await deps.runs.listRunning()) {
    if (Date.parse(run.startedAt) < limit) {
      await failRun(deps, run.tenantId, run.runId, 'The run exceeded its time limit (a worker stopped)');
      failed += 1;
    }
  }
  return failed;
}

/** A re-check that takes longer than this (a throttled or hanging tenant) is left for the next plan. */
const RECHECK_TIMEOUT_MS = 60_000;

/**
 * Proves the tenant's two permissions again with a fresh token, by the probes and the rule of the consent
 * callback and the crawl (`provePermissions`, docs/permissions.md), and records the outcome: when they were proven,
 * or `consent_incomplete` with what is missing. Returns what is missing. A refused token throws (`TokenError`).
 */
export async function checkPermissionsAgain(deps: CrawlDeps, tenantId: string): Promise<string[]> {
  deps.forgetTenant(tenantId);
  const graph = deps.graphFor(tenantId, { kind: 'directory' }, AbortSignal.timeout(RECHECK_TIMEOUT_MS));
  const missing = await provePermissions(graph, await graph.tokenRoles());
  await deps.registry.recordPermissionCheck(tenantId, missing, deps.now());
  deps.logger.info('permissions checked again', { tenantId, missing: missing.join(',') || 'none' });
  return missing;
}

/**
 * Proves again, each with a fresh token, the permissions of the `consent_incomplete` tenants (all of them, or
 * `only`): right after consent Entra ID may issue tokens without the new roles for minutes (docs/permissions.md).
 * A tenant whose permissions have arrived becomes `active` and is crawled by this plan; the others keep waiting,
 * what is missing in `lastError`. A tenant whose check fails waits too: one tenant never stops another.
 */
export async function recheckIncompleteConsent(
  deps: CrawlDeps,
  only?: string,
): Promise<{ granted: string[]; waiting: string[] }> {
  const granted: string[] = [];
  const waiting: string[] = [];
  for (const tenant of await deps.registry.list()) {
    if (tenant.status !== 'consent_incomplete' || (only !== undefined && tenant.tenantId !== only)) continue;
    const tenantId = tenant.tenantId;
    try {
      const missing = await checkPermissionsAgain(deps, tenantId);
      (missing.length === 0 ? granted : waiting).push(tenantId);
    } catch (error) {
      waiting.push(tenantId);
      deps.logger.warn('permission re-check failed', { tenantId, reason: describeFailure(error) });
    }
  }
  return { granted, waiting };
}

/**
 * Opens a run of the tenant. Delta cursors saved before the tenant's latest consent are not followed (a new
 * consent starts from scratch), nor, when `full` is asked for, any saved before the run (docs/delta.md).
 */
export async function openRun(
  deps: CrawlDeps,
  tenant: Pick<TenantRecord, 'tenantId' | 'consentedAt'>,
  options: { full?: boolean } = {},
): Promise<string> {
  const tenantId = tenant.tenantId;
  const now = deps.now();
  const runId = newRunId(now);
  await deps.runs.open(tenantId, runId, now, options.full ? now : tenant.consentedAt);
  await deps.progress.start(tenantId, runId);
  await deps.registry.recordRunStarted(tenantId, runId);
  return runId;
}

export interface PlannedRun {
  tenantId: string;
  runId: string;
}

/**
 * The timer's job: check the app's credential, fail stale runs, then open a run and queue one message for every
 * crawlable tenant that has no run going. It only plans; the queue workers do the work.
 */
export async function planCrawl(deps: CrawlDeps): Promise<{ planned: PlannedRun[]; busy: string[] }> {
  await checkAppCredential(deps);
  await failStaleRuns(deps);
  await recheckIncompleteConsent(deps);
  const planned: PlannedRun[] = [];
  const busy: string[] = [];
  for (const tenant of await deps.registry.listCrawlable()) {
    const latest = await deps.runs.latest(tenant.tenantId);
    if (latest?.status === 'running') {
      busy.push(tenant.tenantId);
      continue;
    }
    const runId = await openRun(deps, tenant);
    await deps.enqueueTenant({ kind: 'tenant', tenantId: tenant.tenantId, runId });
    planned.push({ tenantId: tenant.tenantId, runId });
  }
  deps.logger.info('crawl planned', { tenants: planned.length, busy: busy.length });
  return { planned, busy };
}

/**
 * `POST /api/tenants/{id}/crawl[?full=true]`: one tenant, now; `full` reads every drive from scratch. Throws
 * `RegistryError` for the 404 and 409 answers.
 */
export async function queueTenantCrawl(
  deps: CrawlDeps,
  tenantId: string,
  options: { full?: boolean } = {},
): Promise<PlannedRun> {
  const tenant = await deps.registry.get(tenantId);
  if (!tenant) throw new RegistryError('tenant_not_found', tenantId, 'No such tenant');
  if (!CRAWLABLE.has(tenant.status)) {
    throw new RegistryError('tenant_not_crawlable', tenantId, `The tenant is ${tenant.status}`);
  }
  await failStaleRuns(deps);
  const latest = await deps.runs.latest(tenantId);
  if (latest?.status === 'running') {
    throw new RegistryError('run_in_progress', tenantId, 'A run of this tenant is still running');
  }
  const runId = await openRun(deps, tenant, options);
  await deps.enqueueTenant({ kind: 'tenant', tenantId, runId });
  return { tenantId, runId };
}
