import type { Client } from '@microsoft/microsoft-graph-client';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { TenantInfo } from '../../dev/sim/types';
import { credential, failureOf, graphClient, newApp, newTenant } from './sim-sdk';

interface UsersPage {
  '@odata.count'?: number;
  '@odata.nextLink'?: string;
  value: Array<{ id: string; userPrincipalName?: string; displayName?: string }>;
}

const LICENSED = { $filter: 'assignedLicenses/$count ne 0', $count: 'true' };

describe('simulated Graph /users', () => {
  let cloud: SimulatedCloud;
  let tenant: TenantInfo;
  let client: Client;

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    const app = await newApp(cloud);
    tenant = await newTenant(cloud, app.clientId, { users: 45, unlicensedShare: 0.3 });
    client = graphClient(cloud, credential(cloud, tenant.tenantId, app.clientId, app.secret));
  });
  afterAll(() => cloud.close());

  it('lists licensed users over several pages with the license filter, each page authorized', async () => {
    const before = (await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph' })).length;
    const seen: string[] = [];
    let page = (await client
      .api('/users')
      .header('ConsistencyLevel', 'eventual')
      .query({ $select: 'id,userPrincipalName', $top: '10', ...LICENSED })
      .get()) as UsersPage;
    const count = page['@odata.count'];
    seen.push(...page.value.map((user) => user.id));
    while (page['@odata.nextLink']) {
      page = (await client
        .api(page['@odata.nextLink'])
        .header('ConsistencyLevel', 'eventual')
        .get()) as UsersPage;
      seen.push(...page.value.map((user) => user.id));
    }
    const licensed = (await cloud.listUsers(tenant.tenantId))
      .filter((user) => user.licensed)
      .map((user) => user.id);
    const log = (await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph' })).slice(before);

    expect(seen).toEqual(licensed);
    expect(count).toBe(tenant.licensedUsers);
    expect(licensed.length).toBeLessThan(tenant.users);
    expect(log.length).toBe(Math.ceil(licensed.length / 10));
    expect(
      log.every((entry) => entry.authorized && entry.consistencyLevel === 'eventual' && entry.status === 200),
    ).toBe(true);
  });

  it('returns only the selected properties', async () => {
    const page = (await client.api('/users').query({ $select: 'displayName', $top: '1' }).get()) as UsersPage;

    expect(Object.keys(page.value[0] ?? {})).toEqual(['displayName']);
  });

  it('pages by 100 by default and returns every user without a filter', async () => {
    const page = (await client.api('/users').get()) as UsersPage;

    expect(page.value).toHaveLength(tenant.users);
    expect(page['@odata.nextLink']).toBeUndefined();
  });

  it('refuses the license filter without ConsistencyLevel eventual', async () => {
    const error = (await failureOf(client.api('/users').query(LICENSED).get())) as Error & {
      statusCode: number;
      code: string;
    };

    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('Request_UnsupportedQuery');
  });

  it('refuses a $top above 999', async () => {
    const error = (await failureOf(client.api('/users').query({ $top: '1000' }).get())) as Error & {
      statusCode: number;
    };

    expect(error.statusCode).toBe(400);
  });

  it('answers 403 Authorization_RequestDenied without User.Read.All', async () => {
    const app = await newApp(cloud);
    const filesOnly = await newTenant(cloud, undefined, {
      consentedApps: [{ clientId: app.clientId, roles: ['Files.Read.All'] }],
    });
    const limited = graphClient(cloud, credential(cloud, filesOnly.tenantId, app.clientId, app.secret));

    const error = (await failureOf(limited.api('/users').get())) as Error & {
      statusCode: number;
      code: string;
    };

    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('Authorization_RequestDenied');
    expect(error.message).toBe('Insufficient privileges to complete the operation.');
  });

  it('answers 401 InvalidAuthenticationToken without a token or with a forged one', async () => {
    const none = await fetch(`${cloud.url}/v1.0/users`);
    const forged = await fetch(`${cloud.url}/v1.0/users`, { headers: { Authorization: 'Bearer a.b.c' } });

    expect(none.status).toBe(401);
    expect(forged.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: { code: 'InvalidAuthenticationToken' } });
  });

  it("expires a listing's page token (Directory_ExpiredPageToken) and reorders each new listing", async () => {
    const app = await newApp(cloud);
    const odd = await newTenant(cloud, app.clientId, {
      users: 30,
      unlicensedShare: 0,
      expiringUserListings: { afterPage: 2, listings: 1 },
      reorderUserListings: true,
    });
    const sdk = graphClient(cloud, credential(cloud, odd.tenantId, app.clientId, app.secret));
    const list = async (): Promise<{ ids: string[]; failure?: Error }> => {
      const ids: string[] = [];
      let page = (await sdk
        .api('/users')
        .header('ConsistencyLevel', 'eventual')
        .query({ $select: 'id', $top: '10', ...LICENSED })
        .get()) as UsersPage;
      ids.push(...page.value.map((user) => user.id));
      while (page['@odata.nextLink']) {
        const next = page['@odata.nextLink'];
        try {
          page = (await sdk.api(next).header('ConsistencyLevel', 'eventual').get()) as UsersPage;
        } catch (error) {
          return { ids, failure: error as Error };
        }
        ids.push(...page.value.map((user) => user.id));
      }
      return { ids };
    };

    const first = await list();
    expect(first.ids).toHaveLength(20);
    expect(first.failure).toMatchObject({ statusCode: 400, code: 'Directory_ExpiredPageToken' });
    const second = await list();
    const third = await list();
    expect(second.failure).toBeUndefined();
    expect(new Set(second.ids).size).toBe(30);
    expect(new Set(third.ids)).toEqual(new Set(second.ids));
    // The same users in another order.
    expect(third.ids).not.toEqual(second.ids);
  });
});
