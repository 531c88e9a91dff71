import { randomUUID } from 'node:crypto';
import type { SimDriveTree, TenantSpec } from '../../dev/sim/types';
import { graphToken, logDuring, newTenant, ownCloudWithApp, uniqueSeed } from './sim-sdk';

interface ChildrenPage {
  '@odata.nextLink'?: string;
  value: Array<{ id: string; name: string; parentReference: { driveId: string; id: string; path: string } }>;
  error?: { code: string; message: string };
}

/** Items by parent: the root's children under `root`. */
function byParent(tree: SimDriveTree): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const item of tree.items) {
    const parent = item.parentId === tree.rootId ? 'root' : item.parentId;
    map.set(parent, [...(map.get(parent) ?? []), item.id]);
  }
  return map;
}

/** Levels below the root (the root's children are 1). */
function depthOf(tree: SimDriveTree, id: string): number {
  const item = tree.items.find((candidate) => candidate.id === id);
  return !item || item.parentId === tree.rootId ? 1 : 1 + depthOf(tree, item.parentId);
}

const ALL_WITH_DRIVES = { users: 4, unlicensedShare: 0, withoutDriveShare: 0 } satisfies Partial<TenantSpec>;

describe('simulated OneDrive trees', () => {
  const own = ownCloudWithApp(60);

  it('seeds nested folders deterministically, root children as without nesting but for childCount', async () => {
    const { cloud } = own;
    const seed = uniqueSeed();
    const spec = { ...ALL_WITH_DRIVES, seed, itemsPerUser: 5, folderShare: 0.5 };
    const nestedSpec = { ...spec, nestedItemsPerFolder: [1, 3] as [number, number], folderDepth: 4 };
    const flat = await cloud.createTenant({ ...spec, domain: `flat${seed}.test` });
    const nested = await cloud.createTenant({
      ...nestedSpec,
      tenantId: randomUUID(),
      domain: `a${seed}.test`,
    });
    const twin = await cloud.createTenant({ ...nestedSpec, tenantId: randomUUID(), domain: `b${seed}.test` });
    const shape = (tree: SimDriveTree) =>
      tree.items.map(({ id, name, parentId, eTag, size, file, folder }) => {
        const parent = parentId === tree.rootId ? 'root' : parentId;
        return { id, name, parent, eTag, size, file, folder };
      });

    let nestedItems = 0;
    for (const user of await cloud.listUsers(nested.tenantId)) {
      const tree = await cloud.driveTree(nested.tenantId, user.id);
      const flatTree = await cloud.driveTree(flat.tenantId, user.id);
      const children = byParent(tree);
      nestedItems += tree.items.filter((item) => item.parentId !== tree.rootId).length;

      expect(shape(tree)).toEqual(shape(await cloud.driveTree(twin.tenantId, user.id)));
      expect(flatTree.items.every((item) => item.parentId === flatTree.rootId)).toBe(true);
      const withoutCount = (items: SimDriveTree['items']) =>
        items.map(({ folder: _folder, webUrl: _webUrl, ...rest }) => rest);
      expect(withoutCount(tree.items.filter((item) => item.parentId === tree.rootId))).toEqual(
        withoutCount(flatTree.items).map((item) => ({ ...item, parentId: tree.rootId })),
      );
      for (const folder of tree.items.filter((item) => item.folder)) {
        expect(folder.folder?.childCount).toBe(children.get(folder.id)?.length ?? 0);
      }
      expect(Math.max(...tree.items.map((item) => depthOf(tree, item.id)))).toBeLessThanOrEqual(4);
    }
    expect(nestedItems).toBeGreaterThan(0);
    expect(nested.items).toBe(flat.items);
  });

  it('refuses nesting specs it cannot honour', async () => {
    const { cloud } = own;
    const spec = (extra: Partial<TenantSpec>): TenantSpec => ({ seed: uniqueSeed(), users: 1, ...extra });

    await expect(cloud.createTenant(spec({ folderDepth: 2 }))).rejects.toMatchObject({ status: 400 });
    await expect(cloud.createTenant(spec({ nestedItemsPerFolder: [3, 1] }))).rejects.toMatchObject({
      status: 400,
    });
    await expect(cloud.createTenant(spec({ nestedItemsPerFolder: 2, folderDepth: 0 }))).rejects.toMatchObject(
      { status: 400 },
    );
    await expect(
      cloud.createTenant(spec({ itemsPerUser: 100, nestedItemsPerFolder: 100, folderDepth: 4 })),
    ).rejects.toThrow(/more than 1000000 items/);
  });

  it("lists a folder's children in pages by user and by drive ID, with the folder's path", async () => {
    const { cloud, app } = own;
    const { tenantId } = await newTenant(cloud, app.clientId, { ...ALL_WITH_DRIVES, itemsPerUser: 1 });
    const token = await graphToken(cloud, tenantId, app);
    const [user] = await cloud.listUsers(tenantId);
    const folder = await cloud.addItem(tenantId, user!.id, { name: 'Café & Co', folder: { childCount: 0 } });
    const inner = await cloud.addItem(tenantId, user!.id, {
      name: 'Sub #1',
      parentId: folder.id,
      folder: { childCount: 0 },
    });
    const names = ['a.txt', 'b.txt', 'c.txt'];
    for (const name of names) await cloud.addItem(tenantId, user!.id, { name, parentId: inner.id });
    const { driveId } = await cloud.driveTree(tenantId, user!.id);
    const get = async (url: string): Promise<{ status: number; body: ChildrenPage }> => {
      const target = url.startsWith('https:') ? url : `${cloud.url}/v1.0${url}`;
      const response = await fetch(target, { headers: { Authorization: `Bearer ${token}` } });
      return { status: response.status, body: (await response.json()) as ChildrenPage };
    };

    const pages: ChildrenPage[] = [];
    const log = await logDuring(cloud, { tenantId }, async () => {
      let page = await get(`/users/${user!.id}/drive/items/${inner.id}/children?$top=2`);
      pages.push(page.body);
      while (page.body['@odata.nextLink']) {
        page = await get(page.body['@odata.nextLink']);
        pages.push(page.body);
      }
    });
    const byDrive = await get(`/drives/${driveId}/items/${folder.id}/children`);
    const unknown = await get(`/drives/${driveId}/items/01NOSUCHITEM/children`);
    const ofFile = await get(`/users/${user!.id}/drive/items/${pages[0]!.value[0]!.id}/children`);

    expect(pages.map((page) => page.value.map((item) => item.name))).toEqual([['a.txt', 'b.txt'], ['c.txt']]);
    expect(pages[0]!.value[0]!.parentReference).toEqual({
      driveType: 'business',
      driveId,
      id: inner.id,
      path: '/drive/root:/Caf%C3%A9%20%26%20Co/Sub%20%231',
    });
    expect(byDrive.body.value.map((item) => [item.id, item.parentReference.path])).toEqual([
      [inner.id, `/drives/${driveId}/root:/Caf%C3%A9%20%26%20Co`],
    ]);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'itemNotFound', message: 'Item not found' });
    expect([ofFile.status, ofFile.body.value]).toEqual([200, []]);
    expect(log.map((entry) => entry.units)).toEqual([2, 2]);
  });

  it('adds, moves, renames and deletes at any depth, keeping childCount and root counts true', async () => {
    const { cloud } = own;
    const seed = uniqueSeed();
    const info = await cloud.createTenant({ ...ALL_WITH_DRIVES, seed, itemsPerUser: 2 });
    const [user] = await cloud.listUsers(info.tenantId);
    const id = user!.id;
    const folder = await cloud.addItem(info.tenantId, id, { name: 'Folder', folder: { childCount: 0 } });
    const sub = await cloud.addItem(info.tenantId, id, {
      name: 'Sub',
      parentId: folder.id,
      folder: { childCount: 0 },
    });
    const file = await cloud.addItem(info.tenantId, id, { name: 'file.txt' });

    await cloud.moveItem(info.tenantId, id, file.id, sub.id);
    await cloud.renameItem(info.tenantId, id, file.id, 'moved.txt');
    const moved = await cloud.driveTree(info.tenantId, id);
    const itemsAfterMove = cloud.tenantInfoSync(info.tenantId).items;
    await expect(cloud.moveItem(info.tenantId, id, folder.id, sub.id)).rejects.toMatchObject({ status: 400 });
    await expect(cloud.moveItem(info.tenantId, id, file.id, 'nowhere')).rejects.toMatchObject({
      status: 404,
    });
    await expect(cloud.addItem(info.tenantId, id, { name: 'x', parentId: file.id })).rejects.toMatchObject({
      status: 400,
    });
    await expect(
      cloud.addItem(info.tenantId, id, { name: 'moved.txt', parentId: sub.id }),
    ).rejects.toMatchObject({
      status: 409,
    });
    await cloud.moveItem(info.tenantId, id, file.id, 'root');
    await cloud.deleteItem(info.tenantId, id, folder.id);
    const after = await cloud.driveTree(info.tenantId, id);

    const movedFile = moved.items.find((item) => item.id === file.id);
    expect(movedFile).toMatchObject({ parentId: sub.id, name: 'moved.txt' });
    expect(movedFile?.webUrl).toMatch(/\/Documents\/Folder\/Sub\/moved\.txt$/);
    expect(movedFile?.eTag).not.toBe(file.eTag);
    expect(moved.items.find((item) => item.id === sub.id)?.folder?.childCount).toBe(1);
    expect(itemsAfterMove).toBe(info.items + 1);
    expect(after.items.map((item) => item.id)).not.toContain(sub.id);
    expect(after.items.find((item) => item.id === file.id)?.parentId).toBe(after.rootId);
    expect(cloud.tenantInfoSync(info.tenantId).items).toBe(info.items + 1);
    expect((await cloud.drives(info.tenantId))[id]?.map((item) => item.id)).toEqual(
      after.items.map((item) => item.id),
    );
  });
});
