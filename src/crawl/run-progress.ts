import { odata } from '@azure/data-tables';
import type { TransactionAction } from '@azure/data-tables';
import type { GraphCounters } from '../graph/graph-types';
import { isConflict, isNotFound } from '../storage/storage-clients';
import type { RunCounters } from './crawl-runs';
import { ZERO_COUNTERS, addCounters } from './crawl-runs';
import { TableStore } from '../storage/table-store';

/** A run's counters and how many of its pieces of work are done. */
export interface RunSummary extends RunCounters {
  /** Batches the listing queued; known once `listingDone`. */
  batchesPlanned: number;
  /** Pieces done: planned batches and their continuations. */
  batchesDone: number;
  /** Continuations queued by batches that yielded before the Functions time limit (one more piece each). */
  continuations: number;
  listingDone: boolean;
}

type AttemptRow = { partitionKey: string; rowKey: string } & GraphCounters & Record<string, unknown>;
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
 * A run's bookkeeping in `CrawlProgress` (partition `<tenantId>_<runId>`; README, "Crawl bookkeeping"): a
 * row per attempt (`attempt_<id>`, its Graph requests, a plain upsert) and a marker per piece (`piece_<name>`,
 * its counters) created in one transaction with the ETag-guarded count row (`summary`). The Graph counters
 * (`requests`, `throttled`, `unitsSpent`) are final when summed from the attempt rows (`summary`,
 * `recordFinish`); until then the count row has those of the attempts that recorded their pieces.
 */
export class RunProgress extends TableStore {
  static partition(tenantId: string, runId: string): string {
    return `${tenantId}_${runId}`;
  }

  async start(tenantId: string, runId: string): Promise<void> {
    const row = { partitionKey: await this.#partition(tenantId, runId), rowKey: COUNT, ...toSummary({}) };
    await this.table.createEntity(row).catch((error: unknown) => {
      if (!isConflict(error)) throw error;
    });
  }

  /** The run's counters, with the Graph counters summed from every attempt's row. */
  async summary(tenantId: string, runId: string): Promise<RunSummary | undefined> {
    const partitionKey = await this.#partition(tenantId, runId);
    const count = await this.#read(partitionKey, COUNT);
    if (!count) return undefined;
    const total = { ...toSummary(count), requests: 0, throttled: 0, unitsSpent: 0 };
    for await (const row of this.#attempts(partitionKey, '', ['requests', 'throttled', 'unitsSpent']))
      addCounters(total, row);
    return total;
  }

  /**
   * Records a piece once: the listing (`batches` it queued) or a batch's part (0 as planned, then each
   * continuation; `continued`: it queued one more). An attempt that finds its piece recorded (a retry, a
   * duplicate delivery) writes only its own row.
   */
  async recordPiece(
    tenantId: string,
    runId: string,
    piece: { batches: number } | { batch: number; part?: number; continued?: boolean },
    work: Partial<RunCounters>,
    attempt: string,
  ): Promise<RunSummary> {
    const partitionKey = await this.#partition(tenantId, runId);
    const part = 'part' in piece && piece.part ? `_part${String(piece.part).padStart(4, '0')}` : '';
    const name = 'batches' in piece ? 'listing' : `batch_${String(piece.batch).padStart(6, '0')}${part}`;
    return this.#write(partitionKey, name, work, this.#attemptRow(partitionKey, attempt, work), (summary) => {
      if ('batches' in piece) Object.assign(summary, { batchesPlanned: piece.batches, listingDone: true });
      else summary.batchesDone += 1;
      if ('continued' in piece && piece.continued) summary.continuations += 1;
    });
  }

  /** Records what a failed attempt sent (its piece is retried) and why it failed, for the poison handler. */
  async recordFailedAttempt(tenantId: string, runId: string, id: string, sent: GraphCounters, why: string) {
    const row = this.#attemptRow(await this.#partition(tenantId, runId), id, sent);
    await this.table.upsertEntity({ ...row, reason: why }, 'Replace');
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
  async recordFinish(tenantId: string, runId: string, work: Partial<RunCounters>): Promise<RunSummary> {
    await this.#write(await this.#partition(tenantId, runId), 'finish', work, undefined);
    return (await this.summary(tenantId, runId)) ?? toSummary(work);
  }

  #attempts(partitionKey: string, prefix: string, select: string[]) {
    const from = `${ATTEMPT}${prefix}`;
    return this.table.listEntities<Partial<GraphCounters> & { reason?: string }>({
      queryOptions: {
        filter: odata`PartitionKey eq ${partitionKey} and RowKey ge ${from} and RowKey lt ${`${from}~`}`,
        select,
      },
    });
  }

  #attemptRow(partitionKey: string, id: string, sent: Partial<GraphCounters>): AttemptRow {
    const { requests = 0, throttled = 0, unitsSpent = 0 } = sent;
    return { partitionKey, rowKey: `${ATTEMPT}${id}`, requests, throttled, unitsSpent };
  }

  async #partition(tenantId: string, runId: string): Promise<string> {
    await this.ensure();
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
    work: Partial<RunCounters>,
    attemptRow: AttemptRow | undefined,
    change?: (summary: RunSummary) => void,
  ): Promise<RunSummary> {
    const { requests: _requests, throttled: _throttled, unitsSpent: _unitsSpent, ...counted } = work;
    const piece = `piece_${name}`;
    for (let round = 0; ; round += 1) {
      const entity = await this.table.getEntity<Partial<RunSummary>>(partitionKey, COUNT);
      if (await this.#read(partitionKey, piece)) {
        if (attemptRow) await this.table.upsertEntity(attemptRow, 'Replace');
        // Read again: the writer that recorded the piece may have done so after our first read.
        return toSummary((await this.#read(partitionKey, COUNT)) ?? entity);
      }
      const next = addCounters(toSummary(entity), { ...counted, ...attemptRow });
      change?.(next);
      const actions: TransactionAction[] = [
        ['update', { partitionKey, rowKey: COUNT, ...next }, 'Replace', { etag: entity.etag ?? '*' }],
        ['create', { partitionKey, rowKey: piece, ...counted }],
        ...(attemptRow ? [['upsert', attemptRow, 'Replace'] as TransactionAction] : []),
      ];
      try {
        await this.table.submitTransaction(actions);
        return next;
      } catch (error) {
        // Another writer changed the count row (ETag) or recorded the same piece: read again and decide.
        if (round >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (round + 1)));
      }
    }
  }

  #read(partitionKey: string, rowKey: string): Promise<Partial<RunSummary> | undefined> {
    return this.table.getEntity<Partial<RunSummary>>(partitionKey, rowKey).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
  }
}
