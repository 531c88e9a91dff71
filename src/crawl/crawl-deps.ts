import type { TenantGraph } from '../graph/tenant-graph';
import type { Logger } from '../logging/logger';
import type { AppCredential } from '../identity/app-credential';
import type { TenantRegistry } from '../tenants/tenant-registry';
import type { CrawlMetrics } from '../telemetry/crawl-metrics';
import type { CrawlRunStore } from './crawl-runs';
import type { CrawlSkipStore } from './crawl-skips';
import type { CrawlScope, DriveCursorStore } from './drive-cursors';
import type { DriveItemWriter } from './drive-item-store';
import type { TenantCrawlMessage, UserBatchMessage } from './messages';
import type { RunPlans } from './run-plans';
import type { RunProgress } from './run-progress';

/** What the crawl capabilities need; the queue path and the inline crawl differ only in the two `enqueue`s. */
export interface CrawlDeps {
  registry: TenantRegistry;
  runs: CrawlRunStore;
  progress: RunProgress;
  /** The batches each run's users listing planned. */
  plans: RunPlans;
  items: DriveItemWriter;
  /** Each user's delta cursor (docs/delta.md). */
  cursors: DriveCursorStore;
  skips: CrawlSkipStore;
  /** The app registration's credential (its end date is checked before each crawl). */
  appCredential: AppCredential;
  /**
   * Graph access for a tenant. Directory calls (the users listing) and drive calls have separate budgets in
   * Graph, so each has its own pacer; the drive pacer starts from the tier of the licensed-user count.
   */
  graphFor(tenantId: string, budget: GraphBudget, signal?: AbortSignal): TenantGraph;
  /** Forgets a tenant's cached credential and token (after it was revoked, or to prove permissions afresh). */
  forgetTenant(tenantId: string): void;
  enqueueTenant(message: TenantCrawlMessage): Promise<void>;
  enqueueBatch(message: UserBatchMessage): Promise<void>;
  logger: Logger;
  /** Each run's counters and duration when it ends (docs/telemetry.md). */
  metrics: CrawlMetrics;
  now: () => Date;
  settings: CrawlSettings;
}

export type GraphBudget = { kind: 'directory' } | { kind: 'drives'; licensedUsers: number };

export interface CrawlSettings {
  /** What is kept of each OneDrive: the root's children, or every item (`CRAWL_SCOPE`, docs/delta.md). */
  crawlScope: CrawlScope;
  /** Users per queued batch: small enough that a batch ends well inside the Functions timeout. */
  usersPerBatch: number;
  /** Users reconciled at once inside a batch. */
  reconcileConcurrency: number;
  /** A run still `running` after this long is taken for crashed and marked `failed` by the next plan. */
  runTimeLimitMs: number;
  /** A batch gives up (and is retried by the queue) after this long, before the Functions timeout. */
  batchDeadlineMs: number;
  /**
   * A batch starts no new round of users after this long: it queues its remaining users as a continuation and ends
   * cleanly, so that waiting out throttling never runs into the deadline (well before `batchDeadlineMs`).
   */
  batchYieldMs: number;
  /** Warn when the app's secret or certificate ends within this many days. */
  credentialWarningDays: number;
  /** `$top` of the users listing (Graph allows 1 to 999). */
  userPageSize: number;
  /** `$top` of a drive root listing (Graph allows up to 1000). */
  childrenPageSize: number;
  /** Attempts per Graph request (throttled answers and transient failures) before the batch fails. */
  graphMaxAttempts: number;
  /** First pause before retrying a Graph 5xx or network failure. */
  graphBackoffMs: number;
  /** Give up on one Graph answer after this long. */
  graphTimeoutMs: number;
}

export const DEFAULT_CRAWL_SETTINGS: CrawlSettings = {
  crawlScope: 'root',
  usersPerBatch: 100,
  reconcileConcurrency: 8,
  runTimeLimitMs: 12 * 3600_000,
  batchDeadlineMs: 20 * 60_000,
  batchYieldMs: 12 * 60_000,
  credentialWarningDays: 30,
  userPageSize: 999,
  childrenPageSize: 1000,
  graphMaxAttempts: 8,
  graphBackoffMs: 500,
  graphTimeoutMs: 30_000,
};
