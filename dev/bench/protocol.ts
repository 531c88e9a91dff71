/**
 * What the benchmark's processes say to each other: the orchestrator (`main.ts`) hands a crawler process a job as
 * JSON in its first argument; the crawler answers with JSON lines on stdout (`start`, then `result`), and writes
 * its progress to stderr. The simulator process prints one `ready` line with its URL.
 */
import type { CrawlSettings } from '../../src/crawl/crawl-deps';
import type { CrawlRun } from '../../src/crawl/crawl-runs';
import type { RunSummary } from '../../src/crawl/run-progress';
import type { LatencyFigure } from './latency-probe';
import type { CpuFigure } from './proc-stat';

/** The environment a crawler process configures the product with (the same names as `npm run crawl` reads). */
export type CrawlerEnv = Record<string, string>;

export interface BenchTenant {
  tenantId: string;
  domain: string;
}

export interface CrawlerJob {
  /** `ours`: the product's inline crawl; `naive`: the sequential per-user loop of `naive-crawl.ts`. */
  mode: 'ours' | 'naive';
  /** Shown in progress lines. */
  label: string;
  env: CrawlerEnv;
  tenants: BenchTenant[];
  /** `ours` only. */
  crawlSettings?: Partial<CrawlSettings>;
  batchConcurrency?: number;
  tenantConcurrency?: number;
  /** `naive` only: the app's client secret (the loop takes its own tokens) and the table it writes. */
  naive?: { clientSecret: string; table: string };
}

/** One tenant's outcome as the product recorded it. */
export interface TenantOutcome {
  tenantId: string;
  status: string;
  run: CrawlRun | undefined;
  summary: RunSummary | undefined;
}

/** Naive loop counters (it keeps no `CrawlRuns` row). */
export interface NaiveOutcome {
  tenantId: string;
  users: number;
  usersWithoutDrive: number;
  itemsStored: number;
  requests: number;
  throttled: number;
  transactions: number;
}

export interface CrawlerResult {
  event: 'result';
  label: string;
  /** Real time (ms since epoch) when the crawl proper started and ended (after set-up, before the report). */
  crawlStartedAt: number;
  crawlEndedAt: number;
  wallMs: number;
  /** CPU of this process during the crawl proper, µs (user + system). */
  crawlCpuMicros: number;
  /** CPU of this process over its whole life (module loading included), µs. */
  processCpuMicros: number;
  /** Peak resident set size of this process, KiB (`process.resourceUsage().maxRSS`). */
  maxRssKb: number;
  /** Peaks of `process.memoryUsage()` fields over the process's life, MiB. */
  memoryPeaksMiB: {
    rss: number;
    heapTotal: number;
    heapUsed: number;
    external: number;
    arrayBuffers: number;
  };
  /** Peak of the heap in use right after a full GC (the live set), MiB; 0 if no full GC ran. */
  liveHeapPeakMiB: number;
  /** Every table transaction this process submitted, and the entities in them (items, index, bookkeeping). */
  allTransactions: number;
  allTransactionEntities: number;
  /** Table operations by `<table>.<method>`: how many, and their mean duration. */
  tableCalls: Record<string, { count: number; meanMs: number }>;
  /** The crawl's lean table calls (`src/storage/table-batch.ts`), which bypass the SDK methods timed above. */
  leanTableCalls: { transactions: number; entities: number; reads: number };
  /** Transactions that wrote `DriveItems` rows, and the rows they wrote (for entities per transaction). */
  driveItemsTransactions: { transactions: number; entities: number };
  /** HTTP round trips to Graph (a `$batch` is one), counted at the product's HTTP handler. */
  graphRoundTrips: number;
  tenants: TenantOutcome[];
  naive?: NaiveOutcome[];
}

/** One crawler process's result with what the benchmark sampled around it. */
export interface CrawlRunFigures {
  result: CrawlerResult;
  cpu: Record<'crawler' | 'simulator' | 'azurite', CpuFigure>;
  azuritePeakRssKb: number | undefined;
  /** Latency of a tiny Azurite request during the crawl. */
  azuriteLatency: LatencyFigure;
}

export interface CrawlerStart {
  event: 'start';
  at: number;
}

export type CrawlerMessage = CrawlerStart | CrawlerResult;

export interface SimReady {
  event: 'ready';
  url: string;
}
