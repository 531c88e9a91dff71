/**
 * `npm run bench [-- --json <file>]`: how well the crawl spends Microsoft Graph's budget, against the simulated
 * cloud, offline. Azurite, the simulator and each crawl run in processes of their own so that CPU and memory are
 * measured per part. Scenarios:
 *   A. three tenants crawled at once, budgets at the 1,250, 3,750 and 6,250 units-per-minute tiers, 200 ms of
 *      latency: budget utilisation, throttling, `Retry-After` violations, exactness, requests per round trip,
 *      entities per transaction, and the CPU of every part;
 *   B. one 2,000-user tenant at the 6,250 tier: the product against the naive sequential loop (`naive-crawl.ts`);
 *   C. a 1,000-user and a 50,000-user tenant with a huge budget and no latency, each in its own crawler process:
 *      peak RSS ratio and CPU per stored item.
 * Everything is seeded and sized the same on every run. Progress goes to stderr, the table to stdout.
 */
import { TableClient } from '@azure/data-tables';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { CrawlSettings } from '../../src/crawl/crawl-deps';
import { TABLES } from '../../src/storage/storage-clients';
import type { RunningAzurite } from '../azurite';
import { calibrationCpuMs, cpuTicks } from './calibration';
import type { TenantInfo, TenantSpec, ThrottleRules, ThrottleStats } from '../sim/types';
import { MICROSOFT_THROTTLING } from '../sim/types';
import type { CpuFigure } from './proc-stat';
import type { BenchTenant, CrawlRunFigures, CrawlerJob } from './protocol';
import type { SteadyFigures } from './steady-state';
import { scenarioSteady } from './steady-state';
import type { BenchFigures, MachineInfo } from './report';
import { formatTable, targetsMet } from './report';
import type { ItemsCheck } from './verify';
import { checkItemsExact } from './verify';
import type { Services } from './harness';
import { benchTenant, createTenant, runCrawler, say, withAzurite, withServices } from './harness';

/** Simulated seconds per real second, for budgets and latency alike. */
const DEFAULT_TIME_SCALE = 4;
/** Real-world latency of a Graph round trip, simulated ms (divided by the time scale). */
const LATENCY_MS = 200;
/** Root children of every licensed user who has a OneDrive. */
const ITEMS_PER_USER = 60;
/**
 * Share of licensed users without a OneDrive (404: costs the same 2 units as a listing, stores nothing). Azurite
 * spends about 150-300 µs of CPU per stored entity on one thread, so at this time scale the budget scenarios (A, B)
 * can store only a few items per Graph unit and stay within what Azurite follows; scenario C, which measures the
 * crawler's CPU per item, stores twice as many per user (Azurite is its bottleneck by design).
 */
const WITHOUT_DRIVE_SHARE = { budget: 0.95, memory: 0.9 } as const;
/**
 * Users per batch of the inline crawl (the product's default, 100, sizes a queue message for the Functions
 * timeout; inline, bigger batches mean fewer updates of the run's summary row, which all batches contend for).
 */
const USERS_PER_BATCH = 500;
const UNLICENSED_SHARE = 0.1;
/** Scenario A: the tiers, and how many budget windows each tenant's crawl should last. */
const TIERS = [1_250, 3_750, 6_250] as const;
const WINDOWS_PER_CRAWL = 6;
/** Scenario B. */
const NAIVE_USERS = 2_000;
const NAIVE_TIER = 6_250;
/** Scenario C. */
const SMALL_USERS = 1_000;
const LARGE_USERS = 50_000;
const HUGE_BUDGET = 100_000_000;
/** Units of one drive root listing (docs/graph-facts.md, "Throttling"). */
const LISTING_UNITS = 2;

interface MachineAtStart {
  load: number[];
  calibrationCpuMs: number;
  ticks: ReturnType<typeof cpuTicks>;
}

