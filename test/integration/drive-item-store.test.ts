import { TableClient } from '@azure/data-tables';
import type { GraphDriveItem } from '../../src/graph/graph-types';
import type { DriveOwner } from '../../src/crawl/drive-item-store';
import { DriveItemStore, driveItemPartition, prepareRows } from '../../src/crawl/drive-item-store';
import { storageConnectionString } from '../support/sim';

/**
 * The per-user index past its capacity (docs/table-limits.md): a user whose IDs do not fit one index row is marked
 * `overflow` and read back by a partition query, by the next rewrite and by the end-of-run sweep. The capacity is
 * lowered to 20,000 characters here so that 1,200 items overflow (in production it takes about 13,900 of Graph's
 * 34-character IDs, which Azurite stores too slowly for a test that writes them twice).
 */
describe('DriveItemStore past the index capacity', () => {
  const TENANT = '5b1c1f2e-0d6f-4c39-9a4e-1c2b3d4e5f60';
  const user: DriveOwner = { id: '0e5f3a9c-7a61-4f7e-b2d4-6c1d0a9e8f21', upn: 'adele.vance@contoso.test' };
  let items: TableClient;
  let index: TableClient;
  let store: DriveItemStore;

  const item = (n: number): GraphDriveItem => ({
    // Graph's shape: 34 characters, upper-case base32-like.
    id: `01BYE5RZ${String(n).padStart(26, '0')}`,
    name: `Quarterly report ${n}.docx`,
    size: n,
    lastModifiedDateTime: '2026-11-30T08:00:00Z',
    file: { mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
  });

  const rowKeys = async (): Promise<string[]> => {
    const keys: string[] = [];
    for await (const row of items.listEntities({
      queryOptions: {
        filter: `PartitionKey eq '${driveItemPartition(TENANT, user.id)}'`,
        select: ['RowKey'],
      },
    })) {
      keys.push(row.rowKey!);
    }
    return keys.sort();
  };

  /** One paged rewrite of the user: pages of 500 items, as the crawl writes a root past 5,000. */
  const rewrite = async (listing: GraphDriveItem[], runId: string) => {
    const seen = new Set<string>();
    const writer = await store.beginUser(TENANT, user, runId);
    for (let start = 0; start < listing.length; start += 500) {
      const prepared = prepareRows(TENANT, user, listing.slice(start, start + 500), runId, seen);
      if ('problem' in prepared) throw new Error(prepared.problem);
      await writer.write(prepared.rows);
    }
    return writer.finish();
  };

  beforeAll(() => {
    const options = { allowInsecureConnection: true };
    items = TableClient.fromConnectionString(storageConnectionString(), 'DriveItems', options);
    index = TableClient.fromConnectionString(storageConnectionString(), 'CrawlUserIndex', options);
    store = new DriveItemStore(items, index, { indexCapacityChars: 20_000 });
  });

  it('marks the index overflow, then finds vanished rows by a partition query, and the sweep removes them all', async () => {
    const first = Array.from({ length: 1_200 }, (_, n) => item(n));
    await rewrite(first, 'run-1');
    const row = await index.getEntity<{ overflow: boolean; count: number }>(TENANT, user.id);
    expect(row.overflow).toBe(true);
    expect(row.count).toBe(1_200);
    expect(await rowKeys()).toEqual(first.map((entry) => entry.id).sort());

    // Ten gone from the middle, five new: only the partition query can tell which rows vanished.
    const second = [
      ...first.slice(0, 600),
      ...first.slice(610),
      ...[5_000, 5_001, 5_002, 5_003, 5_004].map(item),
    ];
    const result = await rewrite(second, 'run-2');
    expect(result.itemsDeleted).toBe(10);
    expect(await rowKeys()).toEqual(second.map((entry) => entry.id).sort());

    // A later run that does not see the user removes every row, through the same query.
    const swept = await store.sweepUsersNotSeen(TENANT, 'run-3', new Set());
    expect(swept).toBe(second.length);
    expect(await rowKeys()).toEqual([]);
  });
});
