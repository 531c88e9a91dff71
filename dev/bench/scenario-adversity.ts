/**
 * The adversity scenario: weather worse than the documented rules alone, at the 3,750 units-a-minute tier:
 *   - another workload of the same app spends 30% of every minute's budget (`ThrottleRules.sameAppOtherShare`);
 *   - the budget is halved part-way through the crawl (`setThrottle`, the window's spending kept);
 *   - no answer carries `RateLimit-*` headers, so only `429`s and `Retry-After` tell a crawler where the budget is.
 * The product runs, then the `fixedRate` peer (which knows the tier's documented budget, not the weather) on an
 * identical copy. Budget utilisation is over what the budget offered the crawl: the tier's rate, halved from the cut
 * on, less what the other workload got (the simulator counts it).
 */
import type { RunningAzurite } from '../azurite';
import type { TenantInfo } from '../sim/types';
import type { ChartSeries } from './chart';
import { seriesOf } from './chart';
import type { ContenderFigures, ContenderName } from './contenders';
import { contenderFigures } from './contenders';
import type { Services } from './harness';
import { benchTenant, createTenant, crawlerEnv, runCrawler, say, withAzurite } from './harness';
import {
  LATENCY_MS,
  WITHOUT_DRIVE_SHARE,
  checkDriveItems,
  currentThrottleRules,
  firstCrawlUnitsPerUser,
  licensedToUsers,
  ourJob,
  runSpan,
  tenantSpec,
} from './kit';
import type { CrawlRunFigures, CrawlerJob } from './protocol';
import type { ItemsCheck } from './verify';

const TIER = 3_750;
const OTHER_WORKLOAD_SHARE = 0.3;
/**
 * Budget windows (at the full tier) after the crawl's start when the budget is halved. Two: the product spends whole
 * wall-clock windows early and ended before a cut after three (39 to 43 s), so it never met the cut.
 */
const HALVE_AFTER_WINDOWS = 2;
/** Windows the product's crawl should last, at the budget left to it. */
const WINDOWS = 6;

export interface AdversityFigures {
  tier: number;
  tenant: TenantInfo;
  contenders: Partial<Record<ContenderName, ContenderFigures>>;
  series: ChartSeries[];
  budgetPerSecond: number;
  halvedAfterSeconds: number;
  product: CrawlRunFigures;
  check: ItemsCheck;
}

export async function scenarioAdversity(services: Services, scale: number): Promise<AdversityFigures> {
  const windowMs = 60_000 / scale;
  const halveAfterMs = HALVE_AFTER_WINDOWS * windowMs;
  // Units left to the crawl over WINDOWS windows: 70% of the budget, half of that after the cut.
  const unitsLeft =
    TIER * (1 - OTHER_WORKLOAD_SHARE) * (HALVE_AFTER_WINDOWS + (WINDOWS - HALVE_AFTER_WINDOWS) / 2);
  const users = licensedToUsers(Math.round(unitsLeft / firstCrawlUnitsPerUser(WITHOUT_DRIVE_SHARE.budget)));
  say(
    `Adversity: ${users} users at the ${TIER} tier, another workload of the app spending ` +
      `${OTHER_WORKLOAD_SHARE * 100}%, the budget halved after ${HALVE_AFTER_WINDOWS} windows, no RateLimit headers`,
  );
  const rules = {
    ...currentThrottleRules(),
    rateLimitHeadersMissing: 1,
    sameAppOtherShare: OTHER_WORKLOAD_SHARE,
  };
  const copy = (index: number): Promise<TenantInfo> =>
    createTenant(services, {
      ...tenantSpec(
        5_001,
        users,
        TIER,
        LATENCY_MS,
        WITHOUT_DRIVE_SHARE.budget,
        `d0000000-0000-4000-8000-00000000000${index}`,
      ),
      throttleRules: rules,
    });

  return withAzurite(async (azurite: RunningAzurite) => {
    const contenders: Partial<Record<ContenderName, ContenderFigures>> = {};
    const series: ChartSeries[] = [];
    /** Runs one contender on its copy, halving the budget on time; its figures over what the budget offered. */
    const contend = async (
      name: ContenderName,
      tenant: TenantInfo,
      job: CrawlerJob,
    ): Promise<CrawlRunFigures> => {
      let halvedAt: number | undefined;
      let timer: NodeJS.Timeout | undefined;
      const figures = await runCrawler(job, services, azurite, {
        onStart: () => {
          timer = setTimeout(() => {
            halvedAt = Date.now();
            void services.sim.setThrottle(tenant.tenantId, { budgetPerWindow: TIER / 2 });
          }, halveAfterMs);
        },
      });
      clearTimeout(timer);
      const stats = await services.sim.throttleStats(tenant.tenantId, services.clientId);
      // The product's run row, or a peer's crawl (it keeps no row).
      const span = runSpan(figures, 0);
      // What the budget offered over the run (the tier's rate, halved from the cut on), less what the other
      // workload got of it (the simulator's count).
      const fullRate = (TIER / 60) * scale;
      const cut = Math.min(halvedAt ?? span.finishedAt, span.finishedAt);
      const budgetUnits =
        (fullRate * Math.max(0, cut - span.startedAt) + (fullRate / 2) * Math.max(0, span.finishedAt - cut)) /
          1000 -
        stats.otherWorkloadUnits;
      contenders[name] = contenderFigures({ stats, ...span, budgetUnits });
      series.push(seriesOf(name, stats));
      const done = contenders[name];
      say(
        `  ${name}: ${done.wallSeconds.toFixed(1)} s, utilisation ${done.budgetUtilisation.toFixed(3)}, ` +
          `time over ideal ${done.timeOverIdeal.toFixed(2)}, throttled ${stats.throttled}, violations ${stats.violations}`,
      );
      return figures;
    };

    const productTenant = await copy(1);
    const product = await contend(
      'product',
      productTenant,
      ourJob('adversity product', services, azurite, [benchTenant(productTenant)]),
    );
    const check = await checkDriveItems(azurite, services, [productTenant.tenantId]);
    const peerTenant = await copy(2);
    await contend('fixedRate', peerTenant, {
      mode: 'fixedRate',
      label: 'adversity fixedRate',
      env: crawlerEnv(services, azurite),
      tenants: [benchTenant(peerTenant)],
      naive: {
        clientSecret: services.clientSecret,
        table: 'AdversityFixedRateItems',
        unitsPerSecond: (TIER / 60) * scale,
      },
    });
    return {
      tier: TIER,
      tenant: productTenant,
      contenders,
      series,
      budgetPerSecond: (TIER / 60) * scale * (1 - OTHER_WORKLOAD_SHARE),
      halvedAfterSeconds: halveAfterMs / 1000,
      product,
      check,
    };
  });
}
