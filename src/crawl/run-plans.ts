import { odata } from '@azure/data-tables';
import { RunProgress } from './run-progress';
import { TableStore } from '../storage/table-store';

/** A batch as the listing planned it: its number, the tenant's licensed users then, and its users. */
export interface PlannedBatch {
  batch: number;
  licensedUsers: number;
  users: Array<{ id: string; upn: string }>;
}

/** RowKeys of planned batches start with this. */
const PLAN_PREFIX = 'plan_';
/** Characters of a planned batch's users JSON per property (a string property holds 32,768). */
const PLAN_CHUNK_CHARS = 30_000;

/**
 * The batches a run's users listing planned (rows `plan_<batch>` in the run's `CrawlProgress` partition): a retried
 * listing plans each user once, whatever order Graph lists them in, and queues again what an attempt that died
 * planned (docs/contract.md, "Users listing").
 */
export class RunPlans extends TableStore {
  /**
   * Writes the users of a batch the listing is about to queue (row `plan_<batch>`), so that a retried listing
   * plans each user once whatever order Graph lists them in, and queues again what an attempt that died planned
   * (docs/contract.md, "Users listing"). A rewrite is harmless.
   */
  async planBatch(tenantId: string, runId: string, batch: PlannedBatch): Promise<void> {
    await this.ensure();
    const entity: Record<string, unknown> = {
      partitionKey: RunProgress.partition(tenantId, runId),
      rowKey: `${PLAN_PREFIX}${String(batch.batch).padStart(6, '0')}`,
      licensedUsers: batch.licensedUsers,
    };
    const json = JSON.stringify(batch.users);
    for (let at = 0, chunk = 0; at < json.length; at += PLAN_CHUNK_CHARS, chunk += 1) {
      entity[`users${chunk}`] = json.slice(at, at + PLAN_CHUNK_CHARS);
    }
    await this.table.upsertEntity(entity as { partitionKey: string; rowKey: string }, 'Replace');
  }

  /** The batches planned so far in the run, in batch order. */
  async plannedBatches(tenantId: string, runId: string): Promise<PlannedBatch[]> {
    await this.ensure();
    const partitionKey = RunProgress.partition(tenantId, runId);
    const batches: PlannedBatch[] = [];
    for await (const row of this.table.listEntities<Record<string, unknown>>({
      queryOptions: {
        filter: odata`PartitionKey eq ${partitionKey} and RowKey ge ${PLAN_PREFIX} and RowKey lt ${`${PLAN_PREFIX}~`}`,
      },
    })) {
      let json = '';
      for (let chunk = 0; typeof row[`users${chunk}`] === 'string'; chunk += 1)
        json += row[`users${chunk}`] as string;
      batches.push({
        batch: Number(String(row.rowKey).slice(PLAN_PREFIX.length)),
        licensedUsers: Number(row.licensedUsers ?? 0),
        users: JSON.parse(json || '[]') as PlannedBatch['users'],
      });
    }
    return batches.sort((a, b) => a.batch - b.batch);
  }
}
