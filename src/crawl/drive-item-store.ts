import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { ensureTable, isNotFound } from '../storage/storage-clients';
import { TABLE_BUDGET, TABLE_LIMITS, transactionChunks } from '../storage/table-limits';
import { readEntity, upsertPrepared, upsertTransaction } from '../storage/table-batch';
import type { DriveOwner, PreparedRow, PreparedUser } from './drive-item-rows';
import { driveItemPartition } from './drive-item-rows';

export type { DriveOwner, PreparedRow, PreparedUser } from './drive-item-rows';
export { driveItemPartition, prepareRows } from './drive-item-rows';

/**
 * Characters of item IDs per index property: a string property holds 32,768 UTF-16 characters (docs/table-limits.md);
 * a little less leaves room for the separators of the last ID.
 */
const INDEX_CHUNK_CHARS = 32_000;
/**
 * Characters of item IDs (separators included) that one index row holds within an entity's 1 MiB: about 13,900
 * IDs of Graph's 34 characters. A user with more is reconciled by a partition query instead.
 */
const INDEX_CAPACITY_CHARS = Math.floor((TABLE_BUDGET.entityBytes - 4_096) / 2);

/** What a rewrite of users' rows left and changed. */
export interface ReconcileResult {
  /** Rows the users have once the rewrite is done. */
  itemsStored: number;
  itemsDeleted: number;
}

/** A reconcile of several users: the totals, and the rows each user planned has after it. */
export interface UsersReconciled extends ReconcileResult {
  /** Rows per user, for the users whose rows were read (a delta with no changes is not). */
  rowsOf: Map<string, number>;
}

export const ZERO_RECONCILE: Readonly<ReconcileResult> = { itemsStored: 0, itemsDeleted: 0 };

function addReconcile(into: ReconcileResult, more: ReconcileResult): void {
  into.itemsStored += more.itemsStored;
  into.itemsDeleted += more.itemsDeleted;
}

interface IndexEntity {
  partitionKey: string;
  rowKey: string;
  userPrincipalName: string;
  runId: string;
  count: number;
  /** True when the IDs did not fit: read the user's partition instead. */
  overflow: boolean;
  [chunk: `ids${number}`]: string;
  etag?: string;
}

/** One user's rows rewritten page by page (see `PagedRewrite`). */
export interface UserRewrite {
  /** Writes rows of the user (checked and without repeats: `prepareRows`). */
  write(rows: readonly PreparedRow[]): Promise<void>;
  /** Deletes what the listing no longer has and records the rows as the user's, stamped with the run. */
  finish(): Promise<ReconcileResult>;
}

/** What the crawl needs from the item store (an interface, so the inline crawl can count what passes through). */
export interface DriveItemWriter {
  /**
   * Makes each user's rows exactly `rows` (a whole listing in hand), or, for a user with `removed` (a delta's
   * changes), upserts `rows` and removes `removed`, keeping the rest.
   */
  reconcileUsers(
    tenantId: string,
    users: readonly PreparedUser[],
    runId: string,
    concurrency?: number,
  ): Promise<UsersReconciled>;
  /** Starts rewriting one user whose listing arrives page by page. */
  beginUser(tenantId: string, user: DriveOwner, runId: string): Promise<UserRewrite>;
  /**
   * Removes the rows of users the run did not see, except `keep` (users skipped this run, and users whose delta
   * cursor the run saved).
   */
  sweepUsersNotSeen(tenantId: string, runId: string, keep: ReadonlySet<string>): Promise<number>;
  /**
   * The stored descendants of the folders among `ids` (the rows whose `parentId` leads to one of them), for a
   * delta that reports only a deleted folder (docs/delta.md).
   */
  descendantsOf(tenantId: string, userId: string, ids: readonly string[]): Promise<string[]>;
}

/** The index properties of a set of IDs: chunks of whole IDs, or `overflow` when they do not fit one entity. */
export function indexProperties(
  ids: Iterable<string>,
  capacityChars = INDEX_CAPACITY_CHARS,
): {
  count: number;
  overflow: boolean;
  chunks: string[];
} {
  const list = [...ids];
  const chunks: string[] = [];
  let chunk: string[] = [];
  let chunkChars = 0;
  let total = 0;
  for (const id of list) {
    total += id.length + 1;
    if (total > capacityChars) return { count: list.length, overflow: true, chunks: [] };
    if (chunkChars + id.length + 1 > INDEX_CHUNK_CHARS && chunk.length > 0) {
      chunks.push(chunk.join('\n'));
      chunk = [];
      chunkChars = 0;
    }
    chunk.push(id);
    chunkChars += id.length + 1;
  }
  chunks.push(chunk.join('\n'));
  if (chunks.length > TABLE_LIMITS.properties - 8) return { count: list.length, overflow: true, chunks: [] };
  return { count: list.length, overflow: false, chunks };
}

