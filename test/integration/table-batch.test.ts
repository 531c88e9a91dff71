import { TableClient } from '@azure/data-tables';
import { upsertTransaction } from '../../src/storage/table-batch';
import { storageConnectionString } from '../support/sim';

/**
 * The hand-built transaction body (`src/storage/table-batch.ts`), written byte by byte into one buffer, against
 * Azurite: row keys that need percent-encoding and quote doubling, names outside Latin-1 (two-byte and four-byte
 * UTF-8) beside plain ones, and a full transaction of 100.
 */
describe('upsertTransaction against the Table service', () => {
  let table: TableClient;

  beforeAll(async () => {
    table = TableClient.fromConnectionString(storageConnectionString(), 'TableBatchBodies', {
      allowInsecureConnection: true,
    });
    await table.createTable();
  });

  const keys = (n: number): string[] =>
    Array.from(
      { length: n },
      (_, i) => [`item ${i}`, `O'Brien's ${i}`, `דוח רבעוני ${i}`, `reçu 🧾 ${i}`, `a%20b&c=d+${i}`][i % 5]!,
    );

  it('stores 100 entities exactly, and merges into them without losing a property', async () => {
    const partitionKey = 'tenant|user ü';
    const rowKeys = keys(100);
    await upsertTransaction(
      table,
      rowKeys.map((rowKey, i) => ({ partitionKey, rowKey, name: `${rowKey}.docx`, size: i, note: 'first' })),
      'Replace',
    );
    await upsertTransaction(
      table,
      rowKeys.slice(0, 7).map((rowKey) => ({ partitionKey, rowKey, note: 'merged — ✓' })),
      'Merge',
    );

    const rows = new Map<string, Record<string, unknown>>();
    for await (const row of table.listEntities({
      queryOptions: { filter: `PartitionKey eq 'tenant|user ü'` },
    })) {
      rows.set(row.rowKey!, row);
    }
    expect(rows.size).toBe(100);
    rowKeys.forEach((rowKey, i) => {
      const row = rows.get(rowKey);
      expect(row).toMatchObject({ name: `${rowKey}.docx`, size: i, note: i < 7 ? 'merged — ✓' : 'first' });
    });
  });
});
