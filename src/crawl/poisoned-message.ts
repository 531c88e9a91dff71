import type { CrawlDeps } from './crawl-deps';
import { failRun } from './finish-run';
import type { TenantCrawlMessage, UserBatchMessage } from './messages';

/**
 * A message that failed every delivery (the host moved it to `<queue>-poison`): the run fails with the reason
 * of the last attempt, and the tenant stays crawlable (`error`) for the next run.
 */
export async function failPoisonedWork(
  deps: CrawlDeps,
  message: TenantCrawlMessage | UserBatchMessage,
): Promise<void> {
  const what = message.kind === 'batch' ? `Batch ${message.batch}` : 'The user listing';
  const prefix = message.kind === 'batch' ? String(message.batch).padStart(6, '0') : 'listing';
  const last = await deps.progress.lastFailure(message.tenantId, message.runId, prefix);
  const reason = last ?? `${what} failed on every delivery`;
  await failRun(deps, message.tenantId, message.runId, `${reason} (gave up after repeated failures)`);
}
