import type { TableClient, TransactionAction } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { isNotFound } from './storage-clients';
import { TABLE_LIMITS } from './table-limits';

/**
 * Deletes every row of one partition, up to 100 in a transaction; a transaction refused because another deleter
 * took a row first is done again row by row, a missing row being no error. Stops early once `deadline` (ms since
 * the epoch) has passed. Returns whether the partition is empty. A missing table holds nothing.
 */
export async function deletePartition(
  table: TableClient,
  partitionKey: string,
  deadline = Number.POSITIVE_INFINITY,
): Promise<boolean> {
  let keys: string[];
  try {
    keys = [];
    for await (const row of table.listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${partitionKey}`, select: ['RowKey'] },
    })) {
      if (row.rowKey !== undefined) keys.push(row.rowKey);
    }
  } catch (error) {
    if (isNotFound(error)) return true;
    throw error;
  }
  for (let at = 0; at < keys.length; at += TABLE_LIMITS.transactionEntities) {
    if (Date.now() > deadline) return false;
    const chunk = keys.slice(at, at + TABLE_LIMITS.transactionEntities);
    try {
      await table.submitTransaction(
        chunk.map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]),
      );
    } catch {
      for (const rowKey of chunk) {
        try {
          await table.deleteEntity(partitionKey, rowKey);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
    }
  }
  return true;
}
