import type { Client } from '@microsoft/microsoft-graph-client';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { IN_FLIGHT_GRACE_MS } from '../../dev/sim/graph-request';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { TenantInfo, TenantSpec } from '../../dev/sim/types';
import { credential, graphClient, logDuring, newApp, newTenant, rawGet } from './sim-sdk';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('simulated Graph throttling', () => {
  let cloud: SimulatedCloud;
  let app: { clientId: string; secret: string };

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    app = await newApp(cloud);
  });
  afterAll(() => cloud.close());

  /** A tenant of the test app (1 licensed user with a drive at least) and a Graph client on it. */
  async function throttledTenant(
    spec: Partial<TenantSpec>,
  ): Promise<{ tenant: TenantInfo; client: Client; children: string }> {
    const tenant = await newTenant(cloud, app.clientId, {
      users: 3,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      ...spec,
    });
    const client = graphClient(cloud, credential(cloud, tenant.tenantId, app.clientId, app.secret));
    const user = (await cloud.listUsers(tenant.tenantId))[0]!;
    await client.api('/users').get(); // warm the token so timing below is Graph's alone
    return { tenant, client, children: `/users/${user.id}/drive/root/children` };
  }

  it('charges 2 resource units per children listing', async () => {
    const { tenant, client, children } = await throttledTenant({ budgetPerWindow: 1000 });

    for (let i = 0; i < 3; i++) await rawGet(client, children);
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);

    expect(stats.unitsSpent).toBe(6);
  });

  it('sets the budget by license tier', async () => {
    const budgets: number[] = [];
    for (const users of [1000, 1001, 5001, 15001, 50001]) {
      const tenant = await newTenant(cloud, undefined, { users, unlicensedShare: 0, itemsPerUser: 0 });
      budgets.push((await cloud.throttleStats(tenant.tenantId, app.clientId)).budgetPerWindow);
    }

    expect(budgets).toEqual([1250, 2500, 3750, 5000, 6250]);
  });

  it('scales the window by the time scale', async () => {
    const tenant = await newTenant(cloud, undefined, {
      budgetPerWindow: 600,
      windowSeconds: 60,
      timeScale: 120,
    });

    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);

    expect(stats.unitsPerRealSecond).toBe(1200);
  });

  it('refuses with 429 and a fractional Retry-After once the window budget is spent, then admits after it', async () => {
    const { client, children } = await throttledTenant({
      budgetPerWindow: 4,
      windowSeconds: 30,
      timeScale: 60,
    });

    const admitted = [await rawGet(client, children), await rawGet(client, children)];
    const refused = await rawGet(client, children);
    const retryAfter = Number(refused.headers.get('Retry-After'));
    await sleep(retryAfter * 1000);
    const after = await rawGet(client, children);

    expect(admitted.map((r) => r.status)).toEqual([200, 200]);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: { code: 'TooManyRequests' } });
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(0.502);
    expect(after.status).toBe(200);
  });

  it('never grants more than the budget in one window, however many requests arrive at once', async () => {
    const { tenant, client, children } = await throttledTenant({
      budgetPerWindow: 20,
      windowSeconds: 600,
      timeScale: 60,
    });

    const statuses = (await Promise.all(Array.from({ length: 30 }, () => rawGet(client, children)))).map(
      (r) => r.status,
    );
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);

    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(stats.unitsSpent).toBe(20);
  });

  it('counts a call before Retry-After has passed as a violation and answers a fresh 429', async () => {
    const { tenant, client, children } = await throttledTenant({
      budgetPerWindow: 2,
      windowSeconds: 600,
      timeScale: 60,
    });
    await rawGet(client, children);
    const first = await rawGet(client, children);
    await sleep(30);

    let early: Response | undefined;
    const log = await logDuring(cloud, { tenantId: tenant.tenantId }, async () => {
      early = await rawGet(client, children);
    });
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);

    expect(first.status).toBe(429);
    expect(early?.status).toBe(429);
    expect(Number(early?.headers.get('Retry-After'))).toBeGreaterThan(9);
    expect(stats.violations).toBe(1);
    expect(stats.throttled).toBe(2);
    expect(log.map((entry) => entry.violation)).toEqual([true]);
  });

  it('does not count requests already in flight when the 429 was given', async () => {
    const { tenant, client, children } = await throttledTenant({
      budgetPerWindow: 2,
      windowSeconds: 600,
      timeScale: 60,
      latencyMs: 3000,
    });

    const statuses = (await Promise.all([1, 2, 3].map(() => rawGet(client, children)))).map((r) => r.status);
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);

    expect(statuses.sort()).toEqual([200, 429, 429]);
    expect(stats.violations).toBe(0);
  });

  it('adds RateLimit headers once 80% of the window budget is used', async () => {
    const { client, children } = await throttledTenant({
      budgetPerWindow: 10,
      windowSeconds: 600,
      timeScale: 60,
    });

    const responses = [];
    for (let i = 0; i < 4; i++) responses.push(await rawGet(client, children));
    const limits = responses.map((r) => r.headers.get('RateLimit-Limit'));
    const last = responses[3]!;

    expect(limits).toEqual([null, null, null, '10']);
    expect(last.headers.get('RateLimit-Remaining')).toBe('2');
    expect(Number(last.headers.get('RateLimit-Reset'))).toBeGreaterThan(9);
    expect(Number(last.headers.get('RateLimit-Reset'))).toBeLessThanOrEqual(10);
  });

  it('answers an injected 503 with a Retry-After scaled to real seconds', async () => {
    const { tenant, client, children } = await throttledTenant({ budgetPerWindow: 1000 });
    await cloud.setFaults(tenant.tenantId, { graph: { status503: 1, retryAfterSeconds: 30 } });

    const response = await rawGet(client, children);
    await cloud.setFaults(tenant.tenantId, {});
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);

    expect(response.status).toBe(503);
    expect(response.headers.get('Retry-After')).toBe('0.5');
    expect(stats.throttled).toBe(1);
  });

  it('holds the whole tenant after a 429, users listing included, once the in-flight grace has passed', async () => {
    const { tenant, client, children } = await throttledTenant({
      budgetPerWindow: 2,
      windowSeconds: 600,
      timeScale: 60,
    });
    await rawGet(client, children);
    const refused = await rawGet(client, children);
    await sleep(IN_FLIGHT_GRACE_MS + 50);

    let users: Response | undefined;
    const log = await logDuring(cloud, { tenantId: tenant.tenantId }, async () => {
      users = await rawGet(client, '/users');
    });

    expect(refused.status).toBe(429);
    expect(users?.status).toBe(429);
    expect(log.map((entry) => entry.violation)).toEqual([true]);
  });
});
