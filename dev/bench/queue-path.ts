/**
 * The benchmark's queue-path scenario: the product as it is deployed, one crawl run through the storage queues of
 * several local Functions hosts (`host-process.ts`, the host of `npm run serve`) that share one tenant, as Flex
 * Consumption instances would, with the product's default settings. The run is started over HTTP
 * (`POST /api/tenants/{id}/crawl` on the first host) and watched through `GET /api/tenants` until it ends.
 */
import { TableClient } from '@azure/data-tables';
import type { RunCounters, RunStatus } from '../../src/crawl/crawl-runs';
import { QUEUES, TABLES } from '../../src/storage/storage-clients';
import type { TenantInfo, TenantSpec, ThrottleStats } from '../sim/types';
import type { TsChild } from './children';
import { isEvent, startTsChild } from './children';
import type { Services } from './harness';
import { benchTenant, createTenant, crawlerEnv, say, withAzurite } from './harness';
import type { CpuFigure } from './proc-stat';
import { CpuSampler, peakRssKb } from './proc-stat';
import type { HostJob, HostReady, HostReport, QueueDeliveries } from './protocol';
import { utilisation } from './utilisation';
import type { ItemsCheck } from './verify';
import { checkItemsExact } from './verify';

/**
 * Node flags of each host process: those a Flex Consumption instance of 2,048 MB (infra/modules/function-app.bicep,
 * `instanceMemoryMB`) gives the Node 22 worker, which runs with no heap flag. Node sizes V8's heap from the memory
 * it may use (the cgroup's limit when lower than the machine's), and V8 takes half of it for the old space
 * (physical / 4 × 2 on 64-bit), with semi-spaces of old space / 128. Measured with Node 20.20 and 22.23 under a
 * 2 GiB cgroup limit: `heap_size_limit` 1,048 MiB = 1,024 old + 3 × 8 young, the same as these two flags give on
 * a bigger machine (`--max-old-space-size=1024` alone leaves this one's 16 MiB semi-spaces: 1,072 MiB).
 */
export const FLEX_NODE_ARGS: readonly string[] = ['--max-old-space-size=1024', '--max-semi-space-size=8'];

/** Host processes sharing the tenant. */
export const QUEUE_INSTANCES = 3;

export interface QueueScenarioOptions {
  /** The tenant to create and crawl (the benchmark's `tenantSpec`). */
  spec: TenantSpec;
  /** Shown in progress lines; the hosts are `<label>1`, `<label>2`... Default `Q`. */
  label?: string;
  /** Default `QUEUE_INSTANCES`. */
  instances?: number;
  /** Default `FLEX_NODE_ARGS`. */
  nodeArgs?: readonly string[];
  /** How often the run's row is read, ms. Default 1,000. */
  pollMs?: number;
  /** Gives up on a run that has not ended by then, ms after the POST. Default 30 minutes. */
  timeoutMs?: number;
  /** Reads `DriveItems` back against the simulator's drives (`itemsExact`). Default true. */
  checkItems?: boolean;
}

/** The newest run of a tenant as `GET /api/tenants` shows it (`lastRun`, docs/contract.md). */
export interface RunRow extends RunCounters {
  runId: string;
  status: RunStatus;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  budgetPerMinute: number | null;
  timeOverIdeal: number | null;
}

export interface QueueHostFigures {
  label: string;
  pid: number;
  /** Peak resident set size, MiB. */
  peakRssMiB: number;
  liveHeapPeakMiB: number;
  heapSizeLimitMiB: number;
  /** CPU from the POST to the run's end (sampled from /proc). */
  cpu: CpuFigure;
  /** CPU over the process's whole life (start-up included), seconds. */
  processCpuSeconds: number;
  transactions: number;
  transactionEntities: number;
  driveItemsTransactions: { transactions: number; entities: number };
  graphRoundTrips: number;
  /** The user batches and tenant listings this host handled. */
  userBatches: QueueDeliveries;
  tenantListings: QueueDeliveries;
  deliveries: Record<string, QueueDeliveries>;
}

