import { SimClient } from '../../dev/sim/sim-client';
import { SimError } from '../../dev/sim/sim-error';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import { credential, jwtPayload, uniqueSeed } from './sim-sdk';

describe('SimClient', () => {
  let cloud: SimulatedCloud;
  let client: SimClient;

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    client = new SimClient(cloud.url);
  });
  afterAll(() => cloud.close());

  it('sets up an app and a consented tenant over the control API', async () => {
    const { clientId } = await client.createApp({ secrets: [{ value: 'remote-secret' }] });
    const tenant = await client.createTenant({ seed: uniqueSeed(), users: 4 });
    await client.consent(tenant.tenantId, clientId, { roles: ['Files.Read.All'] });

    const token = await credential(cloud, tenant.tenantId, clientId, 'remote-secret').getToken(
      `${cloud.url}/.default`,
    );

    expect(jwtPayload(token.token)).toMatchObject({ tid: tenant.tenantId, roles: ['Files.Read.All'] });
    expect(await client.listUsers(tenant.tenantId)).toEqual(await cloud.listUsers(tenant.tenantId));
  });

  it('returns the same environment, drives and statistics as the in-process simulator', async () => {
    const tenant = await client.createTenant({ seed: uniqueSeed(), users: 6 });
    const { clientId } = await client.createApp({ secrets: [{ value: 'x' }] });

    expect(await client.env()).toEqual(await cloud.env());
    expect(await client.drives(tenant.tenantId)).toEqual(await cloud.drives(tenant.tenantId));
    expect(await client.throttleStats(tenant.tenantId, clientId)).toEqual(
      await cloud.throttleStats(tenant.tenantId, clientId),
    );
  });

  it('changes drives, licenses, secrets and throttles remotely', async () => {
    const tenant = await client.createTenant({
      seed: uniqueSeed(),
      users: 3,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: 2,
    });
    const [user] = await client.listUsers(tenant.tenantId);
    const added = await client.addItem(tenant.tenantId, user!.id, { name: 'remote.txt', size: 12 });
    await client.renameItem(tenant.tenantId, user!.id, added.id, 'remote renamed.txt');
    await client.setThrottle(tenant.tenantId, { budgetPerWindow: 77 });
    const { version } = await client.setVaultSecret('remote-secret-name', 'v1');
    await client.deleteVaultSecret('remote-secret-name');

    const items = (await client.drives(tenant.tenantId))[user!.id] ?? [];

    expect(items.map((item) => item.name)).toContain('remote renamed.txt');
    expect(
      (await client.throttleStats(tenant.tenantId, '00000000-0000-4000-8000-000000000000')).budgetPerWindow,
    ).toBe(77);
    expect(version).toMatch(/^[0-9a-f]{32}$/);
  });

  it('throws the simulator refusal as a SimError with its status and message', async () => {
    const error = (await client.listUsers('no-such-tenant').catch((e: unknown) => e)) as SimError;

    expect(error).toBeInstanceOf(SimError);
    expect(error.status).toBe(404);
    expect(error.message).toBe('No tenant no-such-tenant');
  });

  it('reads the request log with filters', async () => {
    await fetch(`${cloud.url}/organizations/v2.0/.well-known/openid-configuration`);
    await fetch(`${cloud.url}/nowhere.test/v2.0/.well-known/openid-configuration`);

    const log = await client.requestLog({ service: 'openid', since: 0 });

    expect(log.slice(-2).map((entry) => entry.status)).toEqual([200, 400]);
    expect(await client.requestLog({ service: 'openid', since: Date.now() + 60_000 })).toEqual([]);
  });
});