/** An index row to write; `runId` undefined widens (merges, keeping the run that last saw the user). */
interface IndexWrite {
  user: DriveOwner;
  ids: Iterable<string>;
  runId: string | undefined;
}

/**
 * Keeps each user's `DriveItems` partition equal to their drive root. A small per-user index (table
 * `CrawlUserIndex`, one row per user, read by point lookup) remembers which item IDs were stored, so finding
 * what vanished never needs a partition query (docs/table-limits.md: Azurite scans the whole table for any query,
 * and the point lookup is also the cheaper call in Azure). The index is widened to old ∪ new before any change and
 * narrowed after, so a crash at any point leaves no row untracked, and a retry converges. A user whose IDs do not
 * fit one index row (about 13,900 of Graph's IDs) is marked `overflow` and read back by a partition query.
 */
export class DriveItemStore implements DriveItemWriter {
  readonly #items: TableClient;
  readonly #index: TableClient;
  readonly #indexCapacityChars: number;
  #ready: Promise<void> | undefined;

  /** `indexCapacityChars`: where a user's index overflows (lower only to test the overflow at small sizes). */
  constructor(items: TableClient, index: TableClient, options: { indexCapacityChars?: number } = {}) {
    this.#items = items;
    this.#index = index;
    this.#indexCapacityChars = options.indexCapacityChars ?? INDEX_CAPACITY_CHARS;
    // These two clients carry a request per user and a transaction per 100 items. The product registers no
    // OpenTelemetry tracer, so the SDK's span bookkeeping on each request goes nowhere; it cost ~1.5% of the
    // crawl's CPU on the benchmark's large tenant. (Add it back here if the app ever exports traces.)
    for (const client of [items, index]) client.pipeline.removePolicy({ name: 'tracingPolicy' });
  }

