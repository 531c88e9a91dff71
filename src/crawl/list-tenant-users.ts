import type { CrawlDeps } from './crawl-deps';
import { finishRunIfComplete } from './finish-run';
import type { TenantCrawlMessage, UserBatchMessage } from './messages';
import { describeFailure } from './describe-failure';
import { settleTokenFailure } from './token-outcome';
import { newAttemptId } from './run-id';

/**
 * The tenant worker: lists the tenant's licensed users page by page and queues them in batches. Memory stays at
 * one batch whatever the tenant's size. A retried message lists again and re-sends the same batch numbers,
 * which the batch bookkeeping counts once.
 */
export async function listTenantUsers(deps: CrawlDeps, message: TenantCrawlMessage): Promise<void> {
  const { tenantId, runId } = message;
  const run = await deps.runs.get(tenantId, runId);
  if (!run || run.status !== 'running') {
    deps.logger.info('tenant message for a finished run ignored', { tenantId, runId });
    return;
  }
  await deps.progress.start(tenantId, runId);

  let licensedUsers = 0;
  const attempt = newAttemptId('listing', deps.now());
  const graph = deps.graphFor(tenantId, { kind: 'directory' });
  let batch = 0;
  let usersSeen = 0;
  let pending: UserBatchMessage['users'] = [];
  const send = async (): Promise<void> => {
    if (pending.length === 0) return;
    await deps.enqueueBatch({ kind: 'batch', tenantId, runId, batch, licensedUsers, users: pending });
    batch += 1;
    pending = [];
  };

  try {
    for await (const page of graph.licensedUsers(deps.settings.userPageSize)) {
      // Batches carry the count so the drive pacer starts at the right license tier.
      if (page.total !== undefined && licensedUsers === 0) licensedUsers = page.total;
      for (const user of page.users) {
        usersSeen += 1;
        pending.push({ id: user.id, upn: user.userPrincipalName ?? '' });
        if (pending.length >= deps.settings.usersPerBatch) await send();
      }
    }
    await send();
  } catch (error) {
    if (await settleTokenFailure(deps, error, tenantId, runId)) return;
    const reason = `The user listing failed: ${describeFailure(error)}`;
    await deps.progress
      .recordFailedAttempt(tenantId, runId, attempt, graph.counters, reason)
      .catch(() => undefined);
    throw error;
  }

  const summary = await deps.progress.recordListing(
    tenantId,
    runId,
    batch,
    {
      usersSeen,
      requests: graph.counters.requests,
      throttled: graph.counters.throttled,
      roundTrips: graph.counters.roundTrips,
    },
    attempt,
  );
  deps.logger.info('tenant users listed', { tenantId, runId, usersSeen, batches: batch });
  await finishRunIfComplete(deps, tenantId, runId, summary);
}
