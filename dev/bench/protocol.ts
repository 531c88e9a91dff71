/**
 * What the benchmark's processes say to each other: the orchestrator (`main.ts`) hands a crawler process a job as
 * the first line of its stdin (`children.ts`); the crawler answers with JSON lines on stdout (`start`, then `result`), and writes
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
  /**
   * `ours`: the product's inline crawl; the peers, crawls written the way a competent user would without it:
   * `naive`, the sequential per-user loop of `naive-crawl.ts`; `sdkPool`, the Graph SDK's default middleware (its
   * RetryHandler) over 16 users at a time; `fixedRate`, plain `fetch` through a token bucket at the tenant's
   * documented budget with a global pause on `Retry-After` (both in `peer-crawl.ts`).
   */
  mode: CrawlerMode;
  /** Shown in progress lines. */
  label: string;
  env: CrawlerEnv;
  tenants: BenchTenant[];
  /** `ours` only. */
  crawlSettings?: Partial<CrawlSettings>;
  batchConcurrency?: number;
  tenantConcurrency?: number;
  /**
   * Forces a full GC this often (ms) and counts the heap left in `liveHeapPeakMiB`, so small and large crawls are
   * measured alike (needs `--expose-gc`; costs CPU, so only where CPU is not measured). Default: never.
   */
  liveHeapSampleMs?: number;
  /** Every mode but `ours` (the peers): see `PeerJob`. */
  naive?: PeerJob;
}

export type CrawlerMode = 'ours' | PeerMode;

/** The peer crawlers: see `CrawlerJob.mode`. */
export type PeerMode = 'naive' | 'sdkPool' | 'fixedRate';

/** What a peer crawler needs besides the job's environment and tenants. */
export interface PeerJob {
  /** The app's client secret (a peer takes its own tokens). */
  clientSecret: string;
  /** The table it writes the items to. */
  table: string;
  /**
   * Real ms from the start of the drive phase (after the users listing) after which the peer takes no new user,
   * finishes those in flight and reports `stoppedAtDeadline`. Default: none.
   */
  deadlineMs?: number;
  /**
   * `fixedRate` only (required there): the tenant's documented drive budget per real second,
   * `budgetPerWindow / (windowSeconds / timeScale)`.
   */
  unitsPerSecond?: number;
}

/** One tenant's outcome as the product recorded it. */
export interface TenantOutcome {
  tenantId: string;
  status: string;
  run: CrawlRun | undefined;
  summary: RunSummary | undefined;
}

/** A peer crawler's counters for one tenant (a peer keeps no `CrawlRuns` row). */
export interface NaiveOutcome {
  tenantId: string;
  /** Users crawled to the end (with or without a drive). */
  users: number;
  /** Licensed users listed: `users` falls short of it only when the crawl stopped at its deadline. */
  usersTotal: number;
  usersWithoutDrive: number;
  itemsStored: number;
  /** Graph requests sent (every attempt, retries included), and the 429/503 answers among them. */
  requests: number;
  throttled: number;
  transactions: number;
  /**
   * `sdkPool`: times the SDK's RetryHandler spent its retries on a 429/503 and the SDK threw: the user went
   * back to the end of the work (or the users listing asked its page again). 0 for the other peers.
   */
  requeued: number;
  /** Whether `deadlineMs` passed before every user was crawled. */
  stoppedAtDeadline: boolean;
  /** Real ms from the start of the drive phase (after the users listing) to its end. */
  drivePhaseMs: number;
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
  /** The heap in use after a full GC forced when the crawl ended (the bench runs crawlers with `--expose-gc`), MiB. */
  liveHeapAtEndMiB?: number;
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

/**
 * A local Functions host process (`host-process.ts`, the queue path): its job as the first line of its stdin. It
 * answers `ready` once it serves, and a `HostReport` for each later `report` line on stdin; stdin's end stops it.
 */
export interface HostJob {
  /** Shown in its log lines and echoed in its report. */
  label: string;
  /** The product's settings, as `npm run serve` reads them from its environment. */
  env: CrawlerEnv;
  /** Tenants to record as consented before it says `ready` (one host of a scenario does it). */
  onboard?: BenchTenant[];
}

export interface HostReady {
  event: 'ready';
  /** The port of its HTTP routes on 127.0.0.1 (`/api/...`). */
  port: number;
}

/** Messages of one queue this host took: deliveries, completions (deleted) and failures (made visible again). */
export interface QueueDeliveries {
  received: number;
  completed: number;
  failed: number;
  /** Wall time the completed messages took from delivery to deletion, ms in all. */
  handlingMs: number;
}

export interface HostReport {
  event: 'report';
  label: string;
  /** CPU of the process over its whole life, µs (`process.cpuUsage()`, user + system). */
  cpuMicros: number;
  /** Peak resident set size, KiB (`process.resourceUsage().maxRSS`). */
  maxRssKb: number;
  /** Peak of the heap in use right after a full GC, MiB; 0 if no full GC ran. */
  liveHeapPeakMiB: number;
  memoryPeaksMiB: CrawlerResult['memoryPeaksMiB'];
  /** V8's heap limit in this process (`v8.getHeapStatistics().heap_size_limit`), MiB. */
  heapSizeLimitMiB: number;
  allTransactions: number;
  allTransactionEntities: number;
  driveItemsTransactions: { transactions: number; entities: number };
  graphRoundTrips: number;
  /** By queue name. */
  deliveries: Record<string, QueueDeliveries>;
}