  #ensure(): Promise<void> {
    this.#ready ??= Promise.all([ensureTable(this.#items), ensureTable(this.#index)])
      .then(() => undefined)
      .catch((error: unknown) => {
        this.#ready = undefined;
        throw error;
      });
    return this.#ready;
  }

  /**
   * Reconciles several users of one tenant whose listings are whole. Their index rows share the tenant's
   * partition, so widening and narrowing them takes one transaction per 100 users instead of one write per user.
   */
  async reconcileUsers(
    tenantId: string,
    users: readonly PreparedUser[],
    runId: string,
    concurrency = 8,
  ): Promise<UsersReconciled> {
    await this.#ensure();
    const total: UsersReconciled = { ...ZERO_RECONCILE, rowsOf: new Map() };
    const plans = (
      await Promise.all(
        users.map(async ({ user, rows, removed }) => {
          const written = new Set(rows.map((row) => row.rowKey));
          // A delta with nothing in it changes nothing: no read, no write.
          if (removed !== undefined && written.size === 0 && removed.length === 0) return undefined;
          const previous = await this.#storedIds(tenantId, user.id);
          let current = written;
          if (removed !== undefined) {
            current = new Set([...previous, ...written]);
            for (const id of removed) if (!written.has(id)) current.delete(id);
          }
          const widens = [...written].some((id) => !previous.has(id));
          const gone = [...previous].filter((id) => !current.has(id));
          total.itemsStored += current.size;
          total.rowsOf.set(user.id, current.size);
          return {
            user,
            rows,
            current,
            gone,
            widened: widens ? new Set([...previous, ...written]) : undefined,
            // A whole listing stamps the index with the run; a delta that adds and removes nothing leaves it be.
            indexed:
              removed === undefined ? current.size > 0 || previous.size > 0 : widens || gone.length > 0,
          };
        }),
      )
    ).filter((plan) => plan !== undefined);

    // 1. Widen the index to old ∪ new before any row changes, so a crash leaves no stored row untracked. A user
    //    with nothing to delete gets the final row at once (old ⊆ new), stamped with the run: its retry or the
    //    next run reads the same IDs back, so no narrowing write is needed (one index write per user, not two).
    await this.#writeIndexes(
      tenantId,
      plans.flatMap((plan): IndexWrite[] =>
        !plan.indexed
          ? []
          : plan.gone.length === 0
            ? [{ user: plan.user, ids: plan.current, runId }]
            : plan.widened
              ? [{ user: plan.user, ids: plan.widened, runId: undefined }]
              : [],
      ),
    );

    // 2. Upsert each user's rows, delete what vanished.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < plans.length) {
        const plan = plans[next++]!;
        await this.#writeRows(plan.rows);
        addReconcile(total, await this.#deleteRows(tenantId, plan.user.id, plan.gone));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, worker));

    // 3. Narrow the index of users who lost items to exactly the current ones, stamped with the run that saw them.
    await this.#writeIndexes(
      tenantId,
      plans
        .filter((plan) => plan.gone.length > 0)
        .map((plan) => ({ user: plan.user, ids: plan.current, runId })),
    );
    return total;
  }

  async beginUser(tenantId: string, user: DriveOwner, runId: string): Promise<UserRewrite> {
    await this.#ensure();
    const previous = await this.#storedIds(tenantId, user.id);
    return new PagedRewrite({
      previous,
      writeRows: (rows) => this.#writeRows(rows),
      deleteRows: (ids) => this.#deleteRows(tenantId, user.id, ids),
      writeIndex: (ids, run) => this.#writeIndexes(tenantId, [{ user, ids, runId: run }]),
      runId,
    });
  }

  /**
   * Removes the rows of users the run did not see (no longer licensed, or gone): every indexed user whose index
   * row carries another run ID, except the users in `keep` (skipped this run: their rows stay as they were).
   * Returns how many item rows were removed.
   */
  async sweepUsersNotSeen(tenantId: string, runId: string, keep: ReadonlySet<string>): Promise<number> {
    await this.#ensure();
    let deleted = 0;
    const stale: IndexEntity[] = [];
    for await (const row of this.#index.listEntities<IndexEntity>({
      queryOptions: { filter: odata`PartitionKey eq ${tenantId}` },
    })) {
      if (row.runId !== runId && !keep.has(row.rowKey)) stale.push(row);
    }
    for (const row of stale) {
      const ids = await this.#idsOf(tenantId, row.rowKey, row);
      deleted += (await this.#deleteRows(tenantId, row.rowKey, [...ids])).itemsDeleted;
      try {
        await this.#index.deleteEntity(tenantId, row.rowKey);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return deleted;
  }

  /** Upserts rows of one partition in transactions within Table Storage's count and size limits. */
  async #writeRows(rows: readonly PreparedRow[]): Promise<void> {
    for (const chunk of transactionChunks(rows, (row) => row.bytes)) {
      await upsertPrepared(this.#items, chunk, 'Replace');
    }
  }

  async descendantsOf(tenantId: string, userId: string, ids: readonly string[]): Promise<string[]> {
    await this.#ensure();
    const partitionKey = driveItemPartition(tenantId, userId);
    const found: string[] = [];
    // Only a stored folder can have stored descendants: a point read tells, before any query.
    let folders: string[] = [];
    for (const id of ids) {
      const row = await readEntity(this.#items, partitionKey, id);
      if (row?.isFolder === true) folders.push(id);
    }
    while (folders.length > 0) {
      const next: string[] = [];
      for (const folder of folders) {
        for await (const child of this.#items.listEntities<{ isFolder?: boolean }>({
          queryOptions: {
            filter: odata`PartitionKey eq ${partitionKey} and parentId eq ${folder}`,
            select: ['RowKey', 'isFolder'],
          },
        })) {
          if (!child.rowKey) continue;
          found.push(child.rowKey);
          if (child.isFolder === true) next.push(child.rowKey);
        }
      }
      folders = next;
    }
    return found;
  }

  /** Deletes rows one by one: in a transaction, one row already deleted by a crashed attempt would fail them all. */
  async #deleteRows(tenantId: string, userId: string, ids: readonly string[]): Promise<ReconcileResult> {
    const partitionKey = driveItemPartition(tenantId, userId);
    for (const id of ids) {
      try {
        await this.#items.deleteEntity(partitionKey, id);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return { ...ZERO_RECONCILE, itemsDeleted: ids.length };
  }

  async #storedIds(tenantId: string, userId: string): Promise<Set<string>> {
    // The lean read answers undefined for a 404 instead of throwing (most users have no index row yet).
    const row = (await readEntity(this.#index, tenantId, userId)) as IndexEntity | undefined;
    return row ? this.#idsOf(tenantId, userId, row) : new Set();
  }

  async #idsOf(tenantId: string, userId: string, row: IndexEntity): Promise<Set<string>> {
    const ids = new Set<string>();
    if (row.overflow) {
      for await (const entity of this.#items.listEntities({
        queryOptions: {
          filter: odata`PartitionKey eq ${driveItemPartition(tenantId, userId)}`,
          select: ['RowKey'],
        },
      })) {
        if (entity.rowKey) ids.add(entity.rowKey);
      }
      return ids;
    }
    for (let chunk = 0; ; chunk += 1) {
      const value = row[`ids${chunk}`];
      if (typeof value !== 'string') break;
      if (value !== '') for (const id of value.split('\n')) ids.add(id);
    }
    return ids;
  }

  /** Writes index rows of one tenant in transactions of one partition within the count and size limits. */
  async #writeIndexes(tenantId: string, writes: readonly IndexWrite[]): Promise<void> {
    const actions = writes.map(({ user, ids, runId }) => {
      const { count, overflow, chunks } = indexProperties(ids, this.#indexCapacityChars);
      const entity: Record<string, unknown> = {
        partitionKey: tenantId,
        rowKey: user.id,
        userPrincipalName: user.upn,
        count,
        overflow,
      };
      chunks.forEach((chunk, index) => (entity[`ids${index}`] = chunk));
      // Widening merges and keeps the previous run ID: an interrupted user still belongs to the run that saw it.
      if (runId !== undefined) entity.runId = runId;
      const bytes = 2 * chunks.reduce((sum, chunk) => sum + chunk.length, 0) + 1_024;
      return {
        entity: entity as { partitionKey: string; rowKey: string },
        mode: runId === undefined ? ('Merge' as const) : ('Replace' as const),
        bytes,
      };
    });
    for (const mode of ['Merge', 'Replace'] as const) {
      const ofMode = actions.filter((action) => action.mode === mode);
      for (const chunk of transactionChunks(ofMode, (action) => action.bytes)) {
        await upsertTransaction(
          this.#index,
          chunk.map((action) => action.entity),
          mode,
        );
      }
    }
  }
}

