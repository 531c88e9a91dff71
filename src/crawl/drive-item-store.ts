import type { TableClient } from '@azure/data-tables';
import type { GraphDriveItem } from '../graph/graph-types';
import { ensureTable, isNotFound } from '../storage/storage-clients';
import type { PreparedEntity } from './table-batch';
import { readEntity, upsertPrepared, upsertTransaction } from './table-batch';

/** Table transactions take at most 100 operations, all in one partition. */
const TRANSACTION_LIMIT = 100;
/** Item IDs per index property (a string property holds 64 KiB; IDs are short). */
const IDS_PER_CHUNK = 1_000;
/** Past this many items the index would outgrow an entity: that user is reconciled by a partition query. */
const MAX_INDEXED_IDS = 20_000;

export interface ReconcileResult {
  itemsStored: number;
  itemsDeleted: number;
  transactions: number;
  entitiesInTransactions: number;
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

/** What the crawl needs from the item store (an interface, so the inline crawl can count what passes through). */
export interface DriveItemWriter {
  reconcileUsers(
    tenantId: string,
    users: ReadonlyArray<{ user: { id: string; upn: string }; items: readonly GraphDriveItem[] }>,
    runId: string,
    concurrency?: number,
  ): Promise<ReconcileResult>;
  sweepUsersNotSeen(tenantId: string, runId: string): Promise<number>;
}

/** The partition of a user's rows in `DriveItems` (contract). */
export function driveItemPartition(tenantId: string, userId: string): string {
  return `${tenantId}_${userId}`;
}

/**
 * One item's row in the Table service's JSON. A literal of one fixed shape (absent fields are `undefined`, which
 * `JSON.stringify` leaves out) keeps this monomorphic: it runs once per stored item.
 */
function driveItemRow(
  partitionKey: string,
  user: { id: string; upn: string },
  runId: string,
  item: GraphDriveItem,
): PreparedEntity {
  return {
    partitionKey,
    rowKey: item.id,
    json: JSON.stringify({
      PartitionKey: partitionKey,
      RowKey: item.id,
      userId: user.id,
      userPrincipalName: user.upn,
      name: item.name ?? '',
      size: String(Math.trunc(item.size ?? 0)),
      'size@odata.type': 'Edm.Int64',
      isFolder: item.folder !== undefined,
      webUrl: item.webUrl ?? '',
      eTag: item.eTag ?? '',
      lastModifiedDateTime: item.lastModifiedDateTime ?? '',
      runId,
      childCount: item.folder ? (item.folder.childCount ?? 0) : undefined,
      mimeType: item.file?.mimeType || undefined,
    }),
  };
}

/**
 * Keeps each user's `DriveItems` partition equal to their drive root. A small per-user index (table
 * `CrawlUserIndex`, one row per user, read by point lookup) remembers which item IDs were stored, so finding
 * what vanished never needs a partition query (FACTS.md: Azurite scans the whole table for any query, and the
 * point lookup is also the cheaper call in Azure). The index is widened to old ∪ new before any change and
 * narrowed after, so a crash at any point leaves no row untracked, and a retry converges.
 */
export class DriveItemStore implements DriveItemWriter {
  readonly #items: TableClient;
  readonly #index: TableClient;
  #ready: Promise<void> | undefined;