export interface QueueFigures {
  tenant: TenantInfo;
  instances: number;
  nodeArgs: string[];
  runId: string;
  /** How the run ended (`timedOut`: still `running` after `timeoutMs`). */
  outcome: 'succeeded' | 'failed' | 'timedOut';
  /** From the POST to the first poll that saw the run ended, s (up to `pollMs` late). */
  endToEndSeconds: number;
  /** The run's own `finishedAt - startedAt`, s. */
  runSeconds: number | undefined;
  run: RunRow;
  /** The simulator's throttle statistics of the tenant for the app. */
  sim: ThrottleStats;
  budgetUtilisation: number;
  budgetUtilisationWholeWindows: number;
  throttled: number;
  throttledShare: number;
  retryAfterViolations: number;
  hosts: QueueHostFigures[];
  cpu: { simulator: CpuFigure; azurite: CpuFigure };
  azuritePeakRssMiB: number | undefined;
  /** Table transactions of every host, and per stored item. */
  transactions: number;
  transactionsPerItem: number;
  itemsCheck: ItemsCheck | undefined;
  itemsExact: boolean;
}

const ZERO_DELIVERIES: QueueDeliveries = { received: 0, completed: 0, failed: 0, handlingMs: 0 };
const ZERO_CPU: CpuFigure = { seconds: 0, mean: 0, peak: 0 };

/** A host's environment: the crawler's, plus what `loadConfig(env, 'consent')` needs beyond it. */
function hostEnv(services: Services, azurite: Parameters<typeof crawlerEnv>[1]): Record<string, string> {
  return {
    ...crawlerEnv(services, azurite),
    // The consent routes are not used here, but `npm run serve` loads its settings for them.
    CONSENT_REDIRECT_URI: 'http://127.0.0.1:7071/api/consent/callback',
    HOME_TENANT_ID: services.baseEnv.AZURE_TENANT_ID ?? '',
    // In Azure the timer runs on one instance at a time; three local hosts would each fire it, and the scenario
    // starts its run by hand: the schedule is set where it cannot fire during a benchmark.
    CRAWL_SCHEDULE: scheduleFarFromNow(),
  };
}

/**
 * Once a day, 12 hours from now (UTC). Not further: the local host arms its timer with one `setTimeout`, which
 * fires at once for a delay past 2^31 - 1 ms (24.8 days), so a yearly or monthly schedule would fire continually.
 */
