/**
 * Measures the two ways to find a user's stored rows in Azurite before reconciling them (docs/table-limits.md: Azurite
 * scans the whole table for any query): a partition query of `DriveItems`, and a point read of the user's row
 * in the `CrawlUserIndex` table. `npx tsx dev/measure-reconcile.ts [users] [itemsPerUser]`.
 */
import { TableClient } from '@azure/data-tables';
import type { TransactionAction } from '@azure/data-tables';
import { performance } from 'node:perf_hooks';
import { startAzurite } from './azurite';

async function main(): Promise<void> {
  const users = Number(process.argv[2] ?? 5_000);
  const itemsPerUser = Number(process.argv[3] ?? 20);
  const azurite = await startAzurite();
  try {
    const options = { allowInsecureConnection: true };
    const items = TableClient.fromConnectionString(azurite.connectionString, 'DriveItems', options);
    const index = TableClient.fromConnectionString(azurite.connectionString, 'CrawlUserIndex', options);
    await items.createTable();
    await index.createTable();
    const started = performance.now();
    for (let user = 0; user < users; user += 1) {
      const partitionKey = `tenant_user${user}`;
      const actions: TransactionAction[] = Array.from({ length: itemsPerUser }, (_, item) => [
        'upsert',
        { partitionKey, rowKey: `item${item}`, name: `file ${item}.docx`, size: item },
      ]);
      await items.submitTransaction(actions);
      if (user % 100 === 99) {
        const rows: TransactionAction[] = Array.from({ length: 100 }, (_, k) => [
          'upsert',
          {
            partitionKey: 'tenant',
            rowKey: `user${user - 99 + k}`,
            ids0: actions.map((a) => a[1].rowKey).join('\n'),
          },
        ]);
        await index.submitTransaction(rows);
      }
    }
    const loadSeconds = (performance.now() - started) / 1000;
    const sample = 50;
    let t = performance.now();
    for (let i = 0; i < sample; i += 1) {
      const partitionKey = `tenant_user${Math.floor((i * users) / sample)}`;
      for await (const _row of items.listEntities({
        queryOptions: { filter: `PartitionKey eq '${partitionKey}'` },
      })) {
        // read them all
      }
    }
    const queryMs = (performance.now() - t) / sample;
    t = performance.now();
    for (let i = 0; i < sample; i += 1)
      await index.getEntity('tenant', `user${Math.floor((i * users) / sample)}`);
    const pointMs = (performance.now() - t) / sample;
    process.stdout.write(
      `${users * itemsPerUser} rows (${users} users x ${itemsPerUser}) loaded in ${loadSeconds.toFixed(1)} s\n` +
        `partition query of DriveItems: ${queryMs.toFixed(1)} ms per user\n` +
        `point read of CrawlUserIndex:  ${pointMs.toFixed(2)} ms per user\n`,
    );
  } finally {
    await azurite.stop();
  }
}

void main();
