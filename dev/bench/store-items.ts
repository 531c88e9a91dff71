/**
 * How the benchmark's peer crawlers (`naive-crawl.ts`, `peer-crawl.ts`) store a user's root children: one
 * `DriveItems`-shaped row per item, partitioned by tenant and user, one table transaction per up to 100 items (the
 * most a transaction may hold).
 */
import type { TableClient, TransactionAction } from '@azure/data-tables';
import type { GraphDriveItem, GraphUser } from '../../src/graph/graph-types';
import type { NaiveOutcome } from './protocol';

const TRANSACTION_LIMIT = 100;

/** Upserts the user's items and adds the transactions and items to the outcome's counters. */
export async function storeUserItems(
  table: TableClient,
  outcome: NaiveOutcome,
  user: GraphUser,
  items: readonly GraphDriveItem[],
): Promise<void> {
  for (let start = 0; start < items.length; start += TRANSACTION_LIMIT) {
    const actions: TransactionAction[] = items.slice(start, start + TRANSACTION_LIMIT).map((item) => [
      'upsert',
      {
        partitionKey: `${outcome.tenantId}_${user.id}`,
        rowKey: item.id,
        userId: user.id,
        userPrincipalName: user.userPrincipalName,
        name: item.name ?? '',
        size: { value: String(Math.trunc(item.size ?? 0)), type: 'Int64' },
        isFolder: item.folder !== undefined,
        webUrl: item.webUrl ?? '',
        eTag: item.eTag ?? '',
        lastModifiedDateTime: item.lastModifiedDateTime ?? '',
        ...(item.folder ? { childCount: item.folder.childCount ?? 0 } : {}),
        ...(item.file?.mimeType ? { mimeType: item.file.mimeType } : {}),
      },
      'Replace',
    ]);
    await table.submitTransaction(actions);
    outcome.transactions += 1;
  }
  outcome.itemsStored += items.length;
}
