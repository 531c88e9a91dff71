import { RESYNC_MESSAGE } from '../../dev/sim/drive-delta';
import { DELTA_ENUMERATION_PAGE_UNITS, RESOURCE_UNITS } from '../../dev/sim/resource-costs';
import type { SimDriveTree, SimUser, TenantSpec } from '../../dev/sim/types';
import { graphToken, logDuring, newTenant, ownCloudWithApp } from './sim-sdk';

interface DeltaItem {
  id: string;
  name?: string;
  root?: object;
  folder?: { childCount: number };
  deleted?: { state: string };
  parentReference?: { driveId: string; id?: string; path?: string };
}

interface DeltaPage {
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
  value: DeltaItem[];
  error?: { code: string; message: string; innerError?: { code?: string } };
}

interface Answer {
  status: number;
  headers: Headers;
  body: DeltaPage;
}

const SELECT = 'id,name,size,folder,file,deleted,parentReference,lastModifiedDateTime,root';

/** Every user licensed with a drive; three root items, folders nested three levels deep. */
const NESTED: Partial<TenantSpec> = {
  users: 3,
  unlicensedShare: 0,
  withoutDriveShare: 0,
  itemsPerUser: 4,
  folderShare: 0.6,
  nestedItemsPerFolder: [2, 3],
  folderDepth: 3,
  budgetPerWindow: 100_000,
};

