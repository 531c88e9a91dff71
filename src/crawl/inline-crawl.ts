import pLimit from 'p-limit';
import type { GraphCounters } from '../graph/graph-types';
import type { TenantRecord } from '../tenants/tenant-registry';
import type { CrawlDeps } from './crawl-deps';
import { crawlUserBatch } from './crawl-user-batch';
import type { CrawlRun } from './crawl-runs';
import type { DriveItemWriter } from './drive-item-store';
import { failRun } from './finish-run';
import { listTenantUsers } from './list-tenant-users';
import type { UserBatchMessage } from './messages';
import { checkAppCredential, failStaleRuns, openRun } from './plan-crawl';
import { failPoisonedWork } from './poisoned-message';

/** User batches of one tenant that may wait for a slot before its user listing pauses. */
const BATCH_BACKLOG = 2;

export interface InlineCrawlOptions {
  /** Only these tenants (already checked to exist); default every crawlable tenant. */
  tenants: TenantRecord[];
  /** Read every drive from scratch, following no delta cursor (`--full`). */
  full?: boolean;
  /**
   * Batches worked on at once per tenant (default 8; its pacer keeps it under its budget). Per tenant, so that
   * the batches of a tenant with a small budget, waiting on its pacer, never hold the slots of a tenant with a
   * large one; few, because each holds its users' listings until they are stored.
   */
  batchConcurrency?: number;
  /** Tenants listed at once. */
  tenantConcurrency?: number;
  /** Attempts per piece of work, like the queue's `maxDequeueCount`. */
  maxAttempts?: number;
  onProgress?: (progress: InlineProgress) => void;
  progressIntervalMs?: number;
}

/** Live figures of an inline crawl, for the progress line on stderr. */
export interface InlineProgress {
  tenantsTotal: number;
  tenantsDone: number;
  usersDone: number;
  itemsStored: number;
  requests: number;
  throttled: number;
  elapsedMs: number;
}

export interface InlineTenantResult {
  tenantId: string;
  run: CrawlRun | undefined;
  /** The tenant's status after the run. */
  status: string;
}

/**
 * `npm run crawl`: the same capabilities as the queue path (plan, list, batches, finish), with the queues
 * replaced by an in-process pool. A run of the tenant left `running` by a crawl that was killed is failed and
 * superseded, so running the command again resumes from a clean run.
 */
export async function crawlInline(
  deps: CrawlDeps,
  options: InlineCrawlOptions,
): Promise<InlineTenantResult[]> {
  const started = Date.now();
  const maxAttempts = options.maxAttempts ?? 5;
  const tenantPool = pLimit(options.tenantConcurrency ?? 8);
  const graphCounters: GraphCounters[] = [];
  const progress: InlineProgress = {
    tenantsTotal: options.tenants.length,
    tenantsDone: 0,
    usersDone: 0,
    itemsStored: 0,
    requests: 0,
    throttled: 0,
    elapsedMs: 0,
  };
  const items: DriveItemWriter = {
    reconcileUsers: async (tenantId, users, runId, concurrency) => {
      const result = await deps.items.reconcileUsers(tenantId, users, runId, concurrency);
      progress.usersDone += users.length;
      progress.itemsStored += result.itemsStored;
      return result;
    },
    beginUser: async (tenantId, user, runId) => {
      const rewrite = await deps.items.beginUser(tenantId, user, runId);
      return {
        write: (rows) => rewrite.write(rows),
        finish: async () => {
          const result = await rewrite.finish();
          progress.usersDone += 1;
          progress.itemsStored += result.itemsStored;
          return result;
        },
      };
    },
    sweepUsersNotSeen: (tenantId, runId, keep) => deps.items.sweepUsersNotSeen(tenantId, runId, keep),
    descendantsOf: (tenantId, userId, ids) => deps.items.descendantsOf(tenantId, userId, ids),
  };
  const report = (): void => {
    progress.requests = graphCounters.reduce((sum, c) => sum + c.requests, 0);
    progress.throttled = graphCounters.reduce((sum, c) => sum + c.throttled, 0);
    progress.elapsedMs = Date.now() - started;
    options.onProgress?.({ ...progress });
  };
  const ticker = options.onProgress ? setInterval(report, options.progressIntervalMs ?? 1_000) : undefined;

  const withRetries = async (work: () => Promise<void>, onGiveUp: () => Promise<void>): Promise<void> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await work();
        return;
      } catch (error) {
        if (attempt >= maxAttempts) {
          deps.logger.error('inline work gave up', { attempts: attempt, error: (error as Error).name });
          await onGiveUp();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 5_000)));
      }
    }
  };

  await checkAppCredential(deps);
  await failStaleRuns(deps);

  try {
    const results = await Promise.all(
      options.tenants.map((tenant) =>
        tenantPool(async (): Promise<InlineTenantResult> => {
          const batchPool = pLimit(options.batchConcurrency ?? 8);
          const tenantId = tenant.tenantId;
          const batches: Promise<void>[] = [];
          let awaited = 0;
          const tenantDeps: CrawlDeps = {
            ...deps,
            items,
            graphFor: (id, budget, signal) => {
              const graph = deps.graphFor(id, budget, signal);
              graphCounters.push(graph.counters);
              return graph;
            },
            enqueueTenant: () => Promise.resolve(),
            enqueueBatch: async (message: UserBatchMessage) => {
              batches.push(
                batchPool(() =>
                  withRetries(
                    () => crawlUserBatch(tenantDeps, message),
                    () => failPoisonedWork(tenantDeps, message),
                  ),
                ),
              );
              // Backpressure: listing users is far faster than crawling their drives, so it pauses while a few
              // batches already wait for a slot. Memory then stays bounded by the concurrency, not the tenant's size.
              while (batchPool.pendingCount > BATCH_BACKLOG) await batches[awaited++];
            },
          };
          const previous = await deps.runs.latest(tenantId);
          if (previous?.status === 'running') {
            await failRun(
              deps,
              tenantId,
              previous.runId,
              'Interrupted; superseded by a new inline crawl',
              'unchanged',
            );
          }
          const runId = await openRun(deps, tenant, { full: options.full });
          const message = { kind: 'tenant' as const, tenantId, runId };
          await withRetries(
            () => listTenantUsers(tenantDeps, message),
            () => failPoisonedWork(tenantDeps, message),
          );
          await Promise.all(batches);
          progress.tenantsDone += 1;
          const run = await deps.runs.get(tenantId, runId);
          const after = await deps.registry.get(tenantId);
          return { tenantId, run, status: after?.status ?? tenant.status };
        }),
      ),
    );
    report();
    return results;
  } finally {
    if (ticker) clearInterval(ticker);
  }
}
