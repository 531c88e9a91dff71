import type { Client } from '@microsoft/microsoft-graph-client';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { SimUser, TenantInfo } from '../../dev/sim/types';
import { credential, failureOf, graphClient, logDuring, newApp, newTenant } from './sim-sdk';

interface ChildrenPage {
  '@odata.nextLink'?: string;
  value: Array<{ id: string; name: string; folder?: unknown; file?: unknown }>;
}

interface BatchResponse {
  responses: Array<{
    id: string;
    status: number;
    headers: Record<string, string>;
    body: { error?: { code: string } };
  }>;
}

type GraphFailure = Error & { statusCode: number; code: string };

describe('simulated Graph drive root children and $batch', () => {
  let cloud: SimulatedCloud;
  let tenant: TenantInfo;
  let client: Client;
  let users: SimUser[];

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    const app = await newApp(cloud);
    tenant = await newTenant(cloud, app.clientId, {
      users: 40,
      itemsPerUser: [3, 25],
      unlicensedShare: 0.2,
      withoutDriveShare: 0.2,
      budgetPerWindow: 100_000,
    });
    client = graphClient(cloud, credential(cloud, tenant.tenantId, app.clientId, app.secret));
    users = await cloud.listUsers(tenant.tenantId);
  });
  afterAll(() => cloud.close());

  function userWith(predicate: (user: SimUser) => boolean): SimUser {
    const user = users.find(predicate);
    if (!user) throw new Error('the seeded tenant lacks such a user');
    return user;
  }

  async function listAll(userId: string, top: number): Promise<{ names: string[]; pages: number }> {
    const names: string[] = [];
    let pages = 1;
    let page = (await client
      .api(`/users/${userId}/drive/root/children`)
      .query({ $select: 'id,name,folder,file', $top: String(top) })
      .get()) as ChildrenPage;
    names.push(...page.value.map((item) => item.name));
    while (page['@odata.nextLink']) {
      pages++;
      page = (await client.api(page['@odata.nextLink']).get()) as ChildrenPage;
      names.push(...page.value.map((item) => item.name));
    }
    return { names, pages };
  }

  it('lists a root over several pages exactly as drives() has it', async () => {
    const drives = await cloud.drives(tenant.tenantId);
    const [userId, items] = Object.entries(drives).sort((a, b) => b[1].length - a[1].length)[0]!;

    const listed = await listAll(userId, 4);

    expect(listed.pages).toBe(Math.ceil(items.length / 4));
    expect(listed.names).toEqual(items.map((item) => item.name));
  });

  it('marks folders with a folder facet and files with a file facet', async () => {
    const user = userWith((u) => u.hasDrive);
    const page = (await client
      .api(`/users/${user.userPrincipalName}/drive/root/children`)
      .get()) as ChildrenPage;
    const drives = await cloud.drives(tenant.tenantId);

    expect(page.value.map((item) => (item.folder ? 'folder' : item.file ? 'file' : '?'))).toEqual(
      (drives[user.id] ?? []).map((item) => (item.folder ? 'folder' : 'file')),
    );
  });

  it('answers 404 ResourceNotFound for a licensed user without a OneDrive', async () => {
    const user = userWith((u) => u.licensed && !u.hasDrive);

    const error = (await failureOf(
      client.api(`/users/${user.id}/drive/root/children`).get(),
    )) as GraphFailure;

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('ResourceNotFound');
    expect(error.message).toBe("User's mysite not found.");
  });

  it('answers 404 for an unlicensed user', async () => {
    const user = userWith((u) => !u.licensed);

    const error = (await failureOf(
      client.api(`/users/${user.id}/drive/root/children`).get(),
    )) as GraphFailure;

    expect(error.statusCode).toBe(404);
  });

  it('answers 404 Request_ResourceNotFound for an unknown user', async () => {
    const error = (await failureOf(
      client.api('/users/00000000-0000-4000-8000-000000000000/drive/root/children').get(),
    )) as GraphFailure;

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('Request_ResourceNotFound');
  });

  it('answers 403 accessDenied without Files.Read.All', async () => {
    const app = await newApp(cloud);
    const usersOnly = await newTenant(cloud, undefined, {
      consentedApps: [{ clientId: app.clientId, roles: ['User.Read.All'] }],
    });
    const limited = graphClient(cloud, credential(cloud, usersOnly.tenantId, app.clientId, app.secret));
    const someone = (await cloud.listUsers(usersOnly.tenantId))[0]!;

    const error = (await failureOf(
      limited.api(`/users/${someone.id}/drive/root/children`).get(),
    )) as GraphFailure;

    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('accessDenied');
  });

  it('reflects added, renamed and deleted items', async () => {
    const user = userWith((u) => u.hasDrive);
    const before = (await cloud.drives(tenant.tenantId))[user.id] ?? [];
    const added = await cloud.addItem(tenant.tenantId, user.id, { name: 'Nouveau – 新しい 📄.txt' });
    await cloud.renameItem(tenant.tenantId, user.id, before[0]!.id, 'Renamed ✓.docx');
    await cloud.deleteItem(tenant.tenantId, user.id, before[1]!.id);

    const listed = await listAll(user.id, 1000);

    expect(listed.names).toContain('Nouveau – 新しい 📄.txt');
    expect(listed.names).toContain('Renamed ✓.docx');
    expect(listed.names).not.toContain(before[1]!.name);
    expect(listed.names).toHaveLength(before.length);
    expect(added.file?.mimeType).toBe('text/plain');
  });

  it('answers a $batch with a status per request, a 404 next to 200s', async () => {
    const withDrive = users.filter((u) => u.hasDrive).slice(0, 2);
    const without = userWith((u) => u.licensed && !u.hasDrive);
    const requests = [...withDrive, without].map((user, index) => ({
      id: String(index + 1),
      method: 'GET',
      url: `/users/${user.id}/drive/root/children?$select=id,name`,
    }));

    const batch = (await client.api('/$batch').post({ requests })) as BatchResponse;

    expect(batch.responses.map((r) => [r.id, r.status])).toEqual([
      ['1', 200],
      ['2', 200],
      ['3', 404],
    ]);
    expect(batch.responses[2]!.body.error?.code).toBe('ResourceNotFound');
    expect(batch.responses[0]!.headers['Content-Type']).toMatch(/^application\/json/);
  });

  it('charges and logs each request inside a $batch, and the outer request at no cost', async () => {
    const user = userWith((u) => u.hasDrive);
    const requests = [1, 2, 3].map((n) => ({
      id: String(n),
      method: 'GET',
      url: `users/${user.id}/drive/root/children`,
    }));

    const log = await logDuring(cloud, { tenantId: tenant.tenantId }, () =>
      client.api('/$batch').post({ requests }),
    );

    expect(log.filter((e) => e.inBatch).map((e) => e.units)).toEqual([2, 2, 2]);
    expect(log.filter((e) => !e.inBatch).map((e) => [e.url, e.units])).toEqual([['/v1.0/$batch', 0]]);
  });

  it('answers 400 for an inner URL that starts with /v1.0', async () => {
    const user = userWith((u) => u.hasDrive);
    const requests = [{ id: 'a', method: 'GET', url: `/v1.0/users/${user.id}/drive/root/children` }];

    const batch = (await client.api('/$batch').post({ requests })) as BatchResponse;

    expect(batch.responses[0]!.status).toBe(400);
  });

  it('refuses a $batch of more than 20 requests', async () => {
    const user = userWith((u) => u.hasDrive);
    const requests = Array.from({ length: 21 }, (_, n) => ({
      id: String(n),
      method: 'GET',
      url: `/users/${user.id}/drive/root/children`,
    }));

    const error = (await failureOf(client.api('/$batch').post({ requests }))) as GraphFailure;

    expect(error.statusCode).toBe(400);
  });
});