describe('simulated OneDrive delta', () => {
  const own = ownCloudWithApp(60);

  /**
   * A fresh nested tenant (tests change drives), its first user with a known part of the drive (`top/mid/leaf.txt`,
   * `other/`, `root file.txt` besides the seeded items), the user's tree, and a GET with a token.
   */
  async function setUp(): Promise<{
    tenantId: string;
    user: SimUser;
    tree: SimDriveTree;
    made: Record<'top' | 'mid' | 'leaf' | 'other' | 'rootFile', string>;
    get: (url: string, headers?: Record<string, string>) => Promise<Answer>;
  }> {
    const { cloud, app } = own;
    const { tenantId } = await newTenant(cloud, app.clientId, NESTED);
    const token = await graphToken(cloud, tenantId, app);
    const [user] = await cloud.listUsers(tenantId);
    const add = async (name: string, parentId?: string, folder = false): Promise<string> =>
      (
        await cloud.addItem(tenantId, user!.id, {
          name,
          parentId,
          ...(folder ? { folder: { childCount: 0 } } : {}),
        })
      ).id;
    const top = await add('top', undefined, true);
    const mid = await add('mid', top, true);
    const made = {
      top,
      mid,
      leaf: await add('leaf.txt', mid),
      other: await add('other', undefined, true),
      rootFile: await add('root file.txt'),
    };
    const tree = await cloud.driveTree(tenantId, user!.id);
    const get = async (url: string, headers: Record<string, string> = {}): Promise<Answer> => {
      const target = url.startsWith('https:') ? url : `${cloud.url}/v1.0${url}`;
      const response = await fetch(target, { headers: { Authorization: `Bearer ${token}`, ...headers } });
      return {
        status: response.status,
        headers: response.headers,
        body: (await response.json()) as DeltaPage,
      };
    };
    return { tenantId, user: user!, tree, made, get };
  }

  /** Follows nextLinks to the deltaLink; every page's items in order. */
  async function sync(
    get: (url: string, headers?: Record<string, string>) => Promise<Answer>,
    url: string,
    headers: Record<string, string> = {},
  ): Promise<{ pages: DeltaPage[]; items: DeltaItem[]; deltaLink: string }> {
    const pages: DeltaPage[] = [];
    let answer = await get(url, headers);
    pages.push(answer.body);
    while (answer.body['@odata.nextLink']) {
      answer = await get(answer.body['@odata.nextLink'], headers);
      expect(answer.status).toBe(200);
      pages.push(answer.body);
    }
    return {
      pages,
      items: pages.flatMap((page) => page.value),
      deltaLink: answer.body['@odata.deltaLink'] ?? '',
    };
  }

  it('enumerates the whole drive in pages: the root first, parents before children, a deltaLink at the end', async () => {
    const { user, tree, get } = await setUp();

    const { pages, items, deltaLink } = await sync(
      get,
      `/users/${user.id}/drive/root/delta?$top=5&$select=${SELECT}`,
    );

    expect(pages).toHaveLength(Math.ceil((tree.items.length + 1) / 5));
    expect(pages.slice(0, -1).every((page) => page['@odata.nextLink'] && !page['@odata.deltaLink'])).toBe(
      true,
    );
    expect(deltaLink).toMatch(/\/root\/delta\?.*token=/);
    expect(items[0]).toMatchObject({ id: tree.rootId, name: 'root', root: {} });
    expect(items.slice(1).map((item) => item.id)).toEqual(tree.items.map((item) => item.id));
    const seen = new Set<string>();
    for (const item of items) {
      if (item.id !== tree.rootId) expect(seen.has(item.parentReference?.id ?? '')).toBe(true);
      expect(item.parentReference?.path).toBeUndefined();
      seen.add(item.id);
    }
    expect(tree.items.some((item) => item.parentId !== tree.rootId)).toBe(true);
  });

  it('reports what changed since the deltaLink, each item once in its latest state, with its parents', async () => {
    const { cloud } = own;
    const { tenantId, user, tree, made, get } = await setUp();
    const { deltaLink } = await sync(get, `/users/${user.id}/drive/root/delta?$select=${SELECT}`);
    const added = await cloud.addItem(tenantId, user.id, { name: 'added deep.txt', parentId: made.mid });
    await cloud.renameItem(tenantId, user.id, made.rootFile, 'renamed once.txt');
    await cloud.renameItem(tenantId, user.id, made.rootFile, 'renamed twice.txt');
    await cloud.moveItem(tenantId, user.id, made.rootFile, made.other);

    const { items } = await sync(get, deltaLink);

    expect(items.map((item) => item.id)).toEqual([
      tree.rootId,
      made.top,
      made.mid,
      added.id,
      made.other,
      made.rootFile,
    ]);
    expect(items.find((item) => item.id === made.rootFile)).toMatchObject({
      name: 'renamed twice.txt',
      parentReference: { id: made.other },
    });
    expect(items.find((item) => item.id === added.id)?.parentReference?.id).toBe(made.mid);
  });

  it('reports a deleted folder alone and a deleted file, the deleted facet only when selected', async () => {
    const { cloud } = own;
    const { tenantId, user, tree, made, get } = await setUp();
    const { deltaLink } = await sync(get, `/users/${user.id}/drive/root/delta?$select=${SELECT}`);
    await cloud.deleteItem(tenantId, user.id, made.top);
    await cloud.deleteItem(tenantId, user.id, made.rootFile);
    const token = new URL(deltaLink).searchParams.get('token') ?? '';

    const selected = await sync(get, deltaLink);
    const unselected = await sync(
      get,
      `/users/${user.id}/drive/root/delta?$select=id,name,parentReference&token=${token}`,
    );

    const parentReference = { driveType: 'business', driveId: tree.driveId, id: tree.rootId };
    expect(selected.items).toEqual([
      expect.objectContaining({ id: tree.rootId, root: {} }),
      { id: made.top, deleted: { state: 'deleted' }, parentReference },
      { id: made.rootFile, deleted: { state: 'deleted' }, parentReference },
    ]);
    expect(unselected.items.slice(1)).toEqual([
      { id: made.top, parentReference },
      { id: made.rootFile, parentReference },
    ]);
    const left = (await cloud.driveTree(tenantId, user.id)).items.map((item) => item.id);
    expect(left).not.toContain(made.mid);
    expect(left).not.toContain(made.leaf);
  });

  it('reports a renamed folder without its descendants', async () => {
    const { cloud } = own;
    const { tenantId, user, tree, made, get } = await setUp();
    const { deltaLink } = await sync(get, `/drives/${tree.driveId}/root/delta?$select=${SELECT}`);
    await cloud.renameItem(tenantId, user.id, made.top, 'Renamed folder');

    const { items } = await sync(get, deltaLink);

    expect(items.map((item) => [item.id, item.name])).toEqual([
      [tree.rootId, 'root'],
      [made.top, 'Renamed folder'],
    ]);
  });

  it('leaves the parents out under Prefer: deltaExcludeParent, and says so', async () => {
    const { cloud } = own;
    const { tenantId, user, tree, made, get } = await setUp();
    const { deltaLink } = await sync(get, `/users/${user.id}/drive/root/delta?$select=${SELECT}`);
    const added = await cloud.addItem(tenantId, user.id, { name: 'only me.txt', parentId: made.mid });

    const excluded = await get(deltaLink, { Prefer: 'deltaExcludeParent' });
    const included = await get(deltaLink);

    expect(excluded.body.value.map((item) => item.id)).toEqual([added.id]);
    expect(excluded.headers.get('preference-applied')).toBe('deltaExcludeParent');
    expect(included.body.value.map((item) => item.id)).toEqual([tree.rootId, made.top, made.mid, added.id]);
    expect(included.headers.get('preference-applied')).toBeNull();
  });

  it('answers token=latest with no items and a deltaLink at now', async () => {
    const { cloud } = own;
    const { tenantId, user, get } = await setUp();

    const latest = await get(`/users/${user.id}/drive/root/delta?token=latest`);
    const added = await cloud.addItem(tenantId, user.id, { name: 'after latest.txt' });
    const { items } = await sync(get, latest.body['@odata.deltaLink'] ?? '', {
      Prefer: 'deltaExcludeParent',
    });

    expect(latest.status).toBe(200);
    expect(latest.body.value).toEqual([]);
    expect(items.map((item) => item.id)).toEqual([added.id]);
  });

  it('answers 410 resyncRequired with a fresh enumeration to follow once tokens expire', async () => {
    const { cloud } = own;
    const { tenantId, user, tree, get } = await setUp();
    const { deltaLink } = await sync(get, `/users/${user.id}/drive/root/delta?$select=${SELECT}`);
    const latest =
      (await get(`/drives/${tree.driveId}/root/delta?token=latest`)).body['@odata.deltaLink'] ?? '';
    await cloud.expireDeltaTokens(tenantId, user.id);

    const gone = await get(deltaLink);
    const fresh = await sync(get, gone.headers.get('location') ?? '');
    const renewed = await get(`/users/${user.id}/drive/root/delta?token=latest`);
    await cloud.expireDeltaTokens(tenantId);

    expect(gone.status).toBe(410);
    expect(gone.body.error).toMatchObject({
      code: 'resyncRequired',
      message: RESYNC_MESSAGE,
      innerError: { code: 'resyncChangesApplyDifferences' },
    });
    expect(RESYNC_MESSAGE).toMatch(/^Resync required\. Replace any local items with the server's version/);
    expect((await get(latest)).status).toBe(410);
    expect(fresh.items).toHaveLength(tree.items.length + 1);
    expect(fresh.items[0]?.id).toBe(tree.rootId);
    expect((await get(renewed.body['@odata.deltaLink'] ?? '')).status).toBe(410);
  });

  it("answers 410 for another drive's token and for a token that is not one", async () => {
    const { cloud } = own;
    const { tenantId, user, get } = await setUp();
    const other = (await cloud.listUsers(tenantId))[1]!;
    const latest =
      (await get(`/users/${user.id}/drive/root/delta?token=latest`)).body['@odata.deltaLink'] ?? '';
    const token = new URL(latest).searchParams.get('token') ?? '';

    const foreign = await get(`/users/${other.id}/drive/root/delta?token=${token}`);
    const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
    const altered = await get(`/users/${user.id}/drive/root/delta?token=${flipped}`);
    const bogus = await get(`/users/${user.id}/drive/root/delta?token=not-a-token`);

    expect([foreign.status, altered.status, bogus.status]).toEqual([410, 410, 410]);
    expect(foreign.headers.get('location')).toBe(`${cloud.url}/v1.0/users/${other.id}/drive/root/delta`);
    expect(foreign.body.error?.code).toBe('resyncRequired');
  });

  it('makes a replaced drive unknown: its ID answers 404 itemNotFound and its tokens 410', async () => {
    const { cloud } = own;
    const { tenantId, user, tree, get } = await setUp();
    const { deltaLink } = await sync(get, `/users/${user.id}/drive/root/delta`);

    const replaced = await cloud.replaceDrive(tenantId, user.id);
    const after = await cloud.driveTree(tenantId, user.id);

    const oldDelta = await get(`/drives/${tree.driveId}/root/delta`);
    expect(oldDelta.status).toBe(404);
    expect(oldDelta.body.error).toMatchObject({ code: 'itemNotFound', message: 'Item not found' });
    expect((await get(`/drives/${tree.driveId}`)).status).toBe(404);
    expect((await get(deltaLink)).status).toBe(410);
    expect(replaced).toEqual({ driveId: after.driveId, rootId: after.rootId });
    expect(after.driveId).not.toBe(tree.driveId);
    expect(after.items.map((item) => item.name)).toEqual(tree.items.map((item) => item.name));
    expect(after.items.some((item) => tree.items.some((old) => old.id === item.id))).toBe(false);
    const fresh = await sync(get, `/drives/${after.driveId}/root/delta`);
    expect(fresh.items.map((item) => item.id)).toEqual([after.rootId, ...after.items.map((item) => item.id)]);
  });

  it('charges 2 units for every page without a token and 1 with one, as the request log shows', async () => {
    const { cloud } = own;
    const { tenantId, user, tree, get } = await setUp();
    const pages = Math.ceil((tree.items.length + 1) / 4);

    let deltaLink = '';
    const enumeration = await logDuring(cloud, { tenantId }, async () => {
      deltaLink = (await sync(get, `/users/${user.id}/drive/root/delta?$top=4`)).deltaLink;
    });
    await cloud.addItem(tenantId, user.id, { name: 'one more.txt' });
    const incremental = await logDuring(cloud, { tenantId }, () => sync(get, deltaLink));
    const latest = await logDuring(cloud, { tenantId }, () =>
      get(`/users/${user.id}/drive/root/delta?token=latest`),
    );
    await cloud.expireDeltaTokens(tenantId);
    const refused = await logDuring(cloud, { tenantId }, () => get(deltaLink));

    expect(DELTA_ENUMERATION_PAGE_UNITS).toBe(2);
    expect(RESOURCE_UNITS.deltaWithToken).toBe(1);
    expect(enumeration.map((entry) => entry.units)).toEqual(Array<number>(pages).fill(2));
    expect(incremental.map((entry) => [entry.status, entry.units])).toEqual([[200, 1]]);
    expect(latest.map((entry) => entry.units)).toEqual([1]);
    expect(refused.map((entry) => [entry.status, entry.units])).toEqual([[410, 1]]);
    expect((await cloud.throttleStats(tenantId, own.app.clientId)).unitsSpent).toBe(pages * 2 + 1 + 1 + 1);
  });

  it('answers delta inside $batch, each inner request charged and logged, Prefer honoured', async () => {
    const { cloud, app } = own;
    const { tenantId, user, tree } = await setUp();
    const token = await graphToken(cloud, tenantId, app);
    const latest = await fetch(`${cloud.url}/v1.0/drives/${tree.driveId}/root/delta?token=latest`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const deltaLink = ((await latest.json()) as DeltaPage)['@odata.deltaLink'] ?? '';
    const added = await cloud.addItem(tenantId, user.id, { name: 'batched.txt' });
    const requests = [
      { id: '1', method: 'GET', url: `/users/${user.id}/drive/root/delta?$select=id,name` },
      {
        id: '2',
        method: 'GET',
        url: deltaLink.slice(`${cloud.url}/v1.0`.length),
        headers: { Prefer: 'deltaExcludeParent' },
      },
    ];

    let batch: {
      responses: Array<{ id: string; status: number; headers: Record<string, string>; body: DeltaPage }>;
    } = {
      responses: [],
    };
    const log = await logDuring(cloud, { tenantId }, async () => {
      const response = await fetch(`${cloud.url}/v1.0/$batch`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ requests }),
      });
      batch = (await response.json()) as typeof batch;
    });

    const [first, second] = ['1', '2'].map((id) => batch.responses.find((r) => r.id === id)!);
    expect(first?.status).toBe(200);
    expect(first?.body.value).toHaveLength(tree.items.length + 2);
    expect(second?.body.value.map((item) => item.id)).toEqual([added.id]);
    expect(second?.headers['Preference-Applied']).toBe('deltaExcludeParent');
    expect(log.filter((entry) => entry.inBatch).map((entry) => entry.units)).toEqual([2, 1]);
  });
});
