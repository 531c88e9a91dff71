/**
 * One crawl in a process of its own, so that its CPU time and peak memory are the crawler's alone.
 * `tsx dev/bench/crawler-process.ts` with a `CrawlerJob` as the first line of stdin (started by `main.ts` with
 * `NODE_EXTRA_CA_CERTS` set): builds the product's context against the simulator and Azurite, onboards the job's
 * tenants as consent would, crawls them with the product's inline crawl (or one of the peers of `peer-crawl.ts`:
 * `naive`, `sdkPool`, `fixedRate`), and prints a `CrawlerResult` line on stdout.
 */
import { createAppContext } from '../../src/app-context';
import { loadConfig } from '../../src/config';
import { operatorCredential } from '../sim/operator-credential';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { TenantPacer } from '../../src/graph/pacer';
import { consoleSink, createLogger } from '../../src/logging/logger';
import {
  graphRoundTrips,
  instrumentGraph,
  instrumentTables,
  liveHeapPeakMiB,
  memoryPeaksMiB,
  noteLiveHeap,
  startMemorySampling,
  tableFigures,
  watchFullGcs,
} from './instrument';
import { readJob } from './children';
import { crawlAsPeer } from './peer-crawl';
import type { CrawlerJob, CrawlerResult, CrawlerStart, NaiveOutcome, TenantOutcome } from './protocol';

function emit(message: CrawlerStart | CrawlerResult): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

async function main(): Promise<void> {
  // The orchestrator holds our stdin: when it goes away, so do we.
  const job = await readJob<CrawlerJob>({ onEnd: () => process.exit(2) });
  instrumentTables();
  instrumentGraph();
  startMemorySampling();
  watchFullGcs();
  const collect = (globalThis as { gc?: () => void }).gc;
  if (job.liveHeapSampleMs && collect) {
    // A full GC on a timer, so that a small crawl's live heap is measured as often as a large one's.
    setInterval(() => {
      collect();
      noteLiveHeap();
    }, job.liveHeapSampleMs).unref();
  }
  const env = job.env;
  const say = (text: string): void => {
    process.stderr.write(`  [${job.label}] ${text}\n`);
  };

  const authorityHost = env.AUTHORITY_HOST ?? '';
  const context = createAppContext(loadConfig(env, 'crawl'), {
    logger: createLogger(consoleSink('error')),
    hostIdentity: operatorCredential(env),
    ...(job.crawlSettings ? { crawlSettings: job.crawlSettings } : {}),
  });

  let outcomes: TenantOutcome[] = [];
  let naive: NaiveOutcome[] | undefined;
  let crawlStartedAt: number;
  let cpuAtStart: NodeJS.CpuUsage;

  if (job.mode !== 'ours') {
    const settings = job.naive;
    if (!settings) throw new Error(`a ${job.mode} job needs its client secret and table (job.naive)`);
    crawlStartedAt = Date.now();
    cpuAtStart = process.cpuUsage();
    emit({ event: 'start', at: crawlStartedAt });
    naive = [];
    for (const tenant of job.tenants) {
      naive.push(
        await crawlAsPeer(job.mode, {
          tenantId: tenant.tenantId,
          clientId: context.config.appClientId,
          clientSecret: settings.clientSecret,
          authorityHost,
          graphEndpoint: context.config.graphEndpoint,
          userAgent: context.userAgent,
          table: context.storage.table(settings.table),
          onProgress: say,
          deadlineMs: settings.deadlineMs,
          unitsPerSecond: settings.unitsPerSecond,
        }),
      );
    }
  } else {
    for (const tenant of job.tenants) {
      // Once: consent again would reset the tenant's delta cursors, and a job may crawl a tenant a second time.
      if (await context.registry.get(tenant.tenantId)) continue;
      await context.registry.recordConsent(tenant.tenantId, 'active', new Date(), tenant.domain);
    }
    const records = [];
    for (const tenant of job.tenants) {
      const record = await context.registry.get(tenant.tenantId);
      if (!record) throw new Error(`tenant ${tenant.tenantId} was not recorded`);
      records.push(record);
    }
    crawlStartedAt = Date.now();
    cpuAtStart = process.cpuUsage();
    emit({ event: 'start', at: crawlStartedAt });
    const results = await crawlInline(context.crawlDeps(), {
      tenants: records,
      ...(job.batchConcurrency === undefined ? {} : { batchConcurrency: job.batchConcurrency }),
      ...(job.tenantConcurrency === undefined ? {} : { tenantConcurrency: job.tenantConcurrency }),
      progressIntervalMs: 5_000,
      onProgress: (p) => {
        const pacers = job.tenants.map((tenant) => {
          const pacer = context.pacerFor(tenant.tenantId);
          if (!(pacer instanceof TenantPacer)) return '';
          const stats = pacer.stats();
          const learned =
            stats.limit === undefined ? '' : `,${stats.limit}/${((stats.windowMs ?? 0) / 1000).toFixed(1)}s`;
          return ` ${tenant.tenantId.slice(0, 4)}:${stats.rateUnitsPerSecond.toFixed(0)}u/s,${stats.inFlight}fl,${stats.throttled}t${learned}`;
        });
        say(
          `${(p.elapsedMs / 1000).toFixed(0)} s: tenants ${p.tenantsDone}/${p.tenantsTotal}, users ${p.usersDone}, ` +
            `items ${p.itemsStored}, requests ${p.requests}, throttled ${p.throttled}, ` +
            `heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB;${pacers.join('')}`,
        );
      },
    });
    outcomes = results.map((result) => ({
      tenantId: result.tenantId,
      status: result.status,
      run: result.run,
      summary: undefined,
    }));
  }

  const crawlEndedAt = Date.now();
  const crawlCpuMicros = cpuMicros(process.cpuUsage(cpuAtStart));
  // The heap the crawl still holds at its end, after a full GC (the benchmark starts crawlers with --expose-gc): a
  // small crawl may never have run a full GC of its own.
  collect?.();
  const liveHeapAtEndMiB = collect ? process.memoryUsage().heapUsed / 2 ** 20 : undefined;
  for (const outcome of outcomes) {
    if (outcome.run) outcome.summary = await context.progress.summary(outcome.tenantId, outcome.run.runId);
  }
  emit({
    event: 'result',
    label: job.label,
    crawlStartedAt,
    crawlEndedAt,
    wallMs: crawlEndedAt - crawlStartedAt,
    crawlCpuMicros,
    processCpuMicros: cpuMicros(process.cpuUsage()),
    maxRssKb: process.resourceUsage().maxRSS,
    memoryPeaksMiB: memoryPeaksMiB(),
    liveHeapPeakMiB: liveHeapPeakMiB(),
    ...(liveHeapAtEndMiB === undefined ? {} : { liveHeapAtEndMiB }),
    ...tableFigures(),
    graphRoundTrips: graphRoundTrips(),
    tenants: outcomes,
    ...(naive ? { naive } : {}),
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `crawler process failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
