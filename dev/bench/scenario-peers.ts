/**
 * The peers scenario: the product and the crawls a user would otherwise write, one after another on identical
 * copies of one tenant at the 3,750 units-a-minute tier, with every throttling rule Microsoft documents:
 *   - `sdkPool`: the Graph SDK's RetryHandler as shipped, its PageIterator and `p-limit(16)` (`peer-crawl.ts`);
 *   - `fixedRate`: a token bucket at the tier's documented budget, with a global pause until `Retry-After` on any
 *     `429` (`peer-crawl.ts`);
 *   - `sequential`: one user after another (`naive-crawl.ts`), stopped at a deadline and extrapolated.
 * Each contender's figures come from the simulator's counters for its own copy of the tenant.
 */
import type { RunningAzurite } from '../azurite';
import type { TenantInfo } from '../sim/types';
import type { ChartSeries } from './chart';
import { seriesOf } from './chart';
import type { ContenderFigures, ContenderName } from './contenders';
import { contenderFigures } from './contenders';
import type { Services } from './harness';
import { benchTenant, createTenant, crawlerEnv, runCrawler, say, withAzurite } from './harness';
import type { ItemsCheck } from './verify';
import {
  LATENCY_MS,
  WITHOUT_DRIVE_SHARE,
  checkDriveItems,
  firstCrawlUnitsPerUser,
  licensedToUsers,
  ourJob,
  runSpan,
  tenantSpec,
} from './kit';
import type { CrawlRunFigures } from './protocol';

export const PEERS_TIER = 3_750;
/** How many budget windows the product's crawl should last (the peers' last longer: 2 units a user). */
const PEER_WINDOWS = 4;
/**
 * Real ms each peer may crawl before it stops taking users and its figures are extrapolated: the sequential loop
 * would take some 20 minutes, and the SDK's pool can keep restarting its own holds for long.
 */
const DEADLINE_MS: Record<Exclude<ContenderName, 'product'>, number> = {
  sdkPool: 100_000,
  fixedRate: 180_000,
  sequential: 45_000,
};

export interface PeersFigures {
  tenant: TenantInfo;
  contenders: Partial<Record<ContenderName, ContenderFigures>>;
  series: ChartSeries[];
  budgetPerSecond: number;
  /** The product's crawl (its CPU and memory), for the report. */
  product: CrawlRunFigures;
  checks: ItemsCheck[];
}

const PEER_RUNS: Array<{ name: Exclude<ContenderName, 'product'>; mode: 'sdkPool' | 'fixedRate' | 'naive' }> =
  [
    { name: 'sdkPool', mode: 'sdkPool' },
    { name: 'fixedRate', mode: 'fixedRate' },
    { name: 'sequential', mode: 'naive' },
  ];

export async function scenarioPeers(services: Services): Promise<PeersFigures> {
  const licensed = Math.round(
    (PEER_WINDOWS * PEERS_TIER) / firstCrawlUnitsPerUser(WITHOUT_DRIVE_SHARE.budget),
  );
  const users = licensedToUsers(licensed);
  say(
    `Peers: ${users} users at the ${PEERS_TIER} tier, ${LATENCY_MS} ms latency: the product, ` +
      `${PEER_RUNS.map((run) => run.name).join(', ')}, one after another on identical copies`,
  );
  const copy = (index: number): Promise<TenantInfo> =>
    createTenant(
      services,
      tenantSpec(
        4_001,
        users,
        PEERS_TIER,
        LATENCY_MS,
        WITHOUT_DRIVE_SHARE.budget,
        `c0000000-0000-4000-8000-00000000000${index}`,
      ),
    );
  return withAzurite(async (azurite: RunningAzurite) => {
    const productTenant = await copy(1);
    say(
      `  each copy: ${productTenant.licensedUsers} licensed users, ${productTenant.licensedWithDrive} with a ` +
        `drive, ${productTenant.items} items`,
    );
    const contenders: Partial<Record<ContenderName, ContenderFigures>> = {};
    const series: ChartSeries[] = [];
    const product = await runCrawler(
      ourJob('peers product', services, azurite, [benchTenant(productTenant)]),
      services,
      azurite,
    );
    const productStats = await services.sim.throttleStats(productTenant.tenantId, services.clientId);
    contenders.product = contenderFigures({ stats: productStats, ...runSpan(product, 0) });
    series.push(seriesOf('product', productStats));
    say(`  product: ${contenders.product.wallSeconds.toFixed(1)} s`);
    const checks = [await checkDriveItems(azurite, services, [productTenant.tenantId])];

    for (const [index, peer] of PEER_RUNS.entries()) {
      const tenant = await copy(index + 2);
      const figures = await runCrawler(
        {
          mode: peer.mode,
          label: `peers ${peer.name}`,
          env: crawlerEnv(services, azurite),
          tenants: [benchTenant(tenant)],
          naive: {
            clientSecret: services.clientSecret,
            table: `Peer${peer.name[0]!.toUpperCase()}${peer.name.slice(1)}Items`,
            unitsPerSecond: productStats.unitsPerRealSecond,
            deadlineMs: DEADLINE_MS[peer.name],
          },
        },
        services,
        azurite,
      );
      const outcome = figures.result.naive?.[0];
      if (!outcome) throw new Error(`${peer.name}: the crawler process reported no outcome`);
      const stats = await services.sim.throttleStats(tenant.tenantId, services.clientId);
      contenders[peer.name] = contenderFigures({
        stats,
        ...runSpan(figures, 0),
        ...(outcome.stoppedAtDeadline
          ? { partial: { usersDone: outcome.users, usersTotal: outcome.usersTotal } }
          : {}),
      });
      series.push(seriesOf(peer.name, stats));
      const done = contenders[peer.name]!;
      say(
        `  ${peer.name}: ${done.wallSeconds.toFixed(1)} s${outcome.stoppedAtDeadline ? ' (extrapolated)' : ''}, ` +
          `time over ideal ${done.timeOverIdeal.toFixed(2)}, throttled ${stats.throttled}`,
      );
    }
    return {
      tenant: productTenant,
      contenders,
      series,
      budgetPerSecond: productStats.unitsPerRealSecond,
      product,
      checks,
    };
  });
}