function machineAtStart(): MachineAtStart {
  return { load: os.loadavg(), calibrationCpuMs: calibrationCpuMs(), ticks: cpuTicks() };
}

function machineInfo(atStart: MachineAtStart): MachineInfo {
  const ticks = cpuTicks();
  const elapsed = ticks && atStart.ticks ? ticks.total - atStart.ticks.total : 0;
  return {
    loadAverage: { atStart: atStart.load, atEnd: os.loadavg() },
    calibrationCpuMs: { atStart: atStart.calibrationCpuMs, atEnd: calibrationCpuMs() },
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

/**
 * The simulator's throttling rules for every benchmark tenant (`--rules`): by default all that Microsoft documents
 * (throttled requests charged, whole seconds, `RateLimit-*` sometimes missing, `Retry-After` shorter than the reset,
 * wall-clock windows, the tenant-wide and daily budgets); `--rules minute` keeps only the per-app minute budget.
 */
let throttleRules: ThrottleRules | undefined = MICROSOFT_THROTTLING;

/** A tenant spec of the benchmark's fixed composition. */
function tenantSpec(
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

function ourJob(
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

function utilisation(stats: ThrottleStats, from: 'firstRequest' | 'windowStart' = 'firstRequest'): number {
  if (stats.firstRequestAt === undefined || stats.lastRequestAt === undefined) return 0;
  // The simulator's windows are aligned to the wall clock: from the start of the first request's window, a crawl
  // that began late in a window is not credited with that window's whole budget in its last seconds.
  const windowMs = (stats.windowSeconds * 1000) / stats.timeScale;
  const start =
    from === 'firstRequest' ? stats.firstRequestAt : stats.firstRequestAt - (stats.firstRequestAt % windowMs);
  const seconds = (stats.lastRequestAt - start) / 1000;
  return seconds > 0 ? stats.unitsSpent / (seconds * stats.unitsPerRealSecond) : 0;
}

function cpuFields(figures: CrawlRunFigures): Record<string, unknown> {
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

/** Scenario A: three tiers at once. */
async function scenarioA(services: Services, scale: number, windows: number) {
  say(
    `Scenario A: three tenants at the ${TIERS.join(', ')} units/min tiers, ${LATENCY_MS} ms latency, at once`,
  );
  return withAzurite(async (azurite) => {
    const infos: TenantInfo[] = [];
    for (const [index, tier] of TIERS.entries()) {
      // Each crawl lasts about WINDOWS_PER_CRAWL budget windows: licensed users = windows × budget / 2 units.
      const licensed = (windows * tier) / LISTING_UNITS;
      const users = Math.round(licensed / (1 - UNLICENSED_SHARE));
      infos.push(
        await createTenant(
          services,
          tenantSpec(1_001 + index, users, tier, LATENCY_MS, WITHOUT_DRIVE_SHARE.budget),
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
    const check = await checkDriveItems(
      azurite,
      services,
      infos.map((info) => info.tenantId),
    );
    return { infos, figures, stats, check, scale };
  });
}

/** Reads `DriveItems` back, row by row against the simulator's drives, and says how it went. */
async function checkDriveItems(
  azurite: RunningAzurite,
  services: Services,
  tenantIds: string[],
): Promise<ItemsCheck> {
  say('  checking DriveItems against the simulator...');
  const check = await checkItemsExact(
    TableClient.fromConnectionString(azurite.connectionString, TABLES.driveItems, {
      allowInsecureConnection: true,
    }),
    services.sim,
    tenantIds,
  );
  say(`  itemsExact ${check.exact} (${check.rowsRead} rows read, ${check.itemsExpected} expected)`);
  return check;
}

/** Scenario B: ours against the naive loop on the same tenant (two identical copies, one for each). */
async function scenarioB(services: Services) {
  say(`Scenario B: ${NAIVE_USERS} users at the ${NAIVE_TIER} tier, the product against the naive loop`);
  return withAzurite(async (azurite) => {
    const copy = (tenantId: string): Promise<TenantInfo> =>
      createTenant(
        services,
        tenantSpec(2_001, NAIVE_USERS, NAIVE_TIER, LATENCY_MS, WITHOUT_DRIVE_SHARE.budget, tenantId),
      );
    const ours = await copy('b0000000-0000-4000-8000-000000000001');
    const naiveTenant = await copy('b0000000-0000-4000-8000-000000000002');
    const oursFigures = await runCrawler(
      ourJob('B ours', services, azurite, [benchTenant(ours)]),
      services,
      azurite,
    );
    say(`  ours: ${(oursFigures.result.wallMs / 1000).toFixed(1)} s`);
    const naiveFigures = await runCrawler(
      {
        mode: 'naive',
        label: 'B naive',
        env: { ...services.baseEnv, AzureWebJobsStorage: azurite.connectionString },
        tenants: [benchTenant(naiveTenant)],
        naive: { clientSecret: services.clientSecret, table: 'NaiveDriveItems' },
      },
      services,
      azurite,
    );
    say(`  naive: ${(naiveFigures.result.wallMs / 1000).toFixed(1)} s`);
    const oursStats = await services.sim.throttleStats(ours.tenantId, services.clientId);
    const naiveStats = await services.sim.throttleStats(naiveTenant.tenantId, services.clientId);
    const check = await checkDriveItems(azurite, services, [ours.tenantId]);
    return { ours, naiveTenant, oursFigures, naiveFigures, oursStats, naiveStats, check };
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
        ourJob(`C ${users}`, services, azurite, [benchTenant(info)]),
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

function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? numerator / denominator : 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      json: { type: 'string' },
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
  throttleRules = values.rules === 'minute' ? undefined : MICROSOFT_THROTTLING;
  say(
    `Throttling: ${throttleRules ? 'every rule Microsoft documents (MICROSOFT_THROTTLING)' : 'the per-app minute budget only'}`,
  );
  const scale = values.scale === undefined ? DEFAULT_TIME_SCALE : Number(values.scale);
  const only = new Set((values.only ?? 'A,B,C,steady').split(',').map((name) => name.trim().toUpperCase()));
  const started = Date.now();
  const atStart = machineAtStart();
  say(`Drive Crawler benchmark: time scale ${scale} (a budget minute lasts ${(60 / scale).toFixed(1)} s)`);
  const windows = values.windows === undefined ? WINDOWS_PER_CRAWL : Number(values.windows);
  // Each scenario gets its own simulated cloud (and Azurite), so none runs beside another's leftovers: after A
  // the simulator holds some 40,000 seeded users and their drives.
  const a = only.has('A')
    ? await withServices(scale, (services) => scenarioA(services, scale, windows))
    : undefined;
  const b = only.has('B') ? await withServices(scale, scenarioB) : undefined;
  const c = only.has('C') ? await withServices(scale, scenarioC) : undefined;
  const steadyFigures = only.has('STEADY') ? await withServices(scale, steady) : undefined;

  const zeroCpu: CpuFigure = { seconds: 0, mean: 0, peak: 0 };
  const budgetUtilisation: Record<string, number> = {};
  const budgetUtilisationWholeWindows: Record<string, number> = {};
  a?.stats.forEach((stats, index) => {
    budgetUtilisation[String(TIERS[index])] = utilisation(stats);
    budgetUtilisationWholeWindows[String(TIERS[index])] = utilisation(stats, 'windowStart');
  });
  const limited = [...(a?.stats ?? []), ...(b ? [b.oursStats] : [])];
  const ourStats = [...limited, ...(c?.map((run) => run.stats) ?? [])];
  const runsA = a?.figures.result.tenants ?? [];
  const requestsA = runsA.reduce((sum, t) => sum + (t.summary?.requests ?? 0), 0);
  // Counted by the benchmark in the crawler process of scenario A (its three tenants), not by the product.
  const roundTripsA = a?.figures.result.graphRoundTrips ?? 0;
  const transactionsA = a?.figures.result.driveItemsTransactions.transactions ?? 0;
  const entitiesA = a?.figures.result.driveItemsTransactions.entities ?? 0;
  const large = c?.[1];
  const small = c?.[0];
  const largeItems = large?.figures.result.tenants[0]?.run?.itemsStored ?? 0;
  const checks: ItemsCheck[] = [
    ...(a ? [a.check] : []),
    ...(b ? [b.check] : []),
    ...(c ?? []).flatMap((run) => (run.check ? [run.check] : [])),
  ];
  const steadyExact = Object.values(steadyFigures?.scopes ?? {}).every((scope) => scope.exact);

  const partial: Omit<BenchFigures, 'targetsMet'> = {
    budgetUtilisation,
    budgetUtilisationWholeWindows,
    throttledShare: ratio(
      limited.reduce((sum, s) => sum + s.throttled, 0),
      limited.reduce((sum, s) => sum + s.requests, 0),
    ),
    retryAfterViolations: ourStats.reduce((sum, s) => sum + s.violations, 0),
    itemsExact:
      (checks.length > 0 || steadyFigures !== undefined) &&
      checks.every((check) => check.exact) &&
      steadyExact,
    speedupVsNaive: b ? ratio(b.naiveFigures.result.wallMs, b.oursFigures.result.wallMs) : 0,
    rssRatio: large && small ? ratio(large.figures.result.maxRssKb, small.figures.result.maxRssKb) : 0,
    cpuMicrosPerItem: large ? ratio(large.figures.result.crawlCpuMicros, largeItems) : 0,
    memoryMiB: {
      smallPeakRss: (small?.figures.result.maxRssKb ?? 0) / 1024,
      largePeakRss: (large?.figures.result.maxRssKb ?? 0) / 1024,
      smallPeakHeapUsed: small?.figures.result.memoryPeaksMiB.heapUsed ?? 0,
      largePeakHeapUsed: large?.figures.result.memoryPeaksMiB.heapUsed ?? 0,
      largeLiveHeapAfterFullGc: large?.figures.result.liveHeapPeakMiB ?? 0,
    },
    ...(steadyFigures ? { steadyStateUnitsPerDrive: steadyFigures.steadyStateUnitsPerDrive } : {}),
    requestsPerRoundTrip: ratio(requestsA, roundTripsA),
    entitiesPerTransaction: ratio(entitiesA, transactionsA),
    cpu: a ? a.figures.cpu : { crawler: zeroCpu, simulator: zeroCpu, azurite: zeroCpu },
    machine: machineInfo(atStart),
    timeScale: scale,
    durationSeconds: (Date.now() - started) / 1000,
    scenarios: {
      ...(a
        ? {
            A: {
              tenants: a.infos.map((info, index) => ({
                tier: TIERS[index],
                ...info,
                sim: a.stats[index],
                run: runsA[index]?.run,
                summary: runsA[index]?.summary,
              })),
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
      ...(b
        ? {
            B: {
              tenant: b.ours,
              ours: {
                sim: b.oursStats,
                run: b.oursFigures.result.tenants[0]?.run,
                ...cpuFields(b.oursFigures),
              },
              naive: {
                sim: b.naiveStats,
                counters: b.naiveFigures.result.naive,
                ...cpuFields(b.naiveFigures),
              },
              itemsCheck: b.check,
            },
          }
        : {}),
      ...(steadyFigures ? { steady: steadyFigures.scopes } : {}),
      ...(c
        ? {
            C: c.map((run) => ({
              tenant: run.info,
              sim: run.stats,
              run: run.figures.result.tenants[0]?.run,
              crawlCpuSeconds: run.figures.result.crawlCpuMicros / 1e6,
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

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`Benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
