import { odata } from '@azure/data-tables';
import { isNotFound } from '../storage/storage-clients';
import { readEntity, upsertTransaction } from '../storage/table-batch';
import { transactionChunks } from '../storage/table-limits';
import { TableStore } from '../storage/table-store';

import type { CrawlScope } from '../config';
import { CRAWL_SCOPES } from '../config';

export type { CrawlScope } from '../config';
export { CRAWL_SCOPES } from '../config';

/**
 * Where a user's drive stands (a row of `DriveCursors`, docs/delta.md): the drive and root it was read from, the
 * delta link that follows on from what is stored, and how many rows the user has once its changes are stored.
 * Saved only after those changes are, so a crash anywhere before replays changes (harmless) and never skips one.
 */
export interface DriveCursor {
  userId: string;
  driveId: string;
  rootId: string;
  /** The scope the rows were kept in: a cursor of the other scope is never followed. */
  scope: CrawlScope;
  deltaLink: string;
  /** Rows of the user in `DriveItems` after the changes up to `deltaLink`. */
  items: number;
  /** The run that saved it: a cursor the finished run did not save belongs to a user it did not see. */
  runId: string;
  savedAt: string;
}

interface CursorEntity {
  partitionKey: string;
  rowKey: string;
  driveId?: string;
  rootId?: string;
  scope?: string;
  deltaLink?: string;
  items?: number;
  runId?: string;
  savedAt?: string;
}

function toCursor(entity: CursorEntity): DriveCursor | undefined {
  const scope = CRAWL_SCOPES.find((known) => known === entity.scope);
  if (!scope || !entity.driveId || !entity.rootId || !entity.deltaLink) return undefined;
  return {
    userId: entity.rowKey,
    driveId: entity.driveId,
    rootId: entity.rootId,
    scope,
    deltaLink: entity.deltaLink,
    items: Number(entity.items ?? 0),
    runId: entity.runId ?? '',
    savedAt: entity.savedAt ?? '',
  };
}

/**
 * The `DriveCursors` table (partition: tenant, row: user): one delta cursor per user's drive. Cursors of a batch
 * are written together, in transactions of up to 100, never one write per drive.
 */
export class DriveCursorStore extends TableStore {
  /** The cursors of `userIds` (point reads, all at once: a round holds at most 20 users). */
  async read(tenantId: string, userIds: readonly string[]): Promise<Map<string, DriveCursor>> {
    const cursors = new Map<string, DriveCursor>();
    if (userIds.length === 0) return cursors;
    await this.ensure();
    await Promise.all(
      userIds.map(async (userId) => {
        const entity = (await readEntity(this.table, tenantId, userId)) as CursorEntity | undefined;
        const cursor = entity && toCursor(entity);
        if (cursor) cursors.set(userId, cursor);
      }),
    );
    return cursors;
  }

  /** Saves cursors of one tenant in transactions (each replaces the user's row whole). */
  async save(tenantId: string, cursors: readonly DriveCursor[]): Promise<void> {
    if (cursors.length === 0) return;
    await this.ensure();
    const entities = cursors.map(({ userId, ...cursor }) => ({
      partitionKey: tenantId,
      rowKey: userId,
      ...cursor,
    }));
    for (const chunk of transactionChunks(entities, (entity) => 2 * entity.deltaLink.length + 512)) {
      await upsertTransaction(this.table, chunk, 'Replace');
    }
  }

  /** The users of the tenant that have a cursor (one query of the partition's keys). */
  async userIds(tenantId: string): Promise<Set<string>> {
    await this.ensure();
    const users = new Set<string>();
    for await (const entity of this.table.listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${tenantId}`, select: ['RowKey'] },
    })) {
      if (entity.rowKey) users.add(entity.rowKey);
    }
    return users;
  }

  /** Which run last saved each of the tenant's cursors, by user ID. */
  async runs(tenantId: string): Promise<Map<string, string>> {
    await this.ensure();
    const runs = new Map<string, string>();
    for await (const entity of this.table.listEntities<CursorEntity>({
      queryOptions: { filter: odata`PartitionKey eq ${tenantId}`, select: ['RowKey', 'runId'] },
    })) {
      runs.set(entity.rowKey, entity.runId ?? '');
    }
    return runs;
  }

  /** Removes the cursors of `userIds` (one by one: a transaction fails whole on a row already gone). */
  async remove(tenantId: string, userIds: Iterable<string>): Promise<void> {
    await this.ensure();
    for (const userId of userIds) {
      try {
        await this.table.deleteEntity(tenantId, userId);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  }
}
