/**
 * What the benchmark's product processes count about themselves (a crawler process, a local Functions host process):
 * every table transaction they submit, Graph round trips, table call timings, memory peaks and the live heap after
 * full GCs. Each `instrument...`/`watch...`/`start...` call patches or observes once per process, however often it
 * is called; the readers give the figures so far.
 */
import { TableClient } from '@azure/data-tables';
import { performance } from 'node:perf_hooks';
import { GCProfiler } from 'node:v8';
import { NodeHttpMessageHandler } from '../../src/graph/node-http-handler';
import { TABLES } from '../../src/storage/storage-clients';
import { tableBatchStats } from '../../src/storage/table-batch';

const transactionCount = { transactions: 0, entities: 0 };
let graphRoundTripCount = 0;
const tableCalls: Record<string, { count: number; totalMs: number }> = {};
/** Peak of the heap in use right after a full GC, MiB. */
let liveHeapPeak = 0;
/** Peaks of `process.memoryUsage()` sampled every second (it walks the heap's spaces), MiB. */
const memoryPeaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const done = { graph: false, tables: false, gcs: false, memory: false };

/** Counts every HTTP round trip to Graph: each call of the product's HTTP handler (a `$batch` is one). */
export function instrumentGraph(): void {
  if (done.graph) return;
  done.graph = true;
  const execute = Object.getOwnPropertyDescriptor(NodeHttpMessageHandler.prototype, 'execute')
    ?.value as NodeHttpMessageHandler['execute'];
  NodeHttpMessageHandler.prototype.execute = function (this: NodeHttpMessageHandler, context) {
    graphRoundTripCount += 1;
    return execute.call(this, context);
  };
}

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
 * Counts every table transaction this process submits through the SDK (the product's and the peers' alike;
 * the crawl's lean calls count themselves in `tableBatchStats`), and times the table operations the crawl uses.
 */
export function instrumentTables(): void {
  if (done.tables) return;
  done.tables = true;
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

/** How often V8's record of the GCs is read (`GCProfiler` keeps it outside the JavaScript heap until then). */
const GC_RECORD_MS = 1_000;
let gcProfiler: GCProfiler | undefined;

/** Takes the heap in use after each full GC since the last read from V8's own record of the GCs. */
function readGcRecord(): void {
  if (!gcProfiler) return;
  const record = gcProfiler.stop();
  gcProfiler.start();
  for (const gc of record.statistics) {
    if (gc.gcType === 'MarkSweepCompact') {
      liveHeapPeak = Math.max(liveHeapPeak, gc.afterGC.heapStatistics.usedHeapSize / 2 ** 20);
    }
  }
}

/**
 * Watches full (mark-compact) GCs: the heap still in use right after each is what the process really holds,
 * apart from the garbage V8 lets pile up between full collections. V8 records it at the end of each GC
 * (`v8.GCProfiler`). Reading `heapUsed` when a `gc` performance entry reaches an observer is too late: that runs
 * after the task the GC interrupted, whose allocations it counts as live, more of them the busier the crawl
 * (docs/benchmark.md).
 */
export function watchFullGcs(): void {
  if (done.gcs) return;
  done.gcs = true;
  gcProfiler = new GCProfiler();
  gcProfiler.start();
  setInterval(readGcRecord, GC_RECORD_MS).unref();
}

/** Counts the heap in use now as live (right after a GC the caller forced). */
export function noteLiveHeap(): void {
  liveHeapPeak = Math.max(liveHeapPeak, process.memoryUsage().heapUsed / 2 ** 20);
}

function sampleMemory(): void {
  const usage = process.memoryUsage();
  for (const key of Object.keys(memoryPeaks) as Array<keyof typeof memoryPeaks>) {
    memoryPeaks[key] = Math.max(memoryPeaks[key], usage[key] / 2 ** 20);
  }
}

/** Samples `process.memoryUsage()` every `intervalMs` for the life of the process (the timer does not hold it). */
export function startMemorySampling(intervalMs = 1_000): void {
  if (done.memory) return;
  done.memory = true;
  setInterval(sampleMemory, intervalMs).unref();
}

/** Peak of the heap in use right after a full GC (the live set), MiB; 0 if no full GC ran. */
export function liveHeapPeakMiB(): number {
  readGcRecord();
  return liveHeapPeak;
}

/** Peaks of `process.memoryUsage()` fields so far, MiB. */
export function memoryPeaksMiB(): typeof memoryPeaks {
  return { ...memoryPeaks };
}

/** HTTP round trips to Graph so far. */
export function graphRoundTrips(): number {
  return graphRoundTripCount;
}

/** The table figures of a `CrawlerResult` (protocol.ts), so far. */
export function tableFigures(): {
  allTransactions: number;
  allTransactionEntities: number;
  leanTableCalls: { transactions: number; entities: number; reads: number };
  driveItemsTransactions: { transactions: number; entities: number };
  tableCalls: Record<string, { count: number; meanMs: number }>;
} {
  return {
    allTransactions: transactionCount.transactions + tableBatchStats.transactions,
    allTransactionEntities: transactionCount.entities + tableBatchStats.entities,
    leanTableCalls: {
      transactions: tableBatchStats.transactions,
      entities: tableBatchStats.entities,
      reads: tableBatchStats.reads,
    },
    driveItemsTransactions: {
      ...(tableBatchStats.byTable[TABLES.driveItems] ?? { transactions: 0, entities: 0 }),
    },
    tableCalls: Object.fromEntries(
      Object.entries(tableCalls).map(([key, entry]) => [
        key,
        { count: entry.count, meanMs: Math.round((entry.totalMs / entry.count) * 10) / 10 },
      ]),
    ),
  };
}
