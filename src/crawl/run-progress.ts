import { odata } from '@azure/data-tables';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import type { GraphCounters } from '../graph/graph-types';
import { isConflict, isNotFound, tableCreatedOnce } from '../storage/storage-clients';
import type { RunCounters } from './crawl-runs';
import { ZERO_COUNTERS, addCounters } from './crawl-runs';

/** A run's counters and how many of its pieces of work are done. */
export interface RunSummary extends RunCounters {
  /** Batches the listing queued; known once `listingDone`. */
  batchesPlanned: number;
  /** Pieces done: planned batches and their continuations. */
  batchesDone: number;
  /** Continuations queued by batches that yielded before the Functions time limit (each is one more piece). */
  continuations: number;
  listingDone: boolean;
}

/** What a piece of work counted, and what the attempt recording it sent to Graph. */
export type PieceWork = Partial<RunCounters>;

/** An attempt's row: what it sent to Graph. */
type AttemptRow = { partitionKey: string; rowKey: string; requests: number; throttled: number };

const COUNT = 'summary';
const ATTEMPT = 'attempt_';

function toSummary(row: Partial<RunSummary>): RunSummary {
  return {
    ...addCounters({ ...ZERO_COUNTERS }, row),
    batchesPlanned: Number(row.batchesPlanned ?? 0),
    batchesDone: Number(row.batchesDone ?? 0),
    continuations: Number(row.continuations ?? 0),
    listingDone: row.listingDone === true,
  };
}

/**
 * Bookkeeping of one run in the `CrawlProgress` table (partition `<tenantId>_<runId>`), in records that carry their
 * own counters (README, "Crawl bookkeeping"): one row per attempt (`attempt_<id>`, its Graph requests, a plain
 * upsert), and one marker per piece of work (`piece_<name>`, what it counted) created in one transaction with the
 * ETag-guarded count row (`summary`), which adds the piece's counters and counts pieces done. `requests` and
 * `throttled` are final when summed from the attempt rows (`summary`, `recordFinish`); while the run goes, the count
 * row has those of the attempts that recorded their pieces.
 */
export class RunProgress {
  readonly #table: TableClient;
  readonly #ensure: () => Promise<void>;

  constructor(table: TableClient) {
    this.#table = table;
    this.#ensure = tableCreatedOnce(table);
  }

  static partition(tenantId: string, runId: string): string {
    return `${tenantId}_${runId}`;
  }

