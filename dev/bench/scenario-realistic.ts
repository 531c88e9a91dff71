/**
 * The realistic tenant: 90% of licensed users with a OneDrive, root sizes log-normal around a median of 30 items
 * (80% under 100, about 1% past 1,000 and up to 5,000), so children paging, transactions split at 100 entities and
 * large users all run. Two parts:
 *   - `realistic`: at the 1,250 units-a-minute tier and time scale 1 (real minutes, where Azurite keeps up), with
 *     200 ms of latency: utilisation, exactness, entities per transaction over all tables, entities per second
 *     needed and delivered, and what the higher tiers would need;
 *   - `cpu`: the same composition with a budget no crawl reaches, three times, each in a fresh Azurite: the crawler's
 *     CPU per stored item (the median), and what Azurite delivers here when it alone sets the pace.
 */
import type { TenantInfo, TenantSpec } from '../sim/types';
import type { ContenderFigures } from './contenders';
import { contenderFigures } from './contenders';
import type { Services } from './harness';
import { benchTenant, createTenant, runCrawler, say, withAzurite } from './harness';
import {
  HUGE_BUDGET,
  LATENCY_MS,
  checkDriveItems,
  firstCrawlUnitsPerUser,
  licensedToUsers,
  ourJob,
  ratio,
  runSpan,
  tenantSpec,
} from './kit';
import type { CrawlRunFigures } from './protocol';
import type { ItemsCheck } from './verify';

export const REALISTIC_TIER = 1_250;
/** The time scale of the realistic crawl: real minutes. */
export const REALISTIC_TIME_SCALE = 1;
const REALISTIC_WINDOWS = 4;
const WITHOUT_DRIVE = 0.1;
const ROOT_SIZES = { logNormal: { median: 30, sigma: 1.5, max: 5_000 } } as const;
/** Tiers whose storage needs are extrapolated from the realistic crawl's entities per unit. */
const HIGHER_TIERS = [3_750, 6_250] as const;
const CPU_USERS = 600;
const CPU_RUNS = 3;

function realisticSpec(seed: number, users: number, budget: number, latencyMs: number): TenantSpec {
  return {
    ...tenantSpec(seed, users, budget, latencyMs, WITHOUT_DRIVE),
    itemsPerUser: { logNormal: { ...ROOT_SIZES.logNormal } },
  };
}

export interface RealisticFigures {
  tier: number;
  timeScale: number;
  tenant: TenantInfo;
  rootSizes: { median: number; under100: number; past1000: number; largest: number };
  contenders: { product: ContenderFigures };
  itemsStored: number;
  /** Entities over transactions, all tables (items, index, cursors, bookkeeping). */
  entitiesPerTransactionAll: number;
  /** Entities a second the crawl needed to keep pace with the budget (its entities over its ideal time). */
  entitiesPerSecondNeeded: number;
  /** Entities a second it wrote (its entities over its duration). */
  entitiesPerSecondDelivered: number;
  /** The crawler's CPU over the items it stored, µs (this run, not the median of `cpu`). */
  cpuMicrosPerItem: number;
  /** At the higher tiers, entities a second the same tenant would need (time scale 1). */
  higherTiersNeed: Record<string, number>;
  check: ItemsCheck;
  crawl: CrawlRunFigures;
}

