/**
 * `npm run bench [-- --json <file>] [-- --only <parts>]`: how well the crawl spends Microsoft Graph's budget, against
 * the simulated cloud with every throttling rule Microsoft documents, offline. Azurite, the simulator and each crawl
 * run in processes of their own so that CPU and memory are measured per part. Parts (`--only`, comma-separated):
 *   A          three tenants crawled at once, at the 1,250, 3,750 and 6,250 units-a-minute tiers, each crawl about 15
 *              budget windows long, 200 ms of latency: utilisation per tier, exactness, requests per round trip,
 *              entities per transaction, the CPU of every part;
 *   peers      the product against the crawls a user would write (`sdkPool`, `fixedRate`, `sequential`) at the 3,750
 *              tier, on identical tenants (`scenario-peers.ts`);
 *   adversity  another workload of the app spending 30%, the budget halved mid-crawl, no `RateLimit-*` headers
 *              (`scenario-adversity.ts`);
 *   realistic  90% of users with a OneDrive, log-normal root sizes, 1,250 tier at time scale 1
 *              (`scenario-realistic.ts`);
 *   cpu        the realistic composition without throttling, three times: the crawler's CPU per item (median);
 *   queue      the deployed path: the queue crawl through 3 local Functions hosts sharing one tenant
 *              (`queue-path.ts`);
 *   C          a 1,000-user and a 50,000-user tenant, no throttling: live heap growth and peak RSS;
 *   steady     incremental crawls after 1% of the items changed (`steady-state.ts`).
 * Everything is seeded and sized the same on every run. Progress goes to stderr, the table to stdout, the figures
 * to `--json`, and a chart of units per second per contender to `--chart` (default `bench-units.svg`).
 */
import { TableClient } from '@azure/data-tables';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { TenantInfo, ThrottleStats } from '../sim/types';
import { MICROSOFT_THROTTLING } from '../sim/types';
import { calibrationCpuMs, cpuTicks } from './calibration';
import type { ChartSeries } from './chart';
import { unitsChartSvg } from './chart';
import type { ContenderFigures } from './contenders';
import { bestPeer, contenderFigures } from './contenders';
import type { Services } from './harness';
import { benchTenant, createTenant, runCrawler, say, withAzurite, withServices } from './harness';
import {
  HUGE_BUDGET,
  LATENCY_MS,
  WITHOUT_DRIVE_SHARE,
  checkDriveItems,
  cpuFields,
  currentThrottleRules,
  firstCrawlUnitsPerUser,
  licensedToUsers,
  ourJob,
  ratio,
  runSpan,
  setThrottleRules,
  tenantSpec,
} from './kit';
import type { CpuFigure } from './proc-stat';
import type { CrawlRunFigures } from './protocol';
import { scenarioQueue } from './queue-path';
import type { BenchFigures, MachineInfo } from './report';
import { REFERENCE_CALIBRATION_MS, formatTable, targetsMet } from './report';
import { scenarioAdversity } from './scenario-adversity';
import { PEERS_TIER, scenarioPeers } from './scenario-peers';
import { REALISTIC_TIME_SCALE, scenarioCpu, scenarioRealistic } from './scenario-realistic';
import type { SteadyFigures } from './steady-state';
import { scenarioSteady } from './steady-state';
import { utilisation } from './utilisation';
import type { ItemsCheck } from './verify';

/** Simulated seconds per real second, for budgets and latency alike. */
const DEFAULT_TIME_SCALE = 4;
/** Scenario A: the tiers, and how many budget windows each tenant's crawl should last. */
const TIERS = [1_250, 3_750, 6_250] as const;
const WINDOWS_PER_CRAWL = 15;
/**
 * Scenario A reads `DriveItems` back row by row for the smallest tier only: the three tenants hold some 440,000
 * rows, which would take Azurite minutes to hand back; the other scenarios check every tenant they crawl.
 */
const CHECKED_TIERS = 1;
/** The queue path: the tier, and how many windows its crawl should last. */
const QUEUE_TIER = 3_750;
const QUEUE_WINDOWS = 6;
/** Scenario C. */
const SMALL_USERS = 1_000;
const LARGE_USERS = 50_000;
/** Scenario C forces a full GC this often to read each crawl's live heap (its CPU is not measured there). */
const LIVE_HEAP_SAMPLE_MS = 2_000;
const PARTS = ['A', 'PEERS', 'ADVERSITY', 'REALISTIC', 'CPU', 'QUEUE', 'C', 'STEADY'] as const;