  async start(tenantId: string, runId: string): Promise<void> {
    const row = { partitionKey: await this.#partition(tenantId, runId), rowKey: COUNT, ...toSummary({}) };
    await this.#table.createEntity(row).catch((error: unknown) => {
      if (!isConflict(error)) throw error;
    });
  }

  /** The run's counters, with `requests` and `throttled` summed from every attempt's row. */
  async summary(tenantId: string, runId: string): Promise<RunSummary | undefined> {
    const partitionKey = await this.#partition(tenantId, runId);
    const count = await this.#read(partitionKey, COUNT);
    if (!count) return undefined;
    const total = { ...toSummary(count), requests: 0, throttled: 0 };
    for await (const row of this.#attempts(partitionKey, '', ['requests', 'throttled']))
      addCounters(total, row);
    return total;
  }

  /**
   * Records a finished piece of work once: the users listing (`batches`: how many it queued) or a piece of a batch
   * (`part` 0 is the batch as planned, each continuation the next; `continued`: it queued one more). An attempt that
   * finds its piece recorded already (a retry whose first write landed unseen, a duplicate delivery) writes only its
   * own row.
   */
  async recordPiece(
    tenantId: string,
    runId: string,
    piece: { batches: number } | { batch: number; part?: number; continued?: boolean },
    work: PieceWork,
    attempt: string,
  ): Promise<RunSummary> {
    const partitionKey = await this.#partition(tenantId, runId);
    const name =
      'batches' in piece
        ? 'listing'
        : `batch_${String(piece.batch).padStart(6, '0')}${piece.part ? `_part${String(piece.part).padStart(4, '0')}` : ''}`;
    return this.#write(partitionKey, name, work, this.#attemptRow(partitionKey, attempt, work), (summary) => {
      if ('batches' in piece) Object.assign(summary, { batchesPlanned: piece.batches, listingDone: true });
      else summary.batchesDone += 1;
      if ('continued' in piece && piece.continued) summary.continuations += 1;
    });
  }

  /** Records what a failed attempt sent (the queue retries its piece) and why it failed, for the poison handler. */
  async recordFailedAttempt(
    tenantId: string,
    runId: string,
    id: string,
    sent: GraphCounters,
    reason: string,
  ) {
    const row = this.#attemptRow(await this.#partition(tenantId, runId), id, sent);
    await this.#table.upsertEntity({ ...row, reason }, 'Replace');
  }

  /** The reason of the newest failed attempt whose ID starts with `prefix`, for the poison handler. */
  async lastFailure(tenantId: string, runId: string, prefix: string): Promise<string | undefined> {
    let reason: string | undefined;
    for await (const row of this.#attempts(await this.#partition(tenantId, runId), prefix, ['reason'])) {
      if (typeof row.reason === 'string' && row.reason) reason = row.reason;
    }
    return reason;
  }

  /** Adds what finishing the run counted (the sweep of users that left), once; returns the final counters. */
  async recordFinish(tenantId: string, runId: string, work: PieceWork): Promise<RunSummary> {
    await this.#write(await this.#partition(tenantId, runId), 'finish', work, undefined);
    return (await this.summary(tenantId, runId)) ?? toSummary(work);
  }

  #attempts(partitionKey: string, prefix: string, select: string[]) {
    const from = `${ATTEMPT}${prefix}`;
    return this.#table.listEntities<Partial<GraphCounters> & { reason?: string }>({
      queryOptions: {
        filter: odata`PartitionKey eq ${partitionKey} and RowKey ge ${from} and RowKey lt ${`${from}~`}`,
        select,
      },
    });
  }

  #attemptRow(partitionKey: string, id: string, sent: Partial<GraphCounters>): AttemptRow {
    const { requests = 0, throttled = 0 } = sent;
    return { partitionKey, rowKey: `${ATTEMPT}${id}`, requests, throttled };
  }

  /** The run's partition, once the table exists. */
  async #partition(tenantId: string, runId: string): Promise<string> {
    await this.#ensure();
    return RunProgress.partition(tenantId, runId);
  }

  /**
   * Creates the piece's marker with its counters, adds them to the count row (then `change`) and upserts the
   * attempt's row, in one transaction; if the piece is recorded already, only the attempt's row is written.
   * Concurrent writers serialise on the count row's ETag.
   */
  async #write(
    partitionKey: string,
    name: string,
    work: PieceWork,
    attemptRow: AttemptRow | undefined,
    change?: (summary: RunSummary) => void,
  ): Promise<RunSummary> {
    const { requests: _requests, throttled: _throttled, ...counted } = work;
    const piece = `piece_${name}`;
    for (let round = 0; ; round += 1) {
      const entity = await this.#table.getEntity<Partial<RunSummary>>(partitionKey, COUNT);
      const current = toSummary(entity);
      if (await this.#read(partitionKey, piece)) {
        if (attemptRow) await this.#table.upsertEntity(attemptRow, 'Replace');
        // Read again: the writer that recorded the piece may have done so after our first read.
        return toSummary((await this.#read(partitionKey, COUNT)) ?? entity);
      }
      const next = addCounters({ ...current }, { ...counted, ...attemptRow });
      change?.(next);
      const actions: TransactionAction[] = [
        ['update', { partitionKey, rowKey: COUNT, ...next }, 'Replace', { etag: entity.etag ?? '*' }],
        ['create', { partitionKey, rowKey: piece, ...counted }],
        ...(attemptRow ? [['upsert', attemptRow, 'Replace'] as TransactionAction] : []),
      ];
      try {
        await this.#table.submitTransaction(actions);
        return next;
      } catch (error) {
        // Another writer changed the count row (ETag) or recorded the same piece: read again and decide.
        if (round >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (round + 1)));
      }
    }
  }

  /** A row, or undefined when there is none. */
  #read(partitionKey: string, rowKey: string): Promise<Partial<RunSummary> | undefined> {
    return this.#table.getEntity<Partial<RunSummary>>(partitionKey, rowKey).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
  }
}
