import type { Client } from '@microsoft/microsoft-graph-client';
import { IN_FLIGHT_GRACE_MS } from '../../dev/sim/graph-request';
import type { TenantInfo, TenantSpec } from '../../dev/sim/types';
import { credential, graphClient, logDuring, newTenant, rawGet, ownCloudWithApp } from './sim-sdk';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('simulated Graph throttling', () => {
  const own = ownCloudWithApp(60);

  /** A tenant of the test app (1 licensed user with a drive at least) and a Graph client on it. */
  async function throttledTenant(
    spec: Partial<TenantSpec>,
  ): Promise<{ tenant: TenantInfo; client: Client; children: string }> {
    const tenant = await newTenant(own.cloud, own.app.clientId, {
      users: 3,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      ...spec,
    });
    const client = graphClient(
      own.cloud,
      credential(own.cloud, tenant.tenantId, own.app.clientId, own.app.secret),
    );
    const user = (await own.cloud.listUsers(tenant.tenantId))[0]!;
    await client.api('/users').get(); // warm the token so timing below is Graph's alone
    return { tenant, client, children: `/users/${user.id}/drive/root/children` };
  }

  it('charges 2 resource units per children listing', async () => {
    const { tenant, client, children } = await throttledTenant({ budgetPerWindow: 1000 });

    for (let i = 0; i < 3; i++) await rawGet(client, children);
    const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

    expect(stats.unitsSpent).toBe(6);
  });

  it('sets the budget by license tier', async () => {
    const budgets: number[] = [];
    for (const users of [1000, 1001, 5001, 15001, 50001]) {
      const tenant = await newTenant(own.cloud, undefined, { users, unlicensedShare: 0, itemsPerUser: 0 });
      budgets.push((await own.cloud.throttleStats(tenant.tenantId, own.app.clientId)).budgetPerWindow);
    }

    expect(budgets).toEqual([1250, 2500, 3750, 5000, 6250]);
  });

  it('scales the window by the time scale', async () => {
    const tenant = await newTenant(own.cloud, undefined, {
      budgetPerWindow: 600,
      windowSeconds: 60,
      timeScale: 120,
    });

    const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

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
    const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

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
    const log = await logDuring(own.cloud, { tenantId: tenant.tenantId }, async () => {
      early = await rawGet(client, children);
    });
    const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

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
    const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

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
    await own.cloud.setFaults(tenant.tenantId, { graph: { status503: 1, retryAfterSeconds: 30 } });

    const response = await rawGet(client, children);
    await own.cloud.setFaults(tenant.tenantId, {});
    const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

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
    // Well past the grace, and past the simulator's own stalls that extend it (this process runs the client too,
    // and a loaded CI run stalled it past 50 ms), yet well inside the hold (about 10 s).
    await sleep(IN_FLIGHT_GRACE_MS + 1_000);

    let users: Response | undefined;
    const log = await logDuring(own.cloud, { tenantId: tenant.tenantId }, async () => {
      users = await rawGet(client, '/users');
    });

    expect(refused.status).toBe(429);
    expect(users?.status).toBe(429);
    expect(log.map((entry) => entry.violation)).toEqual([true]);
  });

  describe('rules as Microsoft documents them (throttleRules)', () => {
    const statusOf = async (client: Client, path: string) => {
      const response = await rawGet(client, path);
      return {
        status: response.status,
        retryAfter: response.headers.get('Retry-After'),
        reset: response.headers.get('RateLimit-Reset'),
        limit: response.headers.get('RateLimit-Limit'),
      };
    };

    it('charges throttled requests, and gives whole seconds, a Retry-After shorter than the reset', async () => {
      const { tenant, client, children } = await throttledTenant({
        budgetPerWindow: 4,
        windowSeconds: 600,
        timeScale: 1,
        throttleRules: { chargeThrottled: true, wholeSeconds: true, retryAfterShare: 0.5 },
      });
      await statusOf(client, children);
      await statusOf(client, children);
      const refused = await statusOf(client, children);
      const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

      expect(refused.status).toBe(429);
      expect(refused.retryAfter).toMatch(/^\d+$/);
      expect(refused.reset).toMatch(/^\d+$/);
      // Half of the window's reset (about 600 s), in whole seconds.
      expect(Number(refused.retryAfter)).toBeLessThan(Number(refused.reset));
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(Math.floor(Number(refused.reset) / 2));
      // The refused listing was charged too.
      expect(stats.unitsSpent).toBe(6);
    });

    it('counts the units of throttled requests apart, and every charged unit in a per-second series', async () => {
      const { tenant, client, children } = await throttledTenant({
        budgetPerWindow: 4,
        windowSeconds: 600,
        timeScale: 1,
        throttleRules: { chargeThrottled: true },
      });
      for (let i = 0; i < 3; i++) await statusOf(client, children);
      const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

      expect(stats.throttled).toBe(1);
      expect(stats.unitsSpent).toBe(6);
      expect(stats.unitsOnThrottled).toBe(2);
      expect(stats.seriesStartAt).toBeDefined();
      expect(stats.unitsBySecond.reduce((sum, units) => sum + units, 0)).toBe(6);
      expect(stats.throttledUnitsBySecond.reduce((sum, units) => sum + units, 0)).toBe(2);
    });

    it('lets another workload of the same app spend its share of each window, seen in RateLimit-Remaining', async () => {
      const { tenant, client, children } = await throttledTenant({
        budgetPerWindow: 1_000,
        windowSeconds: 10,
        timeScale: 1,
        throttleRules: { windowAnchor: 'wallClock', sameAppOtherShare: 0.5 },
      });
      // Start at the beginning of a wall-clock window, then let the other workload spend for 2 s (100 units).
      await sleep(10_000 - (Date.now() % 10_000) + 20);
      await statusOf(client, children);
      await sleep(2_000);
      let remaining: string | null = null;
      for (let i = 0; i < 400 && remaining === null; i++) {
        remaining = (await rawGet(client, children)).headers.get('RateLimit-Remaining');
      }
      const stats = await own.cloud.throttleStats(tenant.tenantId, own.app.clientId);

      // The headers come once 80% of the budget (800 units) is used: this caller's and the other workload's.
      expect(remaining).not.toBeNull();
      expect(stats.unitsSpent).toBeLessThan(760);
      expect(stats.unitsSpent).toBeGreaterThan(450);
      expect(stats.otherWorkloadUnits).toBeGreaterThan(40);
      expect(stats.unitsSpent + stats.otherWorkloadUnits).toBeGreaterThanOrEqual(800);
    });

    it('counts what the other workload spent in the windows this caller left quiet, as far as they had room', async () => {
      const rules = { windowAnchor: 'wallClock' as const, sameAppOtherShare: 0.5 };
      const quiet = await throttledTenant({
        budgetPerWindow: 100,
        windowSeconds: 2,
        timeScale: 1,
        throttleRules: rules,
      });
      const full = await throttledTenant({
        budgetPerWindow: 100,
        windowSeconds: 2,
        timeScale: 1,
        throttleRules: rules,
      });
      // The other workload's half of 100 units over `ms` of a 2-s window.
      const share = (ms: number): number => (50 * ms) / 2_000;
      // Early in a wall-clock window: one listing for the first caller; the second spends the window (its first 429).
      await sleep(2_000 - (Date.now() % 2_000) + 20);
      const firstWindowAt = Date.now() - (Date.now() % 2_000);
      await statusOf(quiet.client, quiet.children);
      while ((await statusOf(full.client, full.children)).status !== 429);
      const filledAfterMs = Date.now() - firstWindowAt;
      // Both stay quiet for the rest of that window and the whole next one, then call once more.
      await sleep(2_000 - (Date.now() % 2_000) + 2_000 + 20);
      const lastWindowAt = Date.now() - (Date.now() % 2_000);
      await statusOf(quiet.client, quiet.children);
      await statusOf(full.client, full.children);
      const intoLastMs = Date.now() - lastWindowAt;
      const other = async (tenantId: string) =>
        (await own.cloud.throttleStats(tenantId, own.app.clientId)).otherWorkloadUnits;

      // Half of 100 units in each of the two windows (the first had room for it), and some of the current one.
      expect(await other(quiet.tenant.tenantId)).toBeGreaterThanOrEqual(95);
      expect(await other(quiet.tenant.tenantId)).toBeLessThanOrEqual(100 + share(intoLastMs) + 1);
      // The first window had no room left: the quiet window's half, what it got before its caller spent the first
      // (however long this machine took to send those requests), and some of the current one.
      expect(await other(full.tenant.tenantId)).toBeGreaterThanOrEqual(50);
      expect(await other(full.tenant.tenantId)).toBeLessThanOrEqual(
        50 + share(filledAfterMs) + share(intoLastMs) + 2,
      );
      expect(await other(full.tenant.tenantId)).toBeLessThan(await other(quiet.tenant.tenantId));
    });

    it('keeps what was spent in the window when only the budget changes', async () => {
      const { tenant, client, children } = await throttledTenant({
        budgetPerWindow: 10,
        windowSeconds: 600,
        timeScale: 1,
      });
      for (let i = 0; i < 3; i++) await statusOf(client, children);
      await own.cloud.setThrottle(tenant.tenantId, { budgetPerWindow: 6 });
      const refused = await statusOf(client, children);

      expect(refused.status).toBe(429);
    });

    it('leaves RateLimit headers out of some answers past 80%', async () => {
      const { client, children } = await throttledTenant({
        budgetPerWindow: 1_000,
        windowSeconds: 600,
        timeScale: 1,
        throttleRules: { rateLimitHeadersMissing: 0.5 },
      });
      const limits: Array<string | null> = [];
      for (let i = 0; i < 460; i++) limits.push((await statusOf(client, children)).limit);
      const past80 = limits.slice(400);
      expect(limits.slice(0, 399).every((limit) => limit === null)).toBe(true);
      expect(past80.some((limit) => limit === '1000')).toBe(true);
      expect(past80.some((limit) => limit === null)).toBe(true);
    });

    it('starts windows at wall-clock multiples, not at the first request', async () => {
      const { client, children } = await throttledTenant({
        budgetPerWindow: 10,
        windowSeconds: 3_600,
        timeScale: 1,
        throttleRules: { windowAnchor: 'wallClock' },
      });
      for (let i = 0; i < 4; i++) await statusOf(client, children);
      const answer = await statusOf(client, children);
      const resetMs = Number(answer.reset) * 1000;
      // The window ends at the next whole hour, wherever the first request fell in it.
      const expected = 3_600_000 - (Date.now() % 3_600_000);
      expect(Math.abs(resetMs - expected)).toBeLessThan(2_000);
    });

    it('slides the window: a refused request may come back when the oldest units age out', async () => {
      const { client, children } = await throttledTenant({
        budgetPerWindow: 4,
        windowSeconds: 2,
        timeScale: 1,
        throttleRules: { windowAnchor: 'sliding' },
      });
      await statusOf(client, children);
      await sleep(600);
      await statusOf(client, children);
      const refused = await statusOf(client, children);
      expect(refused.status).toBe(429);
      // The first listing ages out about 1.4 s from now, not a whole window (2 s) from the refusal.
      expect(Number(refused.retryAfter)).toBeLessThan(1.6);
      await sleep(Number(refused.retryAfter) * 1000 + 20);
      expect((await statusOf(client, children)).status).toBe(200);
    });

    it('answers 429 with Retry-After only past the tenant-wide budget other apps share, and past the daily one', async () => {
      const { client: wide, children: wideChildren } = await throttledTenant({
        budgetPerWindow: 1_000,
        windowSeconds: 60,
        timeScale: 1,
        // 20 units per 5 minutes, 60% spent by other apps: 8 left, 4 listings.
        throttleRules: { tenantBudget: 20, otherAppsShare: 0.6 },
      });
      const wideStatuses = [];
      for (let i = 0; i < 5; i++) wideStatuses.push(await statusOf(wide, wideChildren));
      expect(wideStatuses.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 429]);
      expect(wideStatuses[4]?.limit).toBeNull();
      expect(Number(wideStatuses[4]?.retryAfter)).toBeGreaterThan(0);

      const { client: daily, children: dailyChildren } = await throttledTenant({
        budgetPerWindow: 1_000,
        windowSeconds: 60,
        timeScale: 1,
        throttleRules: { dailyBudget: 6 },
      });
      const dailyStatuses = [];
      for (let i = 0; i < 4; i++) dailyStatuses.push(await statusOf(daily, dailyChildren));
      expect(dailyStatuses.map((answer) => answer.status)).toEqual([200, 200, 200, 429]);
      expect(dailyStatuses[3]?.limit).toBeNull();
      // Until the day's window ends: hours.
      expect(Number(dailyStatuses[3]?.retryAfter)).toBeGreaterThan(3_600);
    });
  });
});