interface MachineAtStart {
  load: number[];
  calibrationCpuMs: number;
  ticks: ReturnType<typeof cpuTicks>;
}

function machineAtStart(): MachineAtStart {
  return { load: os.loadavg(), calibrationCpuMs: calibrationCpuMs(), ticks: cpuTicks() };
}

/** The machine's figures; `calibrationAtEnd` is the one the CPU figures were scaled with, so the JSON shows it. */
function machineInfo(atStart: MachineAtStart, calibrationAtEnd: number): MachineInfo {
  const ticks = cpuTicks();
  const elapsed = ticks && atStart.ticks ? ticks.total - atStart.ticks.total : 0;
  return {
    loadAverage: { atStart: atStart.load, atEnd: os.loadavg() },
    calibrationCpuMs: { atStart: atStart.calibrationCpuMs, atEnd: calibrationAtEnd },
    stealShare:
      ticks && atStart.ticks && elapsed > 0 ? (ticks.steal - atStart.ticks.steal) / elapsed : undefined,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: os.totalmem() / 2 ** 30,
    node: process.versions.node,
    platform: `${os.type()} ${os.arch()}`,
    kernel: os.release(),
  };
}

/** Scenario A: three tiers at once, each crawl about `windows` budget windows long. */
async function scenarioA(services: Services, windows: number) {
  say(
    `Scenario A: three tenants at the ${TIERS.join(', ')} units/min tiers, ${LATENCY_MS} ms latency, ` +
      `${windows} windows, at once`,
  );
  return withAzurite(async (azurite) => {
    const infos: TenantInfo[] = [];
    for (const [index, tier] of TIERS.entries()) {
      const licensed = Math.round((windows * tier) / firstCrawlUnitsPerUser(WITHOUT_DRIVE_SHARE.budget));
      infos.push(
        await createTenant(
          services,
          tenantSpec(1_001 + index, licensedToUsers(licensed), tier, LATENCY_MS, WITHOUT_DRIVE_SHARE.budget),
        ),
      );
    }
    for (const [index, info] of infos.entries()) {
      say(
        `  tenant ${info.tenantId} (${TIERS[index]}/min): ${info.licensedUsers} licensed users, ` +
          `${info.licensedWithDrive} with a drive, ${info.items} items`,
      );
    }
    const figures = await runCrawler(
      ourJob('A', services, azurite, infos.map(benchTenant)),
      services,
      azurite,
    );
    const stats = await Promise.all(
      infos.map((info) => services.sim.throttleStats(info.tenantId, services.clientId)),
    );
    const contenders = stats.map((s, index) => contenderFigures({ stats: s, ...runSpan(figures, index) }));
    const check = await checkDriveItems(
      azurite,
      services,
      infos.slice(0, CHECKED_TIERS).map((info) => info.tenantId),
      { tenantsOnly: true },
    );
    // The other tiers: the rows each run stored against the simulator's count.
    const counted = infos
      .slice(CHECKED_TIERS)
      .every((info, index) => figures.result.tenants[index + CHECKED_TIERS]?.run?.itemsStored === info.items);
    return { infos, figures, stats, contenders, check, counted };
  });
}

