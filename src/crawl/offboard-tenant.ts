import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import type { CrawlRunStore } from './crawl-runs';
import { driveItemPartition } from './drive-item-rows';
import { RunProgress } from './run-progress';
import type { Logger } from '../logging/logger';
import { deletePartition } from '../storage/delete-partition';
import { TABLES, isNotFound } from '../storage/storage-clients';
import type { TenantRegistry } from '../tenants/tenant-registry';

/** The stores offboarding empties, each table by its own client. */
export interface OffboardingStores {
  registry: TenantRegistry;
  runs: CrawlRunStore;
  tables: Record<
    'driveItems' | 'userIndex' | 'driveCursors' | 'crawlSkips' | 'crawlRuns' | 'runProgress' | 'pacerState',
    TableClient
  >;
  logger: Logger;
  now: () => Date;
}

/** The tables offboarding empties, by the product's table names. */
export function offboardingTables(table: (name: string) => TableClient): OffboardingStores['tables'] {
  return {
    driveItems: table(TABLES.driveItems),
    userIndex: table(TABLES.userIndex),
    driveCursors: table(TABLES.driveCursors),
    crawlSkips: table(TABLES.crawlSkips),
    crawlRuns: table(TABLES.crawlRuns),
    runProgress: table(TABLES.runProgress),
    pacerState: table(TABLES.pacerState),
  };
}

/** What `DELETE /api/tenants/{id}` did: nothing for an unknown tenant, or whether rows remain to delete. */
export type OffboardingOutcome = { kind: 'unknown' } | { kind: 'offboarded'; rowsRemaining: boolean };

/** The keys of every row of one partition (the table may not exist yet: then none). */
async function rowKeys(table: TableClient, partitionKey: string): Promise<string[]> {
  const keys: string[] = [];
  try {
    for await (const row of table.listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${partitionKey}`, select: ['RowKey'] },
    })) {
      if (row.rowKey !== undefined) keys.push(row.rowKey);
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return keys;
}

async function deleteRow(table: TableClient, partitionKey: string, rowKey: string): Promise<void> {
  try {
    await table.deleteEntity(partitionKey, rowKey);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/**
 * Offboards a tenant (docs/offboarding.md): marks it `offboarded` first, so no plan crawls it and every worker
 * stops before its next write, fails its running run, then deletes every row of it in every table. Partitions are
 * found through the tenant's own rows, never by key ranges: each user's `DriveItems` partition through the
 * user's index row (and cursor), each run's `CrawlProgress` partition through its `CrawlRuns` row. A row that
 * leads to others goes last, so a crash or the deadline (ms since the epoch) leaves nothing unreachable and a
 * repeat carries on where this one stopped. The `Tenants` row stays, saying `offboarded`.
 */
export async function offboardTenant(
  stores: OffboardingStores,
  tenantId: string,
  deadline: number,
): Promise<OffboardingOutcome> {
  const tenant = await stores.registry.get(tenantId);
  if (!tenant) return { kind: 'unknown' };
  if (tenant.status !== 'offboarded') {
    await stores.registry.markOffboarded(tenantId, stores.now());
    stores.logger.info('tenant offboarded', { tenantId });
  }
  const { tables } = stores;
  const done = (): OffboardingOutcome => ({ kind: 'offboarded', rowsRemaining: true });

  for (const run of await stores.runs.listRunning()) {
    if (run.tenantId !== tenantId) continue;
    await stores.runs.finish(tenantId, run.runId, {
      status: 'failed',
      finishedAt: stores.now(),
      error: 'The tenant was offboarded',
    });
  }

  // Users: their items through their index rows and cursors, then the index row and the cursor.
  const users = new Set([
    ...(await rowKeys(tables.userIndex, tenantId)),
    ...(await rowKeys(tables.driveCursors, tenantId)),
  ]);
  for (const userId of users) {
    if (!(await deletePartition(tables.driveItems, driveItemPartition(tenantId, userId), deadline)))
      return done();
    await deleteRow(tables.userIndex, tenantId, userId);
    await deleteRow(tables.driveCursors, tenantId, userId);
    if (Date.now() > deadline) return done();
  }
  if (!(await deletePartition(tables.crawlSkips, tenantId, deadline))) return done();

  // Runs: each run's bookkeeping partition, then the run's row.
  for (const runId of await rowKeys(tables.crawlRuns, tenantId)) {
    if (!(await deletePartition(tables.runProgress, RunProgress.partition(tenantId, runId), deadline))) {
      return done();
    }
    await deleteRow(tables.crawlRuns, tenantId, runId);
    if (Date.now() > deadline) return done();
  }
  if (!(await deletePartition(tables.pacerState, tenantId, deadline))) return done();
  return { kind: 'offboarded', rowsRemaining: false };
}
