import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import {
  credential,
  failureOf,
  graphClient,
  logDuring,
  newApp,
  newTenant,
  rawGet,
  ownCloudWithApp,
} from './sim-sdk';

describe('simulated latency, faults and request log', () => {
  const own = ownCloudWithApp(10);

  async function tenantWithClient(spec: Parameters<typeof newTenant>[2] = {}) {
    const tenant = await newTenant(own.cloud, own.app.clientId, spec);
    const client = graphClient(
      own.cloud,
      credential(own.cloud, tenant.tenantId, own.app.clientId, own.app.secret),
    );
    await rawGet(client, '/users?$top=1');
    return { tenant, client };
  }

  async function elapsed(action: () => Promise<unknown>): Promise<number> {
    const started = performance.now();
    await action();
    return performance.now() - started;
  }

  it('delays answers by the tenant latency divided by the time scale, for that tenant only', async () => {
    const slow = await tenantWithClient({ latencyMs: 3000 });
    const fast = await tenantWithClient();

    const slowMs = await elapsed(() => rawGet(slow.client, '/users?$top=1'));
    const fastMs = await elapsed(() => rawGet(fast.client, '/users?$top=1'));

    expect(slowMs).toBeGreaterThanOrEqual(295);
    // Relative, not absolute: on a loaded machine both answers take longer, but only one waits the 300 ms.
    expect(fastMs).toBeLessThan(slowMs - 150);
  });

  it('waits the latency once for a whole $batch', async () => {
    const { tenant, client } = await tenantWithClient({ latencyMs: 3000 });
    const users = await own.cloud.listUsers(tenant.tenantId);
    const requests = users
      .slice(0, 5)
      .map((user, n) => ({ id: String(n), method: 'GET', url: `/users/${user.id}` }));

    const ms = await elapsed(() => client.api('/$batch').post({ requests }));

    expect(ms).toBeGreaterThanOrEqual(295);
    expect(ms).toBeLessThan(900);
  });

  it('injects faults into the named tenant only', async () => {
    const faulty = await tenantWithClient();
    const healthy = await tenantWithClient();
    await own.cloud.setFaults(faulty.tenant.tenantId, { graph: { status500: 1 } });

    const broken = await rawGet(faulty.client, '/users');
    const fine = await rawGet(healthy.client, '/users');
    await own.cloud.setFaults(faulty.tenant.tenantId, {});
    const recovered = await rawGet(faulty.client, '/users');

    expect([broken.status, fine.status, recovered.status]).toEqual([500, 200, 200]);
  });

  it("applies '*' faults to every tenant, under a tenant's own", async () => {
    const a = await tenantWithClient();
    const b = await tenantWithClient();
    await own.cloud.setFaults('*', { graph: { status500: 1 } });
    await own.cloud.setFaults(b.tenant.tenantId, { graph: { status500: 0 } });

    const statuses = [(await rawGet(a.client, '/users')).status, (await rawGet(b.client, '/users')).status];
    await own.cloud.setFaults('*', {});
    await own.cloud.setFaults(b.tenant.tenantId, {});

    expect(statuses).toEqual([500, 200]);
  });

  it('drops the connection when a reset is injected', async () => {
    const { tenant, client } = await tenantWithClient();
    await own.cloud.setFaults(tenant.tenantId, { graph: { reset: 1 } });

    let error: (Error & { body?: unknown }) | undefined;
    const log = await logDuring(own.cloud, { tenantId: tenant.tenantId }, async () => {
      error = await failureOf(rawGet(client, '/users'));
    });
    await own.cloud.setFaults(tenant.tenantId, {});

    expect(String(error?.body)).toMatch(/fetch failed/);
    expect(log.map((entry) => entry.status)).toEqual([0]);
  });

  it('answers late when slowness is injected', async () => {
    const { tenant, client } = await tenantWithClient();
    await own.cloud.setFaults(tenant.tenantId, { graph: { slow: 1, slowMs: 250 } });

    const ms = await elapsed(() => rawGet(client, '/users'));
    await own.cloud.setFaults(tenant.tenantId, {});

    expect(ms).toBeGreaterThanOrEqual(245);
  });

  it('filters the request log by tenant, client, service and time', async () => {
    const other = await newApp(own.cloud);
    const { tenant, client } = await tenantWithClient();
    await own.cloud.consent(tenant.tenantId, other.clientId);
    const otherClient = graphClient(
      own.cloud,
      credential(own.cloud, tenant.tenantId, other.clientId, other.secret),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const since = Date.now();
    await rawGet(client, '/users', { 'User-Agent': 'ISV|Contoso|DriveCrawler/1.0' });
    await rawGet(otherClient, '/users');

    const graphOfTenant = await own.cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph', since });
    const ofApp = await own.cloud.requestLog({
      tenantId: tenant.tenantId,
      clientId: own.app.clientId,
      service: 'graph',
      since,
    });
    const tokens = await own.cloud.requestLog({
      tenantId: tenant.tenantId,
      clientId: other.clientId,
      service: 'token',
    });

    expect(graphOfTenant).toHaveLength(2);
    expect(ofApp).toHaveLength(1);
    expect(ofApp[0]).toMatchObject({
      method: 'GET',
      url: '/v1.0/users',
      status: 200,
      units: 1,
      userAgent: 'ISV|Contoso|DriveCrawler/1.0',
    });
    expect(tokens.map((entry) => entry.status)).toEqual([200]);
  });

  it('keeps exact throttle counters when the log overflows', async () => {
    const small = await startSimulatedCloud({ timeScale: 60, logCapacity: 5 });
    try {
      const smallApp = await newApp(small);
      const tenant = await newTenant(small, smallApp.clientId, {
        users: 3,
        unlicensedShare: 0,
        withoutDriveShare: 0,
      });
      const client = graphClient(
        small,
        credential(small, tenant.tenantId, smallApp.clientId, smallApp.secret),
      );
      const user = (await small.listUsers(tenant.tenantId))[0]!;
      for (let i = 0; i < 12; i++) await rawGet(client, `/users/${user.id}/drive/root/children`);

      const stats = small.throttleStatsSync(tenant.tenantId, smallApp.clientId);

      expect(small.requestLogSync()).toHaveLength(5);
      expect(stats).toMatchObject({ requests: 12, unitsSpent: 24 });
    } finally {
      await small.close();
    }
  });
});
