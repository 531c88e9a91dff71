/**
 * One crawl in a process of its own, so that its CPU time and peak memory are the crawler's alone.
 * `tsx dev/bench/crawler-process.ts '<CrawlerJob JSON>'` (started by `main.ts` with `NODE_EXTRA_CA_CERTS` set):
 * builds the product's context against the simulator and Azurite, onboards the job's tenants as consent would,
 * crawls them with the product's inline crawl (or the naive loop), and prints a `CrawlerResult` line on stdout.
 */
import { TableClient } from '@azure/data-tables';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { createAppContext } from '../../src/app-context';
import { loadConfig } from '../../src/config';
import { operatorCredential } from '../sim/operator-credential';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { NodeHttpMessageHandler } from '../../src/graph/node-http-handler';
import { TABLES } from '../../src/storage/storage-clients';
import { tableBatchStats } from '../../src/storage/table-batch';
import { TenantPacer } from '../../src/graph/pacer';
import { consoleSink, createLogger } from '../../src/logging/logger';
import { naiveCrawl } from './naive-crawl';
import type { CrawlerJob, CrawlerResult, CrawlerStart, NaiveOutcome, TenantOutcome } from './protocol';

const transactionCount = { transactions: 0, entities: 0 };
let graphRoundTrips = 0;

/** Counts every HTTP round trip to Graph: each call of the product's HTTP handler (a `$batch` is one). */
function instrumentGraph(): void {
  const execute = Object.getOwnPropertyDescriptor(NodeHttpMessageHandler.prototype, 'execute')
    ?.value as NodeHttpMessageHandler['execute'];
  NodeHttpMessageHandler.prototype.execute = function (this: NodeHttpMessageHandler, context) {
    graphRoundTrips += 1;
    return execute.call(this, context);
  };
}
const tableCalls: Record<string, { count: number; totalMs: number }> = {};

/** Times a table operation (count and total wait, per table and method). */
async function timed<T>(key: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    const entry = (tableCalls[key] ??= { count: 0, totalMs: 0 });
    entry.count += 1;
    entry.totalMs += performance.now() - started;
  }
}

/**
 * Counts every table transaction this process submits (the product's and the naive loop's alike), and times the
 * table operations the crawl uses.
 */
function instrumentTables(): void {
  type Method<K extends 'submitTransaction' | 'getEntity' | 'deleteEntity'> = (
    this: TableClient,
    ...args: Parameters<TableClient[K]>
  ) => ReturnType<TableClient[K]>;
  const original = <K extends 'submitTransaction' | 'getEntity' | 'deleteEntity'>(name: K): Method<K> =>
    Object.getOwnPropertyDescriptor(TableClient.prototype, name)?.value as Method<K>;
  const proto = TableClient.prototype;
  const submit = original('submitTransaction');
  proto.submitTransaction = function (this: TableClient, ...args) {
    transactionCount.transactions += 1;
    transactionCount.entities += args[0].length;
    return timed(`${this.tableName}.submitTransaction`, () => submit.apply(this, args));
  };
  const getEntity = original('getEntity');
  proto.getEntity = function (this: TableClient, ...args: Parameters<TableClient['getEntity']>) {
    return timed(`${this.tableName}.getEntity`, () => getEntity.apply(this, args));
  } as TableClient['getEntity'];
  const deleteEntity = original('deleteEntity');
  proto.deleteEntity = function (this: TableClient, ...args) {
    return timed(`${this.tableName}.deleteEntity`, () => deleteEntity.apply(this, args));
  };
}

/**
 * The heap still in use right after each full (mark-compact) GC: what the crawl really holds, apart from the
 * garbage V8 lets pile up between full collections. Its peak, MiB.
 */
let liveHeapPeakMiB = 0;

function watchFullGcs(): void {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry.toJSON() as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        liveHeapPeakMiB = Math.max(liveHeapPeakMiB, process.memoryUsage().heapUsed / 2 ** 20);
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

/** Peaks of `process.memoryUsage()` sampled every second (it walks the heap's spaces), MiB. */
const memoryPeaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };

function sampleMemory(): void {
  const usage = process.memoryUsage();
  for (const key of Object.keys(memoryPeaks) as Array<keyof typeof memoryPeaks>) {
    memoryPeaks[key] = Math.max(memoryPeaks[key], usage[key] / 2 ** 20);
  }
}

function emit(message: CrawlerStart | CrawlerResult): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as CrawlerJob;
  // The orchestrator holds our stdin: when it goes away, so do we.
  process.stdin.on('end', () => process.exit(2));
  process.stdin.resume();
  instrumentTables();
  instrumentGraph();
  setInterval(sampleMemory, 1_000).unref();
  watchFullGcs();
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

  if (job.mode === 'naive') {
    const settings = job.naive;
    if (!settings) throw new Error('a naive job needs its client secret and table');
    crawlStartedAt = Date.now();
    cpuAtStart = process.cpuUsage();
    emit({ event: 'start', at: crawlStartedAt });
    naive = [];
    for (const tenant of job.tenants) {
      naive.push(
        await naiveCrawl({
          tenantId: tenant.tenantId,
          clientId: context.config.appClientId,
          clientSecret: settings.clientSecret,
          authorityHost,
          graphEndpoint: context.config.graphEndpoint,
          userAgent: context.userAgent,
          table: context.storage.table(settings.table),
          onProgress: say,
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
    memoryPeaksMiB: memoryPeaks,
    liveHeapPeakMiB,
    allTransactions: transactionCount.transactions + tableBatchStats.transactions,
    allTransactionEntities: transactionCount.entities + tableBatchStats.entities,
    leanTableCalls: {
      transactions: tableBatchStats.transactions,
      entities: tableBatchStats.entities,
      reads: tableBatchStats.reads,
    },
    driveItemsTransactions: tableBatchStats.byTable[TABLES.driveItems] ?? { transactions: 0, entities: 0 },
    graphRoundTrips,
    tableCalls: Object.fromEntries(
      Object.entries(tableCalls).map(([key, entry]) => [
        key,
        { count: entry.count, meanMs: Math.round((entry.totalMs / entry.count) * 10) / 10 },
      ]),
    ),
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
