import pLimit from 'p-limit';
import type { CrawlRun, CrawlRunStore } from '../crawl/crawl-runs';
import type { CrawlSkipStore } from '../crawl/crawl-skips';
import type { SkipReason } from '../graph/drive-answer';
import type { TenantRecord, TenantRegistry } from '../tenants/tenant-registry';

/** Runs kept per tenant for the page: the last run's row and the chart's bars. */
export const RECENT_RUNS = 10;

/** Why a tenant is listed before the others, most urgent first (the page's order follows this list). */
export const ATTENTION = ['status_error', 'consent_incomplete', 'run_failed', 'skips_growing'] as const;
export type AttentionReason = (typeof ATTENTION)[number];

/** What the `CrawlSkips` rows of a tenant say: who could not be read, why, and since when. */
export interface SkipSummary {
  count: number;
  byReason: Partial<Record<SkipReason, number>>;
  /** The earliest `firstSkippedAt` of the rows (ISO 8601), when there are any. */
  since: string | undefined;
}

/** One tenant as the status page shows it. */
export interface TenantStatus {
  tenant: TenantRecord;
  /** Newest first, at most `RECENT_RUNS`. */
  runs: CrawlRun[];
  skips: SkipSummary;
  /** Empty when the tenant needs nothing from the operator. */
  attention: AttentionReason[];
}

export interface StatusSources {
  registry: Pick<TenantRegistry, 'list'>;
  runs: Pick<CrawlRunStore, 'recent'>;
  skips: Pick<CrawlSkipStore, 'list'>;
}

/** Tenants read at once: each costs two table queries, and an operator may have hundreds. */
const READS_AT_ONCE = 8;

/**
 * Every tenant with its recent runs and skips, those needing attention first (in `ATTENTION` order), then the
 * rest, offboarded tenants last; by name within each group.
 */
export async function readTenantStatuses(sources: StatusSources): Promise<TenantStatus[]> {
  const limit = pLimit(READS_AT_ONCE);
  const tenants = await sources.registry.list();
  const statuses = await Promise.all(
    tenants.map((tenant) =>
      limit(async () => {
        const [runs, skips] = await Promise.all([
          sources.runs.recent(tenant.tenantId, RECENT_RUNS),
          sources.skips.list(tenant.tenantId),
        ]);
        const summary = summariseSkips(skips.values());
        return { tenant, runs, skips: summary, attention: attentionOf(tenant, runs) };
      }),
    ),
  );
  return statuses.sort(
    (a, b) => rank(a) - rank(b) || tenantName(a.tenant).localeCompare(tenantName(b.tenant), 'en'),
  );
}

/** The name the page shows: the organization's domain when it named one, its tenant ID otherwise. */
export function tenantName(tenant: Pick<TenantRecord, 'tenantId' | 'domain'>): string {
  return tenant.domain ?? tenant.tenantId;
}

/** The newest run that ended, if any (a running one has partial counters). */
export function lastFinishedRun(runs: readonly CrawlRun[]): CrawlRun | undefined {
  return runs.find((run) => run.status !== 'running');
}

/** How long a run took, or has been running so far. */
export function runDurationMs(run: CrawlRun, now: Date): number {
  const end = run.finishedAt ? Date.parse(run.finishedAt) : now.getTime();
  return Math.max(0, end - Date.parse(run.startedAt));
}

function attentionOf(tenant: TenantRecord, runs: readonly CrawlRun[]): AttentionReason[] {
  if (tenant.status === 'offboarded') return [];
  const reasons: AttentionReason[] = [];
  if (tenant.status === 'error') reasons.push('status_error');
  if (tenant.status === 'consent_incomplete') reasons.push('consent_incomplete');
  if (lastFinishedRun(runs)?.status === 'failed') reasons.push('run_failed');
  // Successful runs only: a failed run's counters stop wherever it failed, so its skips say little. A first run
  // that skipped anyone counts as growing (from none).
  const [newest, before] = runs.filter((run) => run.status === 'succeeded');
  if (newest && newest.usersSkipped > (before?.usersSkipped ?? 0)) reasons.push('skips_growing');
  return reasons;
}

function rank(status: TenantStatus): number {
  const first = status.attention[0];
  if (first !== undefined) return ATTENTION.indexOf(first);
  return status.tenant.status === 'offboarded' ? ATTENTION.length + 1 : ATTENTION.length;
}

function summariseSkips(skips: Iterable<{ reason: SkipReason; firstSkippedAt: string }>): SkipSummary {
  const summary: SkipSummary = { count: 0, byReason: {}, since: undefined };
  for (const skip of skips) {
    summary.count += 1;
    summary.byReason[skip.reason] = (summary.byReason[skip.reason] ?? 0) + 1;
    if (skip.firstSkippedAt && (!summary.since || skip.firstSkippedAt < summary.since)) {
      summary.since = skip.firstSkippedAt;
    }
  }
  return summary;
}
