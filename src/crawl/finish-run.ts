import type { CrawlDeps } from './crawl-deps';
import type { RunCounters } from './crawl-runs';
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
  const ended = await deps.runs.finish(tenantId, runId, {
    status: 'succeeded',
    finishedAt,
    counters: countersOf(final),
  });
  if (ended) {
    await deps.registry.recordCrawlOutcome(tenantId, { status: 'active', at: finishedAt, runId });
    deps.logger.info('crawl run succeeded', { tenantId, runId, ...countersOf(final) });
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
  const finishedAt = deps.now();
  const ended = await deps.runs.finish(tenantId, runId, {
    status: 'failed',
    finishedAt,
    error: reason,
    counters: summary ? countersOf(summary) : undefined,
  });
  await deps.registry.recordCrawlOutcome(tenantId, {
    status: tenantStatus === 'unchanged' ? undefined : tenantStatus,
    at: finishedAt,
    error: reason,
    runId,
  });
  if (ended) deps.logger.warn('crawl run failed', { tenantId, runId, reason });
}

/** Publishes a running run's counters so far (for `GET /api/tenants` and progress). */
export async function publishProgress(deps: CrawlDeps, tenantId: string, runId: string, summary: RunSummary) {
  await deps.runs.updateCounters(tenantId, runId, countersOf(summary));
}