interface UserRewriteParts {
  previous: ReadonlySet<string>;
  writeRows(rows: readonly PreparedRow[]): Promise<void>;
  deleteRows(ids: readonly string[]): Promise<ReconcileResult>;
  writeIndex(ids: Iterable<string>, runId: string | undefined): Promise<void>;
  runId: string;
}

/**
 * One user's rows rewritten page by page, for roots too large to hold whole: each write first widens the user's
 * index to the stored IDs plus every ID written so far (the same crash rule as `reconcileUsers`); `finish` deletes
 * what the listing no longer has and narrows the index. Until `finish`, nothing of the user is deleted, so a user
 * whose listing fails half-way keeps every row (those already written hold current items).
 */
class PagedRewrite implements UserRewrite {
  readonly #parts: UserRewriteParts;
  readonly #written = new Set<string>();
  /** Whether the index already covers every ID written (`previous` ⊇ written). */
  #widened: ReadonlySet<string>;
  readonly #result = { ...ZERO_RECONCILE };

  constructor(parts: UserRewriteParts) {
    this.#parts = parts;
    this.#widened = parts.previous;
  }

  async write(rows: readonly PreparedRow[]): Promise<void> {
    if (rows.length === 0) return;
    for (const row of rows) this.#written.add(row.rowKey);
    if (rows.some((row) => !this.#widened.has(row.rowKey))) {
      const widened = new Set([...this.#parts.previous, ...this.#written]);
      await this.#parts.writeIndex(widened, undefined);
      this.#widened = widened;
    }
    await this.#parts.writeRows(rows);
  }

  /** Deletes what the listing no longer has and narrows the index to what it has, stamped with the run. */
  async finish(): Promise<ReconcileResult> {
    const gone = [...this.#parts.previous].filter((id) => !this.#written.has(id));
    addReconcile(this.#result, await this.#parts.deleteRows(gone));
    await this.#parts.writeIndex(this.#written, this.#parts.runId);
    return { ...this.#result, itemsStored: this.#written.size };
  }
}
