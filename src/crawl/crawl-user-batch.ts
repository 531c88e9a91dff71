import type { CrawlDeps } from './crawl-deps';
import { finishRunIfComplete, publishProgress } from './finish-run';
import type { UserBatchMessage } from './messages';
import type { WorkCounters } from './run-progress';
import { ZERO_WORK, addWork } from './run-progress';
import { settleTokenFailure } from './token-outcome';
import { describeFailure } from './describe-failure';
import { newAttemptId } from './run-id';
import type { GraphCounters, GraphDriveItem } from '../graph/graph-types';

/** Users whose first pages travel in one `$batch` round trip (Graph's limit). */
const GRAPH_BATCH = 20;
/**
 * Users with items reconciled together: their index rows go in one transaction, so listings are gathered over
 * several round trips (most users of a round trip may have nothing to store) while memory stays bounded.
 */
const RECONCILE_USERS = 20;

/**
 * The batch worker: lists every page of each user's drive root (first pages through `$batch`), reconciles each
 * user's `DriveItems` partition, then records the batch's counters once and ends the run if it was the last.
 * Any failure throws, so the queue retries the whole batch; reconciling again converges to the same rows.
 */
export async function crawlUserBatch(deps: CrawlDeps, message: UserBatchMessage): Promise<void> {
  const { tenantId, runId } = message;
  const run = await deps.runs.get(tenantId, runId);
  if (!run || run.status !== 'running') {
    deps.logger.info('batch for a finished run ignored', { tenantId, runId, batch: message.batch });
    return;
  }
  // Names this attempt's bookkeeping: its Graph requests count once whichever attempt records the batch.
  const attempt = newAttemptId(String(message.batch).padStart(6, '0'), deps.now());
  const deadline = AbortSignal.timeout(deps.settings.batchDeadlineMs);
  const graph = deps.graphFor(tenantId, { kind: 'drives', licensedUsers: message.licensedUsers }, deadline);
  const work: WorkCounters = { ...ZERO_WORK };

  // Only users with items wait here: one with none has nothing to write (the run's sweep takes any rows it had).
  type Entry = { user: UserBatchMessage['users'][number]; items: GraphDriveItem[] };
  let pending: Entry[] = [];
  const reconcile = async (): Promise<void> => {
    const entries = pending;
    pending = [];
    if (entries.length === 0) return;
    addWork(
      work,
      await deps.items.reconcileUsers(tenantId, entries, runId, deps.settings.reconcileConcurrency),
    );
  };

  try {
    for (let start = 0; start < message.users.length; start += GRAPH_BATCH) {
      const users = message.users.slice(start, start + GRAPH_BATCH);
      const listings = await graph.rootChildrenOfMany(
        users.map((user) => user.id),
        deps.settings.childrenPageSize,
      );
      for (const user of users) {
        const listing = listings.get(user.id) ?? { kind: 'noDrive' as const };
        addWork(work, {
          usersCrawled: listing.kind === 'items' ? 1 : 0,
          usersWithoutDrive: listing.kind === 'noDrive' ? 1 : 0,
        });
        if (listing.kind === 'items' && listing.items.length > 0)
          pending.push({ user, items: listing.items });
      }
      if (pending.length >= RECONCILE_USERS) await reconcile();
    }
    await reconcile();
  } catch (error) {
    if (await settleTokenFailure(deps, error, tenantId, runId)) return;
    await recordFailure(deps, message, attempt, graph.counters, error);
    throw error;
  }

  addWork(work, {
    requests: graph.counters.requests,
    throttled: graph.counters.throttled,
    roundTrips: graph.counters.roundTrips,
  });
  const summary = await deps.progress.recordBatch(tenantId, runId, message.batch, work, attempt);
  if (!(await finishRunIfComplete(deps, tenantId, runId, summary))) {
    await publishProgress(deps, tenantId, runId, summary);
  }
}

async function recordFailure(
  deps: CrawlDeps,
  message: UserBatchMessage,
  attempt: string,
  counters: GraphCounters,
  error: unknown,
): Promise<void> {
  const reason = `Batch ${message.batch} failed: ${describeFailure(error)}`;
  try {
    await deps.progress.recordFailedAttempt(message.tenantId, message.runId, attempt, counters, reason);
  } catch {
    // Storage may be what failed: the queue retries the batch either way, and RunProgress keeps this attempt's
    // counters to record with the run's next write.
  }
  deps.logger.warn('batch attempt failed', {
    tenantId: message.tenantId,
    runId: message.runId,
    batch: message.batch,
    reason,
  });
}
