import { odata } from '@azure/data-tables';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { tableCreatedOnce, isNotFound } from '../storage/storage-clients';
import type { RunCounters } from './crawl-runs';
import { ZERO_COUNTERS } from './crawl-runs';

/** What a finished batch (or the listing) adds to its run. */
export interface WorkCounters extends RunCounters {
  /** HTTP round trips to Graph (a `$batch` is one): for the benchmark's requests-per-round-trip. */
  roundTrips: number;
  /** Table transactions and the entities written through them: for entities-per-transaction. */
  transactions: number;
  entitiesInTransactions: number;
}

export const ZERO_WORK: Readonly<WorkCounters> = {
  ...ZERO_COUNTERS,
  roundTrips: 0,
  transactions: 0,
  entitiesInTransactions: 0,
};

export interface RunSummary extends WorkCounters {
  /** Batches the listing queued; known once `listingDone`. */
  batchesPlanned: number;
  /** Pieces done: planned batches and their continuations. */
  batchesDone: number;
  /** Continuations queued by batches that yielded before the Functions time limit (each is one more piece). */
  continuations: number;
  listingDone: boolean;
}

interface SummaryEntity extends RunSummary {
  partitionKey: string;
  rowKey: string;
  etag?: string;
}

/** What one attempt at a piece of work sent to Graph: counted for every attempt, retries and duplicates too. */
type AttemptCounters = Pick<WorkCounters, 'requests' | 'throttled' | 'roundTrips'>;

/** What an attempt sent to Graph, of all it counted. */
function sentBy(work: Partial<WorkCounters>): AttemptCounters {
  return { requests: work.requests ?? 0, throttled: work.throttled ?? 0, roundTrips: work.roundTrips ?? 0 };
}

/**
 * What an attempt sent (and, for a failed one, why it failed) when recording it failed (storage unreachable), to
 * record under its own marker with the run's next write in this process; the marker makes that a no-op if the
 * write did land. Memory only: on the queue path, if no later write of the run comes to this instance (another
 * instance finishes it, or this one stops), those requests go uncounted.
 */
interface KeptAttempt {
  marker: string;
  work: AttemptCounters;
  fields: Record<string, string>;
}

/** Options of one bookkeeping write. */
interface WriteOptions {
  /** Changes to the summary beyond adding the counters. */
  change?: (summary: RunSummary) => void;
  /** Extra fields of the marker row. */
  fields?: Record<string, string>;
  /** Another marker created in the same transaction (the attempt's, beside its piece's). */
  alsoMarker?: string;
  /** What to do when the marker already exists; by default nothing is added. */
  whenRecorded?: (current: RunSummary) => RunSummary | Promise<RunSummary>;
}

/** Attempts kept in memory at most, over all runs of this process. */
const MAX_KEPT_ATTEMPTS = 1_000;

const SUMMARY = 'summary';
const COUNTER_KEYS = Object.keys(ZERO_WORK) as (keyof WorkCounters)[];

export function addWork(into: WorkCounters, more: Partial<WorkCounters>): WorkCounters {
  for (const key of COUNTER_KEYS) into[key] += more[key] ?? 0;
  return into;
}

function toSummary(entity: Partial<SummaryEntity>): RunSummary {
  const counters = { ...ZERO_WORK };
  for (const key of COUNTER_KEYS) counters[key] = Number(entity[key] ?? 0);
  return {
    ...counters,
    batchesPlanned: Number(entity.batchesPlanned ?? 0),
    batchesDone: Number(entity.batchesDone ?? 0),
    continuations: Number(entity.continuations ?? 0),
    listingDone: entity.listingDone === true,
  };
}

/**
 * Bookkeeping of one run in the `CrawlProgress` table (partition `<tenantId>_<runId>`): a summary row plus one
 * marker row per piece of work and one per attempt at it. Counters are added to the summary in the same
 * transaction that creates their markers, so a retried queue message (whose piece marker exists) never counts its
 * work twice while its Graph requests still count once (attempt marker), and concurrent writers serialise on the
 * summary's ETag.
 */
export class RunProgress {
  readonly #table: TableClient;
  readonly #ensure: () => Promise<void>;
  /** Attempts whose recording failed, by run partition, oldest first. */
  readonly #kept = new Map<string, KeptAttempt[]>();
  #keptCount = 0;
  /** The replay of a run's kept attempts under way, by run partition. */
  readonly #replays = new Map<string, Promise<void>>();

  constructor(table: TableClient) {
    this.#table = table;
    this.#ensure = tableCreatedOnce(table);
  }

  static partition(tenantId: string, runId: string): string {
    return `${tenantId}_${runId}`;
  }

