import { GraphError } from '../errors';
import type { CrawlDeps } from './crawl-deps';
import { finishRunIfComplete } from './finish-run';
import type { TenantCrawlMessage, UserBatchMessage } from './messages';
import { describeFailure } from './describe-failure';
import { settleTokenFailure } from './token-outcome';
import { newAttemptId } from './run-id';
import { TenantOffboarded, assertStillOnboarded } from './crawl-user-batch';

/** Times a listing starts over after its page token expired, before the attempt fails (and the queue retries). */
const MAX_LISTING_RESTARTS = 5;

/** Graph's `400` for a users listing whose `$skiptoken` has expired: the listing must start over. */
function isExpiredPageToken(error: unknown): boolean {
  return (
    error instanceof GraphError && error.status === 400 && error.graphCode === 'Directory_ExpiredPageToken'
  );
}

/**
 * The tenant worker: lists the tenant's licensed users page by page and queues them in batches. Memory stays at
 * one batch plus the IDs of the users planned. Batches are keyed by their users, not by their position in Graph's
 * order: each batch's users are written (`planBatch`) before it is queued, a user already planned is never planned
 * again, and a listing that starts over (an expired page token, or a retried message whose listing comes back in
 * another order) plans only the users it has not planned yet, after queueing again every batch planned before (an
 * attempt may have died between planning a batch and queueing it; a batch queued twice is counted once).
 */
export async function listTenantUsers(deps: CrawlDeps, message: TenantCrawlMessage): Promise<void> {
  const { tenantId, runId } = message;
  const run = await deps.runs.get(tenantId, runId);
  if (!run || run.status !== 'running') {
    deps.logger.info('tenant message for a finished run ignored', { tenantId, runId });
    return;
  }
  await deps.progress.start(tenantId, runId);

  const attempt = newAttemptId('listing', deps.now());
  const graph = deps.graphFor(tenantId, { kind: 'directory' });
  const planned = new Set<string>();
  // Batches read the cursors of these users only: most users have no OneDrive, hence no cursor to read.
  const withCursor = await deps.cursors.userIds(tenantId);
  let batch = 0;
  let licensedUsers = 0;
  let pending: UserBatchMessage['users'] = [];
  const send = async (): Promise<void> => {
    if (pending.length === 0) return;
    const next = { batch, licensedUsers, users: pending };
    await assertStillOnboarded(deps, tenantId);
    await deps.plans.planBatch(tenantId, runId, next);
    await deps.enqueueBatch({ kind: 'batch', tenantId, runId, ...next });
    batch += 1;
    pending = [];
  };

  try {
    for (const earlier of await deps.plans.plannedBatches(tenantId, runId)) {
      for (const user of earlier.users) planned.add(user.id);
      licensedUsers ||= earlier.licensedUsers;
      batch = Math.max(batch, earlier.batch + 1);
      await deps.enqueueBatch({ kind: 'batch', tenantId, runId, ...earlier });
    }
    for (let restarts = 0; ; restarts += 1) {
      try {
        for await (const page of graph.licensedUsers(deps.settings.userPageSize)) {
          // Batches carry the count so the drive pacer starts at the right license tier.
          if (page.total !== undefined && licensedUsers === 0) licensedUsers = page.total;
          for (const user of page.users) {
            if (planned.has(user.id)) continue;
            planned.add(user.id);
            pending.push({ id: user.id, upn: user.userPrincipalName ?? '', cursor: withCursor.has(user.id) });
            if (pending.length >= deps.settings.usersPerBatch) await send();
          }
        }
        break;
      } catch (error) {
        if (!isExpiredPageToken(error) || restarts >= MAX_LISTING_RESTARTS) throw error;
        deps.logger.warn('users listing starts over: its page token expired', { tenantId, runId, restarts });
      }
    }
    await send();
  } catch (error) {
    if (error instanceof TenantOffboarded) {
      deps.logger.info('users listing stopped: the tenant was offboarded', { tenantId, runId });
      return;
    }
    if (await settleTokenFailure(deps, error, tenantId, runId)) return;
    const reason = `The user listing failed: ${describeFailure(error)}`;
    await deps.progress
      .recordFailedAttempt(tenantId, runId, attempt, graph.counters, reason)
      .catch(() => undefined);
    throw error;
  }
  const usersSeen = planned.size;

  const work = { usersSeen, ...graph.counters };
  const summary = await deps.progress.recordPiece(tenantId, runId, { batches: batch }, work, attempt);
  deps.logger.info('tenant users listed', { tenantId, runId, usersSeen, batches: batch });
  await finishRunIfComplete(deps, tenantId, runId, summary);
}
