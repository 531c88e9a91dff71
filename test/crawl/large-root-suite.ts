import type { SimClient } from '../../dev/sim/sim-client';
import type { TenantSpec } from '../../dev/sim/types';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { onboardTenant, storedRows } from './crawl-helpers';

export type RootShape = [count: number, shape: Partial<TenantSpec>];

/**
 * Roots of any size (docs/table-limits.md): every page followed, however short; an item repeated across a page
 * boundary stored once; Graph's 34-character IDs and 400-character names within Table Storage's limits, first
 * crawl and the next (the per-user index, and past about 13,900 IDs its overflow to a partition query).
 * `storage` gives the suite an Azurite of its own (Azurite's writes slow down with a partition's size).
 */
export function largeRootSuite(
  shapes: readonly RootShape[],
  options: {
    timeoutMs: number;
    storage?: () => Promise<{ connectionString: string; stop(): Promise<void> }>;
    /** Crawl again after changes (default true). */
    recrawl?: boolean;
  },
): void {
  let cloud: SimClient;
  let app: TestApp;
  let stopStorage: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    cloud = sim();
    const own = await options.storage?.();
    stopStorage = own ? () => own.stop() : undefined;
    app = await createTestApp(
      { crawlSettings: { graphBackoffMs: 20 } },
      own ? { storage: own.connectionString } : {},
    );
  }, options.timeoutMs);

  afterAll(async () => {
    await stopStorage?.();
  });

  const crawl = async (tenantId: string) => {
    const record = await app.context.registry.get(tenantId);
    const [result] = await crawlInline(app.context.crawlDeps(), { tenants: record ? [record] : [] });
    return result!;
  };

  /** Rows equal the drives: each item once, every stored field, nothing else. */
  const expectExact = async (tenantId: string): Promise<number> => {
    const drives = await cloud.drives(tenantId);
    const rows = await storedRows(app.context, tenantId);
    const expected = new Map<string, { name: string; isFolder: boolean; size: number }>();
    for (const [userId, items] of Object.entries(drives)) {
      for (const item of items) {
        expected.set(`${tenantId}_${userId}/${item.id}`, {
          name: item.name,
          isFolder: item.folder !== undefined,
          size: item.size,
        });
      }
    }
    const actual = new Map(
      rows.map((row) => [
        `${row.partitionKey}/${row.rowKey}`,
        { name: row.name, isFolder: row.isFolder, size: Number(row.size) },
      ]),
    );
    expect(rows).toHaveLength(actual.size);
    expect(actual).toEqual(expected);
    return expected.size;
  };

  it.each(shapes)(
    options.recrawl === false
      ? 'stores a root of %i items exactly'
      : 'stores a root of %i items exactly, and again after changes',
    async (count, shape) => {
      const tenant = await onboardTenant(cloud, app.context, app.clientId, {
        users: 1,
        unlicensedShare: 0,
        withoutDriveShare: 0,
        itemsPerUser: count,
        ...shape,
      });
      const first = await crawl(tenant.tenantId);
      expect(first.run).toMatchObject({
        status: 'succeeded',
        usersCrawled: 1,
        usersSkipped: 0,
        itemsStored: count,
      });
      expect(await expectExact(tenant.tenantId)).toBe(count);
      if (options.recrawl === false) return;

      // Deleted from the middle and the end, renamed, added: the next crawl finds each through the user's index.
      const [user] = (await cloud.listUsers(tenant.tenantId)).filter((u) => u.licensed);
      const items = (await cloud.drives(tenant.tenantId))[user!.id]!;
      const victims = [items[Math.floor(count / 2)]!, items[count - 1]!];
      for (const item of victims) await cloud.deleteItem(tenant.tenantId, user!.id, item.id);
      await cloud.renameItem(tenant.tenantId, user!.id, items[0]!.id, 'renamed on purpose.txt');
      await cloud.addItem(tenant.tenantId, user!.id, { name: 'added between runs.txt' });
      const second = await crawl(tenant.tenantId);
      expect(second.run).toMatchObject({ status: 'succeeded', itemsDeleted: 2, itemsStored: count - 1 });
      expect(await expectExact(tenant.tenantId)).toBe(count - 1);
    },
    options.timeoutMs,
  );
}