  async start(tenantId: string, runId: string): Promise<void> {
    await this.#ensure();
    try {
      await this.#table.createEntity<SummaryEntity>({
        partitionKey: RunProgress.partition(tenantId, runId),
        rowKey: SUMMARY,
        ...ZERO_WORK,
        batchesPlanned: 0,
        batchesDone: 0,
        continuations: 0,
        listingDone: false,
      });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 409) throw error;
    }
  }

  /** The run's counters so far, with any attempts this process kept for it recorded first (a run that fails). */
  summary(tenantId: string, runId: string): Promise<RunSummary | undefined> {
    return this.#recorded(tenantId, runId, async (partitionKey) => {
      try {
        return toSummary(await this.#table.getEntity<SummaryEntity>(partitionKey, SUMMARY));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  /**
   * Records the end of the user listing: how many batches were queued and what the listing cost. A listing already
   * recorded by another attempt adds only this attempt's Graph counters.
   */
  recordListing(
    tenantId: string,
    runId: string,
    batches: number,
    work: Partial<WorkCounters>,
    attempt: string,
  ): Promise<RunSummary> {
    return this.#recordPiece(tenantId, runId, 'listing', work, attempt, (summary) => {
      summary.batchesPlanned = batches;
      summary.listingDone = true;
    });
  }

  /**
   * Records a finished piece of a batch once (`part` 0 is the batch as planned, each continuation the next part);
   * a piece already recorded by another attempt (a retry whose first write landed unseen, a duplicate delivery)
   * adds only this attempt's Graph counters, which Graph did receive. `continued`: the piece queued a continuation
   * with its remaining users, one more piece before the run is complete.
   */
  recordBatch(
    tenantId: string,
    runId: string,
    batch: number,
    work: Partial<WorkCounters>,
    attempt: string,
    piece: { part?: number; continued?: boolean } = {},
  ): Promise<RunSummary> {
    const part = piece.part ?? 0;
    const marker = `batch_${String(batch).padStart(6, '0')}${part > 0 ? `_part${String(part).padStart(4, '0')}` : ''}`;
    return this.#recordPiece(tenantId, runId, marker, work, attempt, (summary) => {
      summary.batchesDone += 1;
      if (piece.continued) summary.continuations += 1;
    });
  }

  /**
   * Counts the Graph requests of an attempt that failed (the queue will retry it), so `requests` and
   * `throttled` include every request sent; `reason` is kept for the poison handler.
   */
  recordFailedAttempt(
    tenantId: string,
    runId: string,
    attempt: string,
    work: AttemptCounters,
    reason: string,
  ): Promise<RunSummary> {
    const kept: KeptAttempt = { marker: `failed_${attempt}`, work: sentBy(work), fields: { reason } };
    return this.#recorded(tenantId, runId, (partitionKey) => this.#writeKept(partitionKey, kept), kept);
  }

  /** The reason of the newest failed attempt of a piece of work, for the poison handler. */
  lastFailure(tenantId: string, runId: string, prefix: string): Promise<string | undefined> {
    return this.#recorded(tenantId, runId, async (partitionKey) => {
      let reason: string | undefined;
      for await (const row of this.#table.listEntities<{ reason?: string }>({
        queryOptions: {
          filter: odata`PartitionKey eq ${partitionKey} and RowKey ge ${`failed_${prefix}`} and RowKey lt ${`failed_${prefix}~`}`,
        },
      })) {
        if (typeof row.reason === 'string') reason = row.reason;
      }
      return reason;
    });
  }

  /** Adds counters found while finishing the run (the sweep of users that left), once per run. */
  recordFinish(tenantId: string, runId: string, work: Partial<WorkCounters>): Promise<RunSummary> {
    return this.#recorded(tenantId, runId, (partitionKey) => this.#write(partitionKey, 'finish', work));
  }

  /**
   * A piece of work (the listing, a batch): its counters once per piece, and what this attempt sent once per
   * attempt. The piece's marker and the attempt's are created together; an attempt that finds its piece recorded
   * by another adds only what it sent, under its own marker.
   */
  #recordPiece(
    tenantId: string,
    runId: string,
    marker: string,
    work: Partial<WorkCounters>,
    attempt: string,
    change: (summary: RunSummary) => void,
  ): Promise<RunSummary> {
    const sent: KeptAttempt = { marker: `attempt_${attempt}`, work: sentBy(work), fields: {} };
    return this.#recorded(
      tenantId,
      runId,
      (partitionKey) =>
        this.#write(partitionKey, marker, work, {
          change,
          alsoMarker: sent.marker,
          whenRecorded: () => this.#writeKept(partitionKey, sent),
        }),
      sent.work.requests > 0 || sent.work.roundTrips > 0 ? sent : undefined,
    );
  }

  /**
   * Runs `work` on the run's partition once the attempts this process kept for the run are recorded. If it fails,
   * `onFailure` (what the calling attempt sent) is kept for the run's next write: those requests reached Graph
   * whether or not this write landed.
   */
  async #recorded<T>(
    tenantId: string,
    runId: string,
    work: (partitionKey: string) => Promise<T>,
    onFailure?: KeptAttempt,
  ): Promise<T> {
    const partitionKey = RunProgress.partition(tenantId, runId);
    try {
      await this.#ensure();
      await this.#recordKept(partitionKey);
      return await work(partitionKey);
    } catch (error) {
      if (onFailure) this.#keep(partitionKey, onFailure);
      throw error;
    }
  }

  #writeKept(partitionKey: string, kept: KeptAttempt): Promise<RunSummary> {
    return this.#write(partitionKey, kept.marker, kept.work, { fields: kept.fields });
  }

  #keep(partitionKey: string, attempt: KeptAttempt): void {
    const kept = this.#kept.get(partitionKey) ?? [];
    kept.push(attempt);
    this.#kept.set(partitionKey, kept);
    this.#keptCount += 1;
    // Bounded: past the cap the oldest attempt is dropped, and its requests go uncounted.
    while (this.#keptCount > MAX_KEPT_ATTEMPTS) {
      const oldest = this.#kept.entries().next();
      if (oldest.done) break;
      const [oldestPartition, attempts] = oldest.value;
      const dropped = attempts[0];
      if (dropped) this.#forget(oldestPartition, dropped);
      else this.#kept.delete(oldestPartition);
    }
  }

  #forget(partitionKey: string, attempt: KeptAttempt): void {
    const kept = this.#kept.get(partitionKey);
    const at = kept?.indexOf(attempt) ?? -1;
    if (!kept || at < 0) return;
    kept.splice(at, 1);
    this.#keptCount -= 1;
    if (kept.length === 0) this.#kept.delete(partitionKey);
  }

  /**
   * Records the kept attempts of a run, one replay per run at a time (a write that comes meanwhile waits for it, so
   * the summary it reads includes them). Best effort: an attempt that fails again stays kept, and the write that
   * called this goes on.
   */
  #recordKept(partitionKey: string): Promise<void> {
    if (!this.#kept.has(partitionKey)) return Promise.resolve();
    let replay = this.#replays.get(partitionKey);
    if (!replay) {
      replay = this.#replayKept(partitionKey).finally(() => this.#replays.delete(partitionKey));
      this.#replays.set(partitionKey, replay);
    }
    return replay;
  }

  async #replayKept(partitionKey: string): Promise<void> {
    for (;;) {
      const attempt = this.#kept.get(partitionKey)?.[0];
      if (!attempt) return;
      try {
        await this.#writeKept(partitionKey, attempt);
      } catch {
        return;
      }
      this.#forget(partitionKey, attempt);
    }
  }

  /**
   * Adds `work` to the run's summary and creates its marker in one transaction, unless the marker exists: then
   * `whenRecorded` decides.
   */
  async #write(
    partitionKey: string,
    marker: string,
    work: Partial<WorkCounters>,
    options: WriteOptions = {},
  ): Promise<RunSummary> {
    const { change, fields = {}, alsoMarker, whenRecorded = (current: RunSummary) => current } = options;
    for (let attempt = 0; ; attempt += 1) {
      const entity = await this.#table.getEntity<SummaryEntity>(partitionKey, SUMMARY);
      const current = toSummary(entity);
      if (await this.#hasMarker(partitionKey, marker)) return whenRecorded(current);
      const next: RunSummary = addWork({ ...current }, work) as RunSummary;
      change?.(next);
      const actions: TransactionAction[] = [
        ['update', { partitionKey, rowKey: SUMMARY, ...next }, 'Replace', { etag: entity.etag ?? '*' }],
        ['create', { partitionKey, rowKey: marker, ...work, ...fields }],
      ];
      if (alsoMarker) actions.push(['create', { partitionKey, rowKey: alsoMarker }]);
      try {
        await this.#table.submitTransaction(actions);
        return next;
      } catch (error) {
        // Another writer changed the summary (ETag) or recorded the same marker: read again and decide.
        if (attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)));
      }
    }
  }

  async #hasMarker(partitionKey: string, marker: string): Promise<boolean> {
    try {
      await this.#table.getEntity(partitionKey, marker);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }
}