  constructor(items: TableClient, index: TableClient) {
    this.#items = items;
    this.#index = index;
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

  /** Makes the user's rows exactly `items` (none for a user without a OneDrive), stamped with `runId`. */
  async reconcileUser(
    tenantId: string,
    user: { id: string; upn: string },
    items: readonly GraphDriveItem[],
    runId: string,
  ): Promise<ReconcileResult> {
    return this.reconcileUsers(tenantId, [{ user, items }], runId, 1);
  }

  /**
   * Reconciles several users of one tenant at once. Their index rows share the tenant's partition, so widening
   * and narrowing them takes one transaction per 100 users instead of one write per user.
   */
  async reconcileUsers(
    tenantId: string,
    users: ReadonlyArray<{ user: { id: string; upn: string }; items: readonly GraphDriveItem[] }>,
    runId: string,
    concurrency = 8,
  ): Promise<ReconcileResult> {
    await this.#ensure();
    const total: ReconcileResult = {
      itemsStored: 0,
      itemsDeleted: 0,
      transactions: 0,
      entitiesInTransactions: 0,
    };
    // A user with no items now (no OneDrive, or an empty root) has nothing to write: whatever rows they had go in
    // the end-of-run sweep (their index row keeps an older run ID), which saves a point read per such user.
    const plans = await Promise.all(
      users
        .filter(({ items }) => items.length > 0)
        .map(async ({ user, items }) => {
          const previous = await this.#storedIds(tenantId, user.id);
          const current = new Set(items.map((item) => item.id));
          return {
            user,
            items,
            current,
            previous,
            gone: [...previous].filter((id) => !current.has(id)),
            widened: [...current].some((id) => !previous.has(id))
              ? new Set([...previous, ...current])
              : undefined,
          };
        }),
    );

    // 1. Widen the index to old ∪ new before any row changes, so a crash leaves no stored row untracked. A user
    //    with nothing to delete gets the final row at once (old ⊆ new), stamped with the run: its retry or the
    //    next run reads the same IDs back, so no narrowing write is needed (one index write per user, not two).
    await this.#writeIndexes(
      tenantId,
      plans.flatMap(
        (plan): Array<{ user: { id: string; upn: string }; ids: Set<string>; runId: string | undefined }> =>
          plan.gone.length === 0
            ? [{ user: plan.user, ids: plan.current, runId }]
            : plan.widened
              ? [{ user: plan.user, ids: plan.widened, runId: undefined }]
              : [],
      ),
    );

    // 2. Upsert each user's items (transactions of up to 100 in the user's partition), delete what vanished.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < plans.length) {
        const plan = plans[next++]!;
        const partitionKey = driveItemPartition(tenantId, plan.user.id);
        for (let start = 0; start < plan.items.length; start += TRANSACTION_LIMIT) {
          const entities = plan.items
            .slice(start, start + TRANSACTION_LIMIT)
            .map((item) => driveItemRow(partitionKey, plan.user, runId, item));
          await upsertPrepared(this.#items, entities, 'Replace');
          total.transactions += 1;
          total.entitiesInTransactions += entities.length;
        }
        // One by one: in a transaction, one row already deleted by a crashed attempt would fail them all.
        for (const id of plan.gone) await this.#deleteItem(partitionKey, id);
        total.itemsStored += plan.items.length;
        total.itemsDeleted += plan.gone.length;
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

  /**
   * Removes the rows of users the run did not see (no longer licensed, or gone): every indexed user whose index
   * row carries another run ID. Returns how many item rows were removed.
   */
  async sweepUsersNotSeen(tenantId: string, runId: string): Promise<number> {
    await this.#ensure();
    let deleted = 0;
    const stale: IndexEntity[] = [];
    for await (const row of this.#index.listEntities<IndexEntity>({
      queryOptions: { filter: `PartitionKey eq '${tenantId}'` },
    })) {
      if (row.runId !== runId) stale.push(row);
    }
    for (const row of stale) {
      const ids = await this.#idsOf(tenantId, row.rowKey, row);
      for (const id of ids) await this.#deleteItem(driveItemPartition(tenantId, row.rowKey), id);
      deleted += ids.size;
      try {
        await this.#index.deleteEntity(tenantId, row.rowKey);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return deleted;
  }

  async #deleteItem(partitionKey: string, id: string): Promise<void> {
    try {
      await this.#items.deleteEntity(partitionKey, id);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async #storedIds(tenantId: string, userId: string): Promise<Set<string>> {
    // The lean read answers undefined for a 404 instead of throwing (most users have no index row yet).
    const row = (await readEntity(this.#index, tenantId, userId)) as IndexEntity | undefined;
    return row ? this.#idsOf(tenantId, userId, row) : new Set();
  }

  async #idsOf(tenantId: string, userId: string, row: IndexEntity): Promise<Set<string>> {
    if (row.overflow) {
      const ids = new Set<string>();
      for await (const entity of this.#items.listEntities({
        queryOptions: {
          filter: `PartitionKey eq '${driveItemPartition(tenantId, userId)}'`,
          select: ['RowKey'],
        },
      })) {
        if (entity.rowKey) ids.add(entity.rowKey);
      }
      return ids;
    }
    const ids = new Set<string>();
    for (let chunk = 0; ; chunk += 1) {
      const value = row[`ids${chunk}`];
      if (typeof value !== 'string') break;
      if (value !== '') for (const id of value.split('\n')) ids.add(id);
    }
    return ids;
  }

  /** Writes index rows of one tenant, 100 to a transaction (one partition); `runId` undefined keeps the old one. */
  async #writeIndexes(
    tenantId: string,
    rows: ReadonlyArray<{ user: { id: string; upn: string }; ids: Set<string>; runId: string | undefined }>,
  ): Promise<void> {
    const actions = rows.map(({ user, ids, runId }) => {
      const list = [...ids];
      const overflow = list.length > MAX_INDEXED_IDS;
      const entity: Record<string, unknown> = {
        partitionKey: tenantId,
        rowKey: user.id,
        userPrincipalName: user.upn,
        count: list.length,
        overflow,
      };
      if (!overflow) {
        for (let chunk = 0; chunk * IDS_PER_CHUNK < list.length || chunk === 0; chunk += 1) {
          entity[`ids${chunk}`] = list.slice(chunk * IDS_PER_CHUNK, (chunk + 1) * IDS_PER_CHUNK).join('\n');
        }
      }
      if (runId === undefined) {
        // Widening merges and keeps the previous run ID: an interrupted user still belongs to the run that saw it.
        return { entity: entity as { partitionKey: string; rowKey: string }, mode: 'Merge' as const };
      }
      entity.runId = runId;
      return { entity: entity as { partitionKey: string; rowKey: string }, mode: 'Replace' as const };
    });
    for (const mode of ['Merge', 'Replace'] as const) {
      const entities = actions.filter((action) => action.mode === mode).map((action) => action.entity);
      for (let start = 0; start < entities.length; start += TRANSACTION_LIMIT) {
        await upsertTransaction(this.#index, entities.slice(start, start + TRANSACTION_LIMIT), mode);
      }
    }
  }
}
