import type { SimClient } from '../../dev/sim/sim-client';
import type { TenantSpec } from '../../dev/sim/types';
import type { AppContext } from '../../src/app-context';
import type { CrawlScope } from '../../src/crawl/drive-cursors';
import { driveItemPartition } from '../../src/crawl/drive-item-store';
import { crawlInline } from '../../src/crawl/inline-crawl';
import type { TenantGraph } from '../../src/graph/tenant-graph';
import { TABLES } from '../../src/storage/storage-clients';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { onboardTenant, storedRows } from './crawl-helpers';

/** Small pages, so that a drive's enumeration and a delta of a few changes both span several pages. */
const SMALL_PAGES = { userPageSize: 7, childrenPageSize: 4, usersPerBatch: 9, graphBackoffMs: 20 };

/** Nested drives: root children, folders three levels deep, a user without a drive now and then. */
const NESTED: Partial<TenantSpec> & { users: number } = {
  users: 8,
  unlicensedShare: 0,
  withoutDriveShare: 0,
  itemsPerUser: [3, 7],
  folderShare: 0.5,
  nestedItemsPerFolder: [1, 3],
  folderDepth: 3,
};

describe('delta crawls (CRAWL_SCOPE root and drive)', () => {
  let cloud: SimClient;
  let app: TestApp;
  const contexts: Partial<Record<CrawlScope, AppContext>> = {};

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ crawlSettings: SMALL_PAGES });
    contexts.root = app.context;
    contexts.drive = app.newInstance({ crawlSettings: { ...SMALL_PAGES, crawlScope: 'drive' } });
  });

  const contextOf = (scope: CrawlScope): AppContext => contexts[scope]!;

  /** Crawls one tenant inline in `scope`; `wrap` may replace the tenant's Graph access (to inject faults). */
  const crawl = async (
    scope: CrawlScope,
    tenantId: string,
    options: { full?: boolean; maxAttempts?: number; wrap?: (graph: TenantGraph) => TenantGraph } = {},
  ) => {
    const context = contextOf(scope);
    const deps = context.crawlDeps();
    const wrap = options.wrap;
    const [result] = await crawlInline(
      wrap ? { ...deps, graphFor: (id, budget, signal) => wrap(deps.graphFor(id, budget, signal)) } : deps,
      {
        tenants: [(await context.registry.get(tenantId))!],
        full: options.full,
        maxAttempts: options.maxAttempts,
      },
    );
    return result!.run!;
  };

  /**
   * Asserts that the tenant's rows are exactly what the scope keeps of every licensed user's drive (the root's
   * children, or every item), field by field, `parentId` included. Returns how many rows that is.
   */
  const expectExact = async (scope: CrawlScope, tenantId: string): Promise<number> => {
    const drives = await cloud.drives(tenantId);
    const expected = new Map<string, { name: string; size: number; folder: boolean; parentId: string }>();
    for (const userId of Object.keys(drives)) {
      const tree = await cloud.driveTree(tenantId, userId);
      for (const item of tree.items) {
        if (scope === 'root' && item.parentId !== tree.rootId) continue;
        expected.set(`${driveItemPartition(tenantId, userId)}/${item.id}`, {
          name: item.name,
          size: item.size,
          folder: item.folder !== undefined,
          parentId: item.parentId,
        });
      }
    }
    const rows = await storedRows(contextOf(scope), tenantId);
    expect(rows.map((row) => `${row.partitionKey}/${row.rowKey}`).sort()).toEqual(
      [...expected.keys()].sort(),
    );
    for (const row of rows) {
      const item = expected.get(`${row.partitionKey}/${row.rowKey}`)!;
      expect({
        name: row.name,
        size: Number(row.size),
        folder: row.isFolder,
        parentId: row.parentId,
      }).toEqual(item);
    }
    return expected.size;
  };

  /** Graph units the simulator charged for the tenant's drives since `since`, and the requests that cost them. */
  const driveCharges = async (tenantId: string, since: number) => {
    const log = await cloud.requestLog({ tenantId, service: 'graph', since });
    const drives = log.filter((entry) => /\/drives?\//.test(entry.url));
    return { units: drives.reduce((sum, entry) => sum + entry.units, 0), entries: drives, log };
  };

  /**
   * Gives one user's drive the shape the changes below need, before the first crawl: two folders at the root,
   * each with a file and a subfolder that holds a file, and two files at the root.
   */
  const shapeDrive = async (tenantId: string, userId: string) => {
    const add = (name: string, parentId?: string, folder = false) =>
      cloud.addItem(tenantId, userId, { name, parentId, ...(folder ? { folder: { childCount: 0 } } : {}) });
    const [kept, doomed] = [
      await add('Kept folder', undefined, true),
      await add('Doomed folder', undefined, true),
    ];
    const keptChild = await add('In the kept folder.docx', kept.id);
    for (const folder of [kept, doomed]) {
      const sub = await add(`Sub of ${folder.name}`, folder.id, true);
      await add('Deep – ü.pdf', sub.id);
    }
    await add('In the doomed folder.xlsx', doomed.id);
    const [fileA, fileB] = [await add('Root file A.txt'), await add('Root file B.txt')];
    return { kept: kept.id, doomed: doomed.id, keptChild: keptChild.id, fileA: fileA.id, fileB: fileB.id };
  };

  /**
   * The changes the issue names, in a shaped drive: an added file at the root and in a folder, a rename, a move
   * from a folder to the root and one from the root into a folder, a deleted file and a deleted folder with
   * everything under it (delta reports the folder only).
   */
  const changeDrive = async (
    tenantId: string,
    userId: string,
    shape: Awaited<ReturnType<typeof shapeDrive>>,
  ) => {
    const { rootId } = await cloud.driveTree(tenantId, userId);
    await cloud.addItem(tenantId, userId, { name: 'Added at the root – Ω.txt' });
    await cloud.addItem(tenantId, userId, { name: 'Added in a folder.txt', parentId: shape.kept });
    await cloud.renameItem(tenantId, userId, shape.kept, 'Renamed folder – 名前');
    await cloud.moveItem(tenantId, userId, shape.keptChild, rootId);
    await cloud.moveItem(tenantId, userId, shape.fileA, shape.kept);
    await cloud.deleteItem(tenantId, userId, shape.fileB);
    await cloud.deleteItem(tenantId, userId, shape.doomed);
  };

  /** Onboards a nested tenant and shapes the drives of its first `shaped` users. */
  const nestedTenant = async (scope: CrawlScope, shaped: number, spec: Partial<TenantSpec> = {}) => {
    const tenant = await onboardTenant(cloud, contextOf(scope), app.clientId, { ...NESTED, ...spec });
    const userIds = Object.keys(await cloud.drives(tenant.tenantId));
    const shapes = [];
    for (const userId of userIds.slice(0, shaped))
      shapes.push({ userId, shape: await shapeDrive(tenant.tenantId, userId) });
    return { tenant, userIds, shapes };
  };

  it.each<CrawlScope>(['root', 'drive'])(
    '%s scope: a full first pass, then an incremental one that applies adds, renames, moves and deletions',
    async (scope) => {
      const { tenant, shapes } = await nestedTenant(scope, 1);
      const first = await crawl(scope, tenant.tenantId);
      expect(first.status).toBe('succeeded');
      const firstRows = await expectExact(scope, tenant.tenantId);
      expect(first.itemsStored).toBe(firstRows);

      const { userId: changed, shape } = shapes[0]!;
      await changeDrive(tenant.tenantId, changed, shape);
      const since = Date.now();
      const second = await crawl(scope, tenant.tenantId);
      expect(second.status).toBe('succeeded');
      const secondRows = await expectExact(scope, tenant.tenantId);
      expect(second.itemsStored).toBe(secondRows);
      expect(second.itemsDeleted).toBeGreaterThan(0);

      // Only the changed drive read more than its cursor: every other drive answered one delta page, at 1 unit.
      const { units, entries, log } = await driveCharges(tenant.tenantId, since);
      expect(second.unitsSpent).toBe(log.reduce((sum, entry) => sum + entry.units, 0));
      const others = entries.filter((entry) => !entry.url.includes(encodeURIComponent(changed)));
      expect(others.every((entry) => entry.url.includes('/root/delta') && entry.units === 1)).toBe(true);
      expect(units).toBeLessThan(first.unitsSpent);
      expect(second.itemsRead).toBeLessThan(first.itemsRead);
      expect(first.itemsRead).toBeGreaterThanOrEqual(firstRows);
    },
  );

  it.each<CrawlScope>(['root', 'drive'])(
    '%s scope: a steady state costs one unit a drive and writes nothing',
    async (scope) => {
      const tenant = await onboardTenant(cloud, contextOf(scope), app.clientId, {
        ...NESTED,
        withoutDriveShare: 0.25,
        users: 12,
      });
      await crawl(scope, tenant.tenantId);
      const rowsBefore = await storedRows(contextOf(scope), tenant.tenantId);
      const since = Date.now();
      const again = await crawl(scope, tenant.tenantId);
      const { units, entries } = await driveCharges(tenant.tenantId, since);
      const withDrive = Object.keys(await cloud.drives(tenant.tenantId)).length;
      // A drive: its delta; a user without one: the root item that says so (1 unit, no cursor to follow).
      expect(units).toBe(withDrive + (tenant.licensedUsers - withDrive));
      expect(entries.filter((entry) => entry.url.includes('/root/delta'))).toHaveLength(withDrive);
      expect(again).toMatchObject({
        usersCrawled: withDrive,
        usersWithoutDrive: tenant.licensedUsers - withDrive,
        itemsRead: 0,
        itemsDeleted: 0,
        itemsStored: rowsBefore.length,
      });
      // No row was written again: each keeps the run that wrote it.
      const rowsAfter = await storedRows(contextOf(scope), tenant.tenantId);
      expect(rowsAfter.map((row) => row.runId).sort()).toEqual(rowsBefore.map((row) => row.runId).sort());
    },
  );

  it.each<CrawlScope>(['root', 'drive'])(
    '%s scope: a 410 in the middle of a delta resets the drive to a full enumeration that ends exact',
    async (scope) => {
      const { tenant, shapes } = await nestedTenant(scope, 1);
      await crawl(scope, tenant.tenantId);
      const { userId, shape } = shapes[0]!;
      // Enough changes for several delta pages (4 items a page), then tokens expire after the first page.
      await changeDrive(tenant.tenantId, userId, shape);
      for (let i = 0; i < 6; i += 1) await cloud.addItem(tenant.tenantId, userId, { name: `more-${i}.txt` });
      let expired = false;
      const run = await crawl(scope, tenant.tenantId, {
        wrap: (graph) => {
          const next = graph.nextDrivePage.bind(graph);
          graph.nextDrivePage = async (url, units) => {
            if (!expired && url.includes('/root/delta')) {
              expired = true;
              await cloud.expireDeltaTokens(tenant.tenantId, userId);
            }
            return next(url, units);
          };
          return graph;
        },
      });
      expect(expired).toBe(true);
      expect(run.status).toBe('succeeded');
      await expectExact(scope, tenant.tenantId);
      const log = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph' });
      expect(log.some((entry) => entry.status === 410)).toBe(true);
    },
  );

  it.each<CrawlScope>(['root', 'drive'])(
    '%s scope: a crawl killed during a drive’s pages, then run again, ends exact',
    async (scope) => {
      const { tenant, shapes } = await nestedTenant(scope, 3);
      await crawl(scope, tenant.tenantId);
      for (const { userId, shape } of shapes) {
        await changeDrive(tenant.tenantId, userId, shape);
        for (let i = 0; i < 5; i += 1)
          await cloud.addItem(tenant.tenantId, userId, { name: `kill-${i}.txt` });
      }
      // The worker dies on the second page of a delta, after the first page's changes were stored.
      const killed = await crawl(scope, tenant.tenantId, {
        maxAttempts: 1,
        wrap: (graph) => {
          const next = graph.nextDrivePage.bind(graph);
          graph.nextDrivePage = async (url, units) => {
            if (url.includes('/root/delta')) throw new Error('worker killed');
            return next(url, units);
          };
          return graph;
        },
      });
      expect(killed.status).toBe('failed');
      const rerun = await crawl(scope, tenant.tenantId);
      expect(rerun.status).toBe('succeeded');
      await expectExact(scope, tenant.tenantId);
      // And once more: the replayed changes settle nothing new.
      const third = await crawl(scope, tenant.tenantId);
      expect(third).toMatchObject({ status: 'succeeded', itemsRead: 0, itemsDeleted: 0 });
      await expectExact(scope, tenant.tenantId);
    },
  );

  it('a replaced OneDrive is found again by its owner and read whole; its old rows go', async () => {
    const tenant = await onboardTenant(cloud, contextOf('drive'), app.clientId, NESTED);
    await crawl('drive', tenant.tenantId);
    const userId = Object.keys(await cloud.drives(tenant.tenantId))[1]!;
    const oldTree = await cloud.driveTree(tenant.tenantId, userId);
    const { driveId } = await cloud.replaceDrive(tenant.tenantId, userId);
    expect(driveId).not.toBe(oldTree.driveId);
    const since = Date.now();
    const run = await crawl('drive', tenant.tenantId);
    expect(run.status).toBe('succeeded');
    await expectExact('drive', tenant.tenantId);
    const rows = await storedRows(contextOf('drive'), tenant.tenantId);
    expect(rows.some((row) => oldTree.items.some((item) => item.id === row.rowKey))).toBe(false);
    // The old drive answered 404 once; the new one was enumerated by its own ID, never with the old token.
    const { entries } = await driveCharges(tenant.tenantId, since);
    const old = entries.filter((entry) => entry.url.includes(encodeURIComponent(oldTree.driveId)));
    expect(old.map((entry) => entry.status)).toEqual([404]);
    expect(entries.some((entry) => entry.url.includes(encodeURIComponent(driveId)))).toBe(true);
  });

  it('a user who loses the licence loses rows and cursor; regaining it starts from a full pass', async () => {
    const tenant = await onboardTenant(cloud, contextOf('drive'), app.clientId, NESTED);
    await crawl('drive', tenant.tenantId);
    const userId = Object.keys(await cloud.drives(tenant.tenantId))[2]!;
    await cloud.setLicensed(tenant.tenantId, userId, false);
    const without = await crawl('drive', tenant.tenantId);
    expect(without.status).toBe('succeeded');
    await expectExact('drive', tenant.tenantId);
    const cursors = await contextOf('drive').storage.table(TABLES.driveCursors).listEntities().next();
    expect(cursors.value).toBeDefined();
    expect(await cursorOf(contextOf('drive'), tenant.tenantId, userId)).toBeUndefined();

    await cloud.setLicensed(tenant.tenantId, userId, true);
    const since = Date.now();
    const back = await crawl('drive', tenant.tenantId);
    expect(back.status).toBe('succeeded');
    await expectExact('drive', tenant.tenantId);
    // Read whole again: a delta without a token, at 2 units a page.
    const { entries } = await driveCharges(tenant.tenantId, since);
    const tree = await cloud.driveTree(tenant.tenantId, userId);
    const mine = entries.filter((entry) => entry.url.includes(encodeURIComponent(tree.driveId)));
    expect(mine.length).toBeGreaterThan(1);
    expect(mine.every((entry) => entry.units === 2)).toBe(true);
  });

  it('switching scope is safe both ways, and rows written before parentId existed are rewritten', async () => {
    const tenant = await onboardTenant(cloud, contextOf('root'), app.clientId, NESTED);
    await crawl('root', tenant.tenantId);
    // Rows as an older version wrote them: no parentId, and no cursor.
    const items = contextOf('root').storage.table(TABLES.driveItems);
    for (const row of await storedRows(contextOf('root'), tenant.tenantId)) {
      const {
        parentId: _parentId,
        etag: _etag,
        timestamp: _timestamp,
        ...rest
      } = row as unknown as Record<string, unknown>;
      await items.upsertEntity(rest as { partitionKey: string; rowKey: string }, 'Replace');
    }
    const cursorTable = contextOf('root').storage.table(TABLES.driveCursors);
    for await (const cursor of cursorTable.listEntities({
      queryOptions: { filter: `PartitionKey eq '${tenant.tenantId}'` },
    })) {
      await cursorTable.deleteEntity(cursor.partitionKey!, cursor.rowKey!);
    }
    await crawl('root', tenant.tenantId);
    await expectExact('root', tenant.tenantId);

    const toDrive = await crawl('drive', tenant.tenantId);
    expect(toDrive.status).toBe('succeeded');
    await expectExact('drive', tenant.tenantId);
    const toRoot = await crawl('root', tenant.tenantId);
    expect(toRoot.status).toBe('succeeded');
    expect(toRoot.itemsDeleted).toBeGreaterThan(0);
    await expectExact('root', tenant.tenantId);
    const userId = Object.keys(await cloud.drives(tenant.tenantId))[0]!;
    expect((await cursorOf(contextOf('root'), tenant.tenantId, userId))?.scope).toBe('root');
  });

  it('a full crawl and a new consent follow no cursor: every drive is read from scratch', async () => {
    const tenant = await onboardTenant(cloud, contextOf('root'), app.clientId, NESTED);
    const first = await crawl('root', tenant.tenantId);
    const full = await crawl('root', tenant.tenantId, { full: true });
    expect(full).toMatchObject({
      status: 'succeeded',
      itemsRead: first.itemsRead,
      itemsStored: first.itemsStored,
    });
    const incremental = await crawl('root', tenant.tenantId);
    expect(incremental.itemsRead).toBe(0);
    await contextOf('root').registry.recordConsent(tenant.tenantId, 'active', new Date(), tenant.domain);
    const afterConsent = await crawl('root', tenant.tenantId);
    expect(afterConsent.itemsRead).toBe(first.itemsRead);
    await expectExact('root', tenant.tenantId);
  });
});

async function cursorOf(context: AppContext, tenantId: string, userId: string) {
  return (await context.crawlDeps().cursors.read(tenantId, [userId])).get(userId);
}