/** Scenario C: memory and CPU per item, small against large tenant, each in its own process and Azurite. */
async function scenarioC(services: Services) {
  say(`Scenario C: ${SMALL_USERS} against ${LARGE_USERS} users, no throttling, no latency`);
  const runs: Array<{
    info: TenantInfo;
    figures: CrawlRunFigures;
    stats: ThrottleStats;
    check: ItemsCheck | undefined;
  }> = [];
  for (const [index, users] of [SMALL_USERS, LARGE_USERS].entries()) {
    await withAzurite(async (azurite) => {
      const info = await createTenant(
        services,
        tenantSpec(3_001 + index, users, HUGE_BUDGET, 0, WITHOUT_DRIVE_SHARE.memory),
      );
      say(`  tenant of ${users} users: ${info.licensedUsers} licensed, ${info.items} items`);
      const figures = await runCrawler(
        {
          ...ourJob(`C ${users}`, services, azurite, [benchTenant(info)]),
          liveHeapSampleMs: LIVE_HEAP_SAMPLE_MS,
        },
        services,
        azurite,
      );
      say(
        `  ${users} users: ${(figures.result.wallMs / 1000).toFixed(1)} s, peak RSS ` +
          `${(figures.result.maxRssKb / 1024).toFixed(0)} MiB, CPU s: crawler ` +
          `${figures.cpu.crawler.seconds.toFixed(1)}, simulator ${figures.cpu.simulator.seconds.toFixed(1)}, ` +
          `Azurite ${figures.cpu.azurite.seconds.toFixed(1)}`,
      );
      // Row by row for the small tenant only: reading 271,140 rows back out of Azurite takes minutes here, and
      // would take the benchmark past its 10 minutes.
      const check =
        users === SMALL_USERS ? await checkDriveItems(azurite, services, [info.tenantId]) : undefined;
      const stats = await services.sim.throttleStats(info.tenantId, services.clientId);
      runs.push({ info, figures, stats, check });
    });
  }
  return runs;
}

/** The steady-state scenario (`steady-state.ts`) on this harness: nested drives, every user with one, no throttling. */
function steady(services: Services): Promise<SteadyFigures> {
  return scenarioSteady({
    sim: services.sim,
    clientId: services.clientId,
    createTenant: (spec) => createTenant(services, spec),
    tenantSpec: (seed, users, tenantId) => ({
      ...tenantSpec(seed, users, HUGE_BUDGET, 0, 0, tenantId),
      unlicensedShare: 0,
      itemsPerUser: [5, 40],
      folderShare: 0.3,
      nestedItemsPerFolder: [0, 5],
      folderDepth: 3,
    }),
    job: (label, azurite, tenants, scope) => ourJob(label, services, azurite, tenants, { crawlScope: scope }),
    runCrawler: (job, azurite) => runCrawler(job, services, azurite),
    withAzurite,
    table: (azurite, name) =>
      TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true }),
    say,
  });
}

/** The chart of units per second per contender, written beside the figures. */
function writeChart(path: string, title: string, series: ChartSeries[], budgetPerSecond: number): void {
  writeFileSync(path, unitsChartSvg(title, series, budgetPerSecond));
  say(`Chart written to ${path}`);
}

/** The counters summed over a scenario's runs. */
type Counts = Pick<ThrottleStats, 'requests' | 'throttled' | 'violations'>;