export async function scenarioRealistic(services: Services): Promise<RealisticFigures> {
  const licensed = Math.round(
    (REALISTIC_WINDOWS * REALISTIC_TIER) / firstCrawlUnitsPerUser(WITHOUT_DRIVE, 1.02),
  );
  const users = licensedToUsers(licensed);
  say(
    `Realistic: ${users} users at the ${REALISTIC_TIER} tier, time scale ${REALISTIC_TIME_SCALE}, ` +
      `${(1 - WITHOUT_DRIVE) * 100}% with a drive, log-normal root sizes`,
  );
  return withAzurite(async (azurite) => {
    const tenant = await createTenant(services, realisticSpec(6_001, users, REALISTIC_TIER, LATENCY_MS));
    const sizes = Object.values(await services.sim.drives(tenant.tenantId))
      .map((items) => items.length)
      .sort((a, b) => a - b);
    const rootSizes = {
      median: sizes[Math.floor(sizes.length / 2)] ?? 0,
      under100: ratio(sizes.filter((n) => n < 100).length, sizes.length),
      past1000: sizes.filter((n) => n > 1_000).length,
      largest: sizes[sizes.length - 1] ?? 0,
    };
    say(
      `  ${tenant.licensedUsers} licensed, ${tenant.licensedWithDrive} with a drive, ${tenant.items} items; roots: ` +
        `median ${rootSizes.median}, ${(rootSizes.under100 * 100).toFixed(0)}% under 100, ` +
        `${rootSizes.past1000} past 1,000, largest ${rootSizes.largest}`,
    );
    const crawl = await runCrawler(
      ourJob('realistic', services, azurite, [benchTenant(tenant)]),
      services,
      azurite,
    );
    const stats = await services.sim.throttleStats(tenant.tenantId, services.clientId);
    const product = contenderFigures({ stats, ...runSpan(crawl, 0) });
    const itemsStored = crawl.result.tenants[0]?.run?.itemsStored ?? 0;
    const entities = crawl.result.allTransactionEntities;
    const idealSeconds = ratio(stats.unitsSpent - stats.unitsOnThrottled, stats.unitsPerRealSecond);
    const entitiesPerUnit = ratio(entities, stats.unitsSpent - stats.unitsOnThrottled);
    const check = await checkDriveItems(azurite, services, [tenant.tenantId]);
    const figures: RealisticFigures = {
      tier: REALISTIC_TIER,
      timeScale: REALISTIC_TIME_SCALE,
      tenant,
      rootSizes,
      contenders: { product },
      itemsStored,
      entitiesPerTransactionAll: ratio(entities, crawl.result.allTransactions),
      entitiesPerSecondNeeded: ratio(entities, idealSeconds),
      entitiesPerSecondDelivered: ratio(entities, product.wallSeconds),
      cpuMicrosPerItem: ratio(crawl.result.crawlCpuMicros, itemsStored),
      higherTiersNeed: Object.fromEntries(
        HIGHER_TIERS.map((tier) => [String(tier), (entitiesPerUnit * tier) / 60]),
      ),
      check,
      crawl,
    };
    say(
      `  ${product.wallSeconds.toFixed(0)} s, utilisation ${product.budgetUtilisation.toFixed(3)}, ` +
        `${figures.entitiesPerTransactionAll.toFixed(1)} entities a transaction, ` +
        `${figures.entitiesPerSecondNeeded.toFixed(0)} entities/s needed, ` +
        `${figures.entitiesPerSecondDelivered.toFixed(0)} delivered`,
    );
    return figures;
  });
}

export interface CpuFigures {
  users: number;
  runs: Array<{ items: number; cpuMicrosPerItem: number; wallSeconds: number; entitiesPerSecond: number }>;
  /** The median run's CPU per item, µs, and the same scaled to the README's calibration. */
  cpuMicrosPerItem: number;
  /** Entities a second Azurite took when it alone set the pace (the median run). */
  azuriteEntitiesPerSecond: number;
  /** Each run's crawl, for its CPU and memory figures. */
  crawls: CrawlRunFigures[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export async function scenarioCpu(services: Services): Promise<CpuFigures> {
  say(`CPU: ${CPU_USERS} users of the realistic composition, no throttling, no latency, ${CPU_RUNS} runs`);
  const tenant = await createTenant(services, realisticSpec(7_001, CPU_USERS, HUGE_BUDGET, 0));
  const runs: CpuFigures['runs'] = [];
  const crawls: CrawlRunFigures[] = [];
  for (let run = 1; run <= CPU_RUNS; run++) {
    // A fresh Azurite each time: every run is a first crawl of the same tenant into empty tables.
    await withAzurite(async (azurite) => {
      const crawl = await runCrawler(
        ourJob(`cpu ${run}`, services, azurite, [benchTenant(tenant)]),
        services,
        azurite,
      );
      const items = crawl.result.tenants[0]?.run?.itemsStored ?? 0;
      const wallSeconds = crawl.result.wallMs / 1000;
      runs.push({
        items,
        cpuMicrosPerItem: ratio(crawl.result.crawlCpuMicros, items),
        wallSeconds,
        entitiesPerSecond: ratio(crawl.result.allTransactionEntities, wallSeconds),
      });
      crawls.push(crawl);
      say(
        `  run ${run}: ${items} items in ${wallSeconds.toFixed(1)} s, ` +
          `${runs[runs.length - 1]!.cpuMicrosPerItem.toFixed(1)} µs CPU an item`,
      );
    });
  }
  return {
    users: CPU_USERS,
    runs,
    cpuMicrosPerItem: median(runs.map((r) => r.cpuMicrosPerItem)),
    azuriteEntitiesPerSecond: median(runs.map((r) => r.entitiesPerSecond)),
    crawls,
  };
}
