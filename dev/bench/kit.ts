/**
 * What the benchmark's scenarios share: the fixed tenant composition, the product's crawl job, and how crawls are
 * checked and measured.
 */
import { TableClient } from '@azure/data-tables';
import type { CrawlSettings } from '../../src/crawl/crawl-deps';
import { TABLES } from '../../src/storage/storage-clients';
import type { RunningAzurite } from '../azurite';
import type { TenantSpec, ThrottleRules } from '../sim/types';
import { MICROSOFT_THROTTLING } from '../sim/types';
import type { Services } from './harness';
import { say } from './harness';
import type { BenchTenant, CrawlRunFigures, CrawlerJob } from './protocol';
import type { ItemsCheck } from './verify';
import { checkItemsExact } from './verify';

/** Real-world latency of a Graph round trip, simulated ms (divided by the time scale). */
export const LATENCY_MS = 200;
/** Root children of every licensed user who has a OneDrive. */
export const ITEMS_PER_USER = 60;
/**
 * Share of licensed users without a OneDrive (404: costs the same 2 units as a listing, stores nothing). Azurite
 * spends about 150-300 µs of CPU per stored entity on one thread, so at this time scale the budget scenarios (A, B)
 * can store only a few items per Graph unit and stay within what Azurite follows; scenario C, which measures the
 * crawler's CPU per item, stores twice as many per user (Azurite is its bottleneck by design).
 */
export const WITHOUT_DRIVE_SHARE = { budget: 0.95, memory: 0.9 } as const;
/**
 * Users per batch of the inline crawl (the product's default, 100, sizes a queue message for the Functions
 * timeout; inline, bigger batches mean fewer updates of the run's summary row, which all batches contend for).
 */
export const USERS_PER_BATCH = 500;

export const UNLICENSED_SHARE = 0.1;

/** A budget no crawl reaches (scenarios that measure CPU and memory, not pacing). */
export const HUGE_BUDGET = 100_000_000;

/** Units of one drive root listing (docs/graph-facts.md, "Throttling"). */
export const LISTING_UNITS = 2;

/**
 * The simulator's throttling rules for every benchmark tenant (`--rules`): by default all that Microsoft documents
 * (throttled requests charged, whole seconds, `RateLimit-*` sometimes missing, `Retry-After` shorter than the reset,
 * wall-clock windows, the tenant-wide and daily budgets); `--rules minute` keeps only the per-app minute budget.
 */
let throttleRules: ThrottleRules | undefined = MICROSOFT_THROTTLING;

export function setThrottleRules(rules: ThrottleRules | undefined): void {
  throttleRules = rules;
}

export function currentThrottleRules(): ThrottleRules | undefined {
  return throttleRules;
}

/** A tenant spec of the benchmark's fixed composition. */
export function tenantSpec(
  seed: number,
  users: number,
  budgetPerWindow: number,
  latencyMs: number,
  withoutDriveShare: number,
  id?: string,
): TenantSpec {
  return {
    seed,
    users,
    itemsPerUser: ITEMS_PER_USER,
    withoutDriveShare,
    unlicensedShare: UNLICENSED_SHARE,
    budgetPerWindow,
    windowSeconds: 60,
    latencyMs,
    ...(throttleRules ? { throttleRules } : {}),
    ...(id === undefined ? {} : { tenantId: id, domain: `bench-${seed}-${id.slice(-4)}.onmicrosoft.test` }),
  };
}

export function ourJob(
  label: string,
  services: Services,
  azurite: RunningAzurite,
  tenants: BenchTenant[],
  more: Partial<CrawlSettings> = {},
): CrawlerJob {
  const crawlSettings: Partial<CrawlSettings> = { usersPerBatch: USERS_PER_BATCH, ...more };
  return {
    mode: 'ours',
    label,
    env: { ...services.baseEnv, AzureWebJobsStorage: azurite.connectionString },
    tenants,
    crawlSettings,
  };
}

export function cpuFields(figures: CrawlRunFigures): Record<string, unknown> {
  return {
    wallSeconds: figures.result.wallMs / 1000,
    cpu: figures.cpu,
    crawlerMaxRssMiB: figures.result.maxRssKb / 1024,
    crawlerMemoryPeaksMiB: figures.result.memoryPeaksMiB,
    crawlerLiveHeapPeakMiB: figures.result.liveHeapPeakMiB,
    tableCalls: figures.result.tableCalls,
    leanTableCalls: figures.result.leanTableCalls,
    azuritePeakRssMiB: figures.azuritePeakRssKb === undefined ? undefined : figures.azuritePeakRssKb / 1024,
    azuriteLatency: figures.azuriteLatency,
  };
}

/** Reads `DriveItems` back, row by row against the simulator's drives, and says how it went. */
export async function checkDriveItems(
  azurite: RunningAzurite,
  services: Services,
  tenantIds: string[],
  options: { tenantsOnly?: boolean } = {},
): Promise<ItemsCheck> {
  say('  checking DriveItems against the simulator...');
  const check = await checkItemsExact(
    TableClient.fromConnectionString(azurite.connectionString, TABLES.driveItems, {
      allowInsecureConnection: true,
    }),
    services.sim,
    tenantIds,
    options,
  );
  say(`  itemsExact ${check.exact} (${check.rowsRead} rows read, ${check.itemsExpected} expected)`);
  return check;
}

export function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? numerator / denominator : 0;
}

/**
 * Graph units a first crawl spends on a licensed user (docs/delta.md, "What it costs"): a user without a
 * drive costs its root probe (1); a user with one, the probe, `token=latest` (1) and its children pages (2 each).
 */
export function firstCrawlUnitsPerUser(withoutDriveShare: number, pagesPerDrive = 1): number {
  return withoutDriveShare + (1 - withoutDriveShare) * (2 + LISTING_UNITS * pagesPerDrive);
}

/** Users to seed for this many licensed ones (a share of every seeded tenant is unlicensed). */
export function licensedToUsers(licensed: number): number {
  return Math.round(licensed / (1 - UNLICENSED_SHARE));
}

/**
 * When a tenant's run started and finished, from its `CrawlRuns` row (the product's own record), or the crawler
 * process's crawl if the row lacks them.
 */
export function runSpan(
  figures: CrawlRunFigures,
  tenantIndex: number,
): { startedAt: number; finishedAt: number } {
  const run = figures.result.tenants[tenantIndex]?.run;
  const startedAt = run?.startedAt ? Date.parse(run.startedAt) : figures.result.crawlStartedAt;
  const finishedAt = run?.finishedAt ? Date.parse(run.finishedAt) : figures.result.crawlEndedAt;
  return { startedAt, finishedAt };
}