function scheduleFarFromNow(): string {
  const at = new Date(Date.now() + 12 * 3_600_000);
  return `0 ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
}

async function stopHost(host: TsChild): Promise<void> {
  if (host.process.exitCode !== null || host.process.signalCode !== null) return;
  host.process.stdin?.end();
  const timer = setTimeout(() => host.process.kill('SIGKILL'), 15_000);
  await host.exited;
  clearTimeout(timer);
}

async function askReport(host: TsChild): Promise<HostReport> {
  host.process.stdin?.write('report\n');
  return host.next(isEvent<HostReport>('report'), 30_000);
}

async function lastRun(base: string, tenantId: string): Promise<RunRow | undefined> {
  const answer = await fetch(`${base}/api/tenants`);
  if (answer.status !== 200) throw new Error(`GET /api/tenants answered ${answer.status}`);
  const body = (await answer.json()) as { tenants: Array<{ tenantId: string; lastRun: RunRow | null }> };
  return body.tenants.find((tenant) => tenant.tenantId === tenantId)?.lastRun ?? undefined;
}

/** Runs one crawl of a new tenant through `instances` local Functions hosts and measures it. */
export async function scenarioQueue(
  services: Services,
  options: QueueScenarioOptions,
): Promise<QueueFigures> {
  const label = options.label ?? 'Q';
  const instances = options.instances ?? QUEUE_INSTANCES;
  const nodeArgs = [...(options.nodeArgs ?? FLEX_NODE_ARGS)];
  const pollMs = options.pollMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  return withAzurite(async (azurite) => {
    const tenant = await createTenant(services, options.spec);
    say(
      `  tenant ${tenant.tenantId}: ${tenant.licensedUsers} licensed users, ${tenant.licensedWithDrive} with a ` +
        `drive, ${tenant.items} items; ${instances} hosts (${nodeArgs.join(' ')})`,
    );
    const env = hostEnv(services, azurite);
    const hosts: TsChild[] = [];
    try {
      for (let index = 0; index < instances; index += 1) {
        const job: HostJob = {
          label: `${label}${index + 1}`,
          env,
          ...(index === 0 ? { onboard: [benchTenant(tenant)] } : {}),
        };
        hosts.push(startTsChild('host-process.ts', [], { job, nodeArgs }));
      }
      const ready = await Promise.all(hosts.map((host) => host.next(isEvent<HostReady>('ready'), 120_000)));
      const base = `http://127.0.0.1:${ready[0]!.port}`;
      const pids: Record<string, number> = {
        simulator: services.simPid,
        azurite: azurite.pid ?? 0,
      };
      hosts.forEach((host, index) => (pids[`host${index}`] = host.pid));
      const sampler = new CpuSampler(pids);
      sampler.start();

      const postedAt = Date.now();
      const answer = await fetch(`${base}/api/tenants/${tenant.tenantId}/crawl`, { method: 'POST' });
      if (answer.status !== 202) {
        throw new Error(`POST /api/tenants/{id}/crawl answered ${answer.status}: ${await answer.text()}`);
      }
      const { runId } = (await answer.json()) as { runId: string };
      say(`  run ${runId} queued through ${base}`);

      let run: RunRow | undefined;
      let lastSaid = postedAt;
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        const row = await lastRun(base, tenant.tenantId);
        if (row?.runId === runId) run = row;
        if (run && run.status !== 'running') break;
        if (Date.now() - postedAt > timeoutMs) break;
        if (Date.now() - lastSaid >= 10_000) {
          lastSaid = Date.now();
          const stats = await services.sim.throttleStats(tenant.tenantId, services.clientId);
          say(
            `  ${((lastSaid - postedAt) / 1000).toFixed(0)} s: ${stats.requests} requests, ${stats.unitsSpent} ` +
              `units, ${stats.throttled} throttled (simulator)`,
          );
        }
      }
      const endedSeenAt = Date.now();
      const cpu = sampler.stop();
      if (!run) throw new Error(`run ${runId} never showed in GET /api/tenants`);
      const outcome = run.status === 'running' ? 'timedOut' : run.status;
      say(
        `  run ${outcome} after ${((endedSeenAt - postedAt) / 1000).toFixed(1)} s` +
          (run.error ? `: ${run.error}` : ''),
      );

      const reports = await Promise.all(hosts.map(askReport));
      const azuritePeak = azurite.pid === undefined ? undefined : peakRssKb(azurite.pid);
      await Promise.all(hosts.map(stopHost));

      const stats = await services.sim.throttleStats(tenant.tenantId, services.clientId);
      let itemsCheck: ItemsCheck | undefined;
      if (options.checkItems !== false) {
        say('  checking DriveItems against the simulator...');
        itemsCheck = await checkItemsExact(
          TableClient.fromConnectionString(azurite.connectionString, TABLES.driveItems, {
            allowInsecureConnection: true,
          }),
          services.sim,
          [tenant.tenantId],
        );
        say(
          `  itemsExact ${itemsCheck.exact} (${itemsCheck.rowsRead} rows read, ${itemsCheck.itemsExpected} expected)`,
        );
      }

      const hostFigures: QueueHostFigures[] = reports.map((report, index) => ({
        label: report.label,
        pid: hosts[index]!.pid,
        peakRssMiB: report.maxRssKb / 1024,
        liveHeapPeakMiB: report.liveHeapPeakMiB,
        heapSizeLimitMiB: report.heapSizeLimitMiB,
        cpu: cpu[`host${index}`] ?? ZERO_CPU,
        processCpuSeconds: report.cpuMicros / 1e6,
        transactions: report.allTransactions,
        transactionEntities: report.allTransactionEntities,
        driveItemsTransactions: report.driveItemsTransactions,
        graphRoundTrips: report.graphRoundTrips,
        userBatches: report.deliveries[QUEUES.userBatch] ?? ZERO_DELIVERIES,
        tenantListings: report.deliveries[QUEUES.tenantCrawl] ?? ZERO_DELIVERIES,
        deliveries: report.deliveries,
      }));
      const transactions = hostFigures.reduce((sum, host) => sum + host.transactions, 0);
      return {
        tenant,
        instances,
        nodeArgs,
        runId,
        outcome,
        endToEndSeconds: (endedSeenAt - postedAt) / 1000,
        runSeconds: run.finishedAt
          ? (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000
          : undefined,
        run,
        sim: stats,
        budgetUtilisation: utilisation(stats),
        budgetUtilisationWholeWindows: utilisation(stats, 'windowStart'),
        throttled: stats.throttled,
        throttledShare: stats.requests > 0 ? stats.throttled / stats.requests : 0,
        retryAfterViolations: stats.violations,
        hosts: hostFigures,
        cpu: { simulator: cpu.simulator ?? ZERO_CPU, azurite: cpu.azurite ?? ZERO_CPU },
        azuritePeakRssMiB: azuritePeak === undefined ? undefined : azuritePeak / 1024,
        transactions,
        transactionsPerItem: run.itemsStored > 0 ? transactions / run.itemsStored : 0,
        itemsCheck,
        itemsExact: itemsCheck?.exact ?? false,
      };
    } finally {
      await Promise.all(hosts.map(stopHost));
    }
  });
}