function sumStats(stats: Counts[], key: keyof Counts): number {
  return stats.reduce((sum, s) => sum + s[key], 0);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      json: { type: 'string' },
      chart: { type: 'string' },
      scale: { type: 'string' },
      only: { type: 'string' },
      windows: { type: 'string' },
      rules: { type: 'string' },
    },
    strict: true,
  });
  if (values.rules !== undefined && values.rules !== 'microsoft' && values.rules !== 'minute') {
    throw new Error('--rules must be microsoft (the default) or minute');
  }
  setThrottleRules(values.rules === 'minute' ? undefined : MICROSOFT_THROTTLING);
  say(
    `Throttling: ${currentThrottleRules() ? 'every rule Microsoft documents (MICROSOFT_THROTTLING)' : 'the per-app minute budget only'}`,
  );
  const scale = values.scale === undefined ? DEFAULT_TIME_SCALE : Number(values.scale);
  const only = new Set((values.only ?? PARTS.join(',')).split(',').map((name) => name.trim().toUpperCase()));
  const unknown = [...only].filter((name) => !(PARTS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `--only takes ${PARTS.join(', ')} (any case, comma-separated); not ${unknown.join(', ')}`,
    );
  }
  const started = Date.now();
  const atStart = machineAtStart();
  say(`Drive Crawler benchmark: time scale ${scale} (a budget minute lasts ${(60 / scale).toFixed(1)} s)`);
  const windows = values.windows === undefined ? WINDOWS_PER_CRAWL : Number(values.windows);
  // Each part gets its own simulated cloud (and Azurite), so none runs beside another's leftovers.
  const a = only.has('A') ? await withServices(scale, (services) => scenarioA(services, windows)) : undefined;
  const peers = only.has('PEERS') ? await withServices(scale, scenarioPeers) : undefined;
  const adversity = only.has('ADVERSITY')
    ? await withServices(scale, (services) => scenarioAdversity(services, scale))
    : undefined;
  const realistic = only.has('REALISTIC')
    ? await withServices(REALISTIC_TIME_SCALE, scenarioRealistic)
    : undefined;
  const cpuRuns = only.has('CPU') ? await withServices(scale, scenarioCpu) : undefined;
  const queue = only.has('QUEUE')
    ? await withServices(scale, (services) => {
        const licensed = Math.round(
          (QUEUE_WINDOWS * QUEUE_TIER) / firstCrawlUnitsPerUser(WITHOUT_DRIVE_SHARE.budget),
        );
        say(`Queue path: ${licensedToUsers(licensed)} users at the ${QUEUE_TIER} tier, 3 host processes`);
        return scenarioQueue(services, {
          spec: tenantSpec(
            8_001,
            licensedToUsers(licensed),
            QUEUE_TIER,
            LATENCY_MS,
            WITHOUT_DRIVE_SHARE.budget,
          ),
        });
      })
    : undefined;
  const c = only.has('C') ? await withServices(scale, scenarioC) : undefined;
  const steadyFigures = only.has('STEADY') ? await withServices(scale, steady) : undefined;

  const chartPath = values.chart ?? 'bench-units.svg';
  if (peers) {
    writeChart(
      chartPath,
      `Graph units a second at the ${PEERS_TIER} tier (time scale ${scale}): the product and its peers`,
      peers.series,
      peers.budgetPerSecond,
    );
  }
  if (adversity) {
    writeChart(
      chartPath.replace(/(\.svg)?$/, '-adversity.svg'),
      `Adversity, ${adversity.tier} tier: 30% to another workload, budget halved at ` +
        `${adversity.halvedAfterSeconds} s, no RateLimit headers`,
      adversity.series,
      adversity.budgetPerSecond,
    );
  }

  const zeroCpu: CpuFigure = { seconds: 0, mean: 0, peak: 0 };
  const budgetUtilisation: Record<string, number> = {};
  const budgetUtilisationWholeWindows: Record<string, number> = {};
  a?.contenders.forEach((figures, index) => {
    budgetUtilisation[String(TIERS[index])] = figures.budgetUtilisation;
  });
  a?.stats.forEach((stats, index) => {
    budgetUtilisationWholeWindows[String(TIERS[index])] = utilisation(stats, 'windowStart');
  });
  // The plain weather: every documented rule, nothing more (adversity is judged on its own).
  const plain: Counts[] = [
    ...(a?.stats ?? []),
    ...(peers?.contenders.product ? [statsOf(peers.contenders.product)] : []),
    ...(realistic ? [statsOf(realistic.contenders.product)] : []),
    ...(queue ? [queue.sim] : []),
  ];
  const adversityProduct = adversity?.contenders.product;
  const everyProductRun: Counts[] = [
    ...plain,
    ...(adversityProduct ? [statsOf(adversityProduct)] : []),
    ...(c?.map((run) => run.stats) ?? []),
  ];
  const runsA = a?.figures.result.tenants ?? [];
  const requestsA = runsA.reduce((sum, t) => sum + (t.summary?.requests ?? 0), 0);
  // Counted by the benchmark in the crawler process of scenario A (its three tenants), not by the product.
  const roundTripsA = a?.figures.result.graphRoundTrips ?? 0;
  const transactionsA = a?.figures.result.driveItemsTransactions.transactions ?? 0;
  const entitiesA = a?.figures.result.driveItemsTransactions.entities ?? 0;
  const large = c?.[1];
  const small = c?.[0];
  const checks: ItemsCheck[] = [
    ...(a ? [a.check] : []),
    ...(peers?.checks ?? []),
    ...(adversity ? [adversity.check] : []),
    ...(realistic ? [realistic.check] : []),
    ...(queue?.itemsCheck ? [queue.itemsCheck] : []),
    ...(c ?? []).flatMap((run) => (run.check ? [run.check] : [])),
  ];
  const steadyExact = Object.values(steadyFigures?.scopes ?? {}).every((scope) => scope.exact);
  // Timed once: the same figure scales the CPU figures and is printed as the calibration at the end. Other work on
  // the machine can only make a timing longer, so the shorter of the two is this run's machine speed (a start
  // timing read 232 ms beside ends of 162 to 164 ms, docs/benchmark.md).
  const calibrationAtEnd = calibrationCpuMs();
  const calibrationNow = Math.min(atStart.calibrationCpuMs, calibrationAtEnd);
  /** CPU per item as on the machine of the README's table (`REFERENCE_CALIBRATION_MS`). */
  const atReference = (micros: number): number => (micros * REFERENCE_CALIBRATION_MS) / calibrationNow;
  const peersBest = peers ? bestPeer(peers.contenders) : undefined;
  const sequential = peers?.contenders.sequential;

  const partial: Omit<BenchFigures, 'targetsMet'> = {
    budgetUtilisation,
    budgetUtilisationWholeWindows,
    throttledShare: ratio(sumStats(plain, 'throttled'), sumStats(plain, 'requests')),
    throttledProductRuns: sumStats(everyProductRun, 'throttled'),
    retryAfterViolations: sumStats(everyProductRun, 'violations'),
    itemsExact:
      (checks.length > 0 || steadyFigures !== undefined) &&
      checks.every((check) => check.exact) &&
      steadyExact &&
      (a?.counted ?? true),
    speedupVsNaive:
      sequential && peers ? ratio(sequential.wallSeconds, peers.contenders.product!.wallSeconds) : 0,
    rssRatio: large && small ? ratio(large.figures.result.maxRssKb, small.figures.result.maxRssKb) : 0,
    liveHeapGrowth: large && small ? ratio(liveHeapOf(large.figures), liveHeapOf(small.figures)) : 0,
    cpuMicrosPerItem: cpuRuns?.cpuMicrosPerItem ?? 0,
    cpuMicrosPerItemAtReference: cpuRuns ? atReference(cpuRuns.cpuMicrosPerItem) : 0,
    memoryMiB: {
      smallPeakRss: (small?.figures.result.maxRssKb ?? 0) / 1024,
      largePeakRss: (large?.figures.result.maxRssKb ?? 0) / 1024,
      smallPeakHeapUsed: small?.figures.result.memoryPeaksMiB.heapUsed ?? 0,
      largePeakHeapUsed: large?.figures.result.memoryPeaksMiB.heapUsed ?? 0,
      smallLiveHeap: small ? liveHeapOf(small.figures) : 0,
      largeLiveHeap: large ? liveHeapOf(large.figures) : 0,
    },
    ...(steadyFigures ? { steadyStateUnitsPerDrive: steadyFigures.steadyStateUnitsPerDrive } : {}),
    requestsPerRoundTrip: ratio(requestsA, roundTripsA),
    entitiesPerTransaction: ratio(entitiesA, transactionsA),
    ...(peers
      ? {
          peers: {
            tier: PEERS_TIER,
            product: peers.contenders.product!,
            ...(peersBest ? { bestPeer: { name: peersBest.name, ...peersBest.figures } } : {}),
          },
        }
      : {}),
    ...(adversity
      ? {
          adversity: {
            tier: adversity.tier,
            product: adversity.contenders.product!,
            ...(adversity.contenders.fixedRate
              ? { bestPeer: { name: 'fixedRate' as const, ...adversity.contenders.fixedRate } }
              : {}),
          },
        }
      : {}),
    ...(realistic
      ? {
          realistic: {
            budgetUtilisation: realistic.contenders.product.budgetUtilisation,
            entitiesPerTransactionAll: realistic.entitiesPerTransactionAll,
            entitiesPerSecondNeeded: realistic.entitiesPerSecondNeeded,
            entitiesPerSecondDelivered: realistic.entitiesPerSecondDelivered,
            cpuMicrosPerItem: realistic.cpuMicrosPerItem,
            cpuMicrosPerItemAtReference: atReference(realistic.cpuMicrosPerItem),
          },
        }
      : {}),
    ...(queue
      ? {
          queue: {
            budgetUtilisation: queueContender(queue).budgetUtilisation,
            endToEndSeconds: queue.endToEndSeconds,
            peakRssMiB: queue.hosts.map((host) => host.peakRssMiB),
            transactionsPerItem: queue.transactionsPerItem,
          },
        }
      : {}),
    cpu: a ? a.figures.cpu : { crawler: zeroCpu, simulator: zeroCpu, azurite: zeroCpu },
    machine: machineInfo(atStart, calibrationAtEnd),
    timeScale: scale,
    durationSeconds: (Date.now() - started) / 1000,
    scenarios: {
      ...(a
        ? {
            A: {
              tiers: Object.fromEntries(
                a.infos.map((info, index) => [
                  String(TIERS[index]),
                  {
                    ...info,
                    contenders: { product: a.contenders[index]! },
                    sim: withoutSeries(a.stats[index]!),
                    run: runsA[index]?.run,
                    summary: runsA[index]?.summary,
                  },
                ]),
              ),
              itemsCheck: a.check,
              allTransactions: a.figures.result.allTransactions,
              allTransactionEntities: a.figures.result.allTransactionEntities,
              entitiesPerTransactionAll: ratio(
                a.figures.result.allTransactionEntities,
                a.figures.result.allTransactions,
              ),
              ...cpuFields(a.figures),
            },
          }
        : {}),
      ...(peers
        ? {
            peers: {
              tenant: peers.tenant,
              tiers: { [String(PEERS_TIER)]: { contenders: peers.contenders } },
              itemsChecks: peers.checks,
              product: cpuFields(peers.product),
            },
          }
        : {}),
      ...(adversity
        ? {
            adversity: {
              tenant: adversity.tenant,
              halvedAfterSeconds: adversity.halvedAfterSeconds,
              tiers: { [String(adversity.tier)]: { contenders: adversity.contenders } },
              itemsCheck: adversity.check,
              product: cpuFields(adversity.product),
            },
          }
        : {}),
      ...(realistic
        ? {
            realistic: {
              ...realistic,
              crawl: cpuFields(realistic.crawl),
              run: realistic.crawl.result.tenants[0]?.run,
              tiers: { [String(realistic.tier)]: { contenders: realistic.contenders } },
            },
          }
        : {}),
      ...(cpuRuns ? { cpu: { ...cpuRuns, crawls: cpuRuns.crawls.map(cpuFields) } } : {}),
      ...(queue
        ? {
            queue: {
              ...queue,
              tiers: { [String(QUEUE_TIER)]: { contenders: { product: queueContender(queue) } } },
            },
          }
        : {}),
      ...(steadyFigures ? { steady: steadyFigures.scopes } : {}),
      ...(c
        ? {
            C: c.map((run) => ({
              tenant: run.info,
              sim: withoutSeries(run.stats),
              run: run.figures.result.tenants[0]?.run,
              crawlCpuSeconds: run.figures.result.crawlCpuMicros / 1e6,
              liveHeapMiB: liveHeapOf(run.figures),
              ...cpuFields(run.figures),
            })),
          }
        : {}),
    },
  };
  const figures: BenchFigures = { ...partial, targetsMet: targetsMet(partial) };
  process.stdout.write(formatTable(figures));
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify(figures, null, 2)}\n`);
    say(`Figures written to ${values.json}`);
  }
  return 0;
}

/** The counters a contender's figures came from, for sums over scenarios. */
function statsOf(figures: ContenderFigures): Counts {
  return { requests: figures.requests, throttled: figures.throttled, violations: figures.violations ?? 0 };
}

/** Statistics without their per-second series (the chart has them; the JSON stays readable). */
function withoutSeries(
  stats: ThrottleStats,
): Omit<ThrottleStats, 'unitsBySecond' | 'throttledUnitsBySecond'> {
  const { unitsBySecond: _all, throttledUnitsBySecond: _throttled, ...rest } = stats;
  return rest;
}

/** The heap a crawl really held: its peak right after full GCs, or after the one forced at its end. */
function liveHeapOf(figures: CrawlRunFigures): number {
  return Math.max(figures.result.liveHeapPeakMiB, figures.result.liveHeapAtEndMiB ?? 0);
}

function queueContender(queue: Awaited<ReturnType<typeof scenarioQueue>>): ContenderFigures {
  const { run } = queue;
  return contenderFigures({
    stats: queue.sim,
    startedAt: Date.parse(run.startedAt),
    finishedAt: run.finishedAt ? Date.parse(run.finishedAt) : Date.now(),
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`Benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
