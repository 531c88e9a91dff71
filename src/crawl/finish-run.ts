import { tierForLicensedUsers } from '../graph/budget-tiers';
import type { CrawlDeps } from './crawl-deps';
import type { RunCounters, RunTiming } from './crawl-runs';
import type { RunSummary } from './run-progress';

function countersOf(summary: RunSummary): RunCounters {
  return {
    usersSeen: summary.usersSeen,
    usersCrawled: summary.usersCrawled,
    usersWithoutDrive: summary.usersWithoutDrive,
    usersSkipped: summary.usersSkipped,
    itemsStored: summary.itemsStored,
    itemsDeleted: summary.itemsDeleted,
    itemsRead: summary.itemsRead,
    requests: summary.requests,
    throttled: summary.throttled,
    unitsSpent: summary.unitsSpent,
  };
}

/**
 * The run's time over the ideal (docs/graph-facts.md, "Resource units"): the ideal duration is its units spent at
 * the documented drive budget of the tenant's tier (by the licensed users it listed); a run that spent nothing
 * has none (0).
 */
export function runTiming(counters: RunCounters, startedAt: string, finishedAt: Date): RunTiming {
  const budgetPerMinute = tierForLicensedUsers(counters.usersSeen);
  const idealSeconds = counters.unitsSpent / (budgetPerMinute / 60);
  const seconds = (finishedAt.getTime() - Date.parse(startedAt)) / 1000;
  return { budgetPerMinute, timeOverIdeal: idealSeconds > 0 && seconds > 0 ? seconds / idealSeconds : 0 };
}

/**
 * Ends the run when its listing and every batch are recorded: removes the rows of users the run did not see,
 * publishes the final counters and marks the run and the tenant. Safe to call more than once.
 */
export async function finishRunIfComplete(
  deps: CrawlDeps,
  tenantId: string,
  runId: string,
  summary: RunSummary,
): Promise<boolean> {
  if (!summary.listingDone || summary.batchesDone < summary.batchesPlanned + summary.continuations)
    return false;
  const run = await deps.runs.get(tenantId, runId);
  if (!run || run.status !== 'running') return false;
  // Users skipped this run keep their rows (and their skip rows); everyone else the run did not see loses both.
  const skipped = await deps.skips.settleRun(tenantId, runId);
  // A user whose cursor this run saved was seen, even when its delta changed nothing (its index row keeps an older
  // run ID); a cursor no one saved belongs to a user the run did not see, or found without a drive.
  const seen = new Set(skipped);
  const stale: string[] = [];
  for (const [userId, savedBy] of await deps.cursors.runs(tenantId)) {
    if (savedBy === runId) seen.add(userId);
    else if (!skipped.has(userId)) stale.push(userId);
  }
  const itemsDeleted = await deps.items.sweepUsersNotSeen(tenantId, runId, seen);
  await deps.cursors.remove(tenantId, stale);
  const final = await deps.progress.recordFinish(tenantId, runId, { itemsDeleted });
  const finishedAt = deps.now();
  const counters = countersOf(final);
  const ended = await deps.runs.finish(tenantId, runId, {
    status: 'succeeded',
    finishedAt,
    counters,
    timing: runTiming(counters, run.startedAt, finishedAt),
  });
  if (ended) {
    await deps.registry.recordCrawlOutcome(tenantId, { status: 'active', at: finishedAt, runId });
    // Listing users proved User.Read.All, and a drive read proved Files.Read.All (docs/permissions.md).
    if (final.usersCrawled > 0) await deps.registry.recordPermissionsProven(tenantId, finishedAt);
    deps.logger.info('crawl run succeeded', { tenantId, runId, ...counters });
    recordRunEnded(deps, tenantId, 'succeeded', counters, run.startedAt, finishedAt);
  }
  return ended;
}

/** Marks the run failed with its reason; the tenant keeps being crawled unless `tenantStatus` says otherwise. */
export async function failRun(
  deps: CrawlDeps,
  tenantId: string,
  runId: string,
  reason: string,
  tenantStatus: 'error' | 'revoked' | 'consent_incomplete' | 'unchanged' = 'error',
): Promise<void> {
  const summary = await deps.progress.summary(tenantId, runId);
  const run = await deps.runs.get(tenantId, runId);
  const finishedAt = deps.now();
  const counters = summary ? countersOf(summary) : undefined;
  const ended = await deps.runs.finish(tenantId, runId, {
    status: 'failed',
    finishedAt,
    error: reason,
    counters,
    timing: counters && run ? runTiming(counters, run.startedAt, finishedAt) : undefined,
  });
  await deps.registry.recordCrawlOutcome(tenantId, {
    status: tenantStatus === 'unchanged' ? undefined : tenantStatus,
    at: finishedAt,
    error: reason,
    runId,
  });
  if (ended) deps.logger.warn('crawl run failed', { tenantId, runId, reason });
  // Without a summary the run keeps the counters it last published, which `run` holds.
  if (ended && run) recordRunEnded(deps, tenantId, 'failed', counters ?? run, run.startedAt, finishedAt);
}

/**
 * The ended run's final counters and duration as metrics (docs/telemetry.md), once: only the call that ended it
 * records them. Its tenant is the registry's, so its ID may be a dimension.
 */
function recordRunEnded(
  deps: CrawlDeps,
  tenantId: string,
  status: 'succeeded' | 'failed',
  counters: RunCounters,
  startedAt: string,
  finishedAt: Date,
): void {
  deps.metrics.recordRunEnded({
    tenantId,
    status,
    unitsSpent: counters.unitsSpent,
    throttled: counters.throttled,
    usersCrawled: counters.usersCrawled,
    usersSkipped: counters.usersSkipped,
    durationSeconds: (finishedAt.getTime() - Date.parse(startedAt)) / 1000,
  });
}

/** Publishes a running run's counters so far (for `GET /api/tenants` and progress). */
export async function publishProgress(deps: CrawlDeps, tenantId: string, runId: string, summary: RunSummary) {
  await deps.runs.updateCounters(tenantId, runId, countersOf(summary));
}
