import type { SimClient } from '../../dev/sim/sim-client';
import type { CrawlRun } from '../../src/crawl/crawl-runs';
import { failRun } from '../../src/crawl/finish-run';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { CrawlMetrics, DIMENSIONS, METRICS } from '../../src/telemetry/crawl-metrics';
import { onboardTenant } from '../crawl/crawl-helpers';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import type { Point } from './metric-capture';
import { captureMetrics } from './metric-capture';

/**
 * The metrics of real inline crawls (docs/telemetry.md), read from the OpenTelemetry SDK's in-memory exporter:
 * each equals the run's own `CrawlRuns` counter, and no dimension carries anything but a tenant ID and constants.
 */
describe('crawl metrics', () => {
  let cloud: SimClient;
  let app: TestApp;
  let capture: ReturnType<typeof captureMetrics>;

  beforeAll(async () => {
    cloud = sim();
    capture = captureMetrics();
    app = await createTestApp({
      meter: capture.meter,
      crawlSettings: { userPageSize: 7, childrenPageSize: 4, usersPerBatch: 9, graphBackoffMs: 20 },
    });
  });

  afterAll(() => capture.shutdown());

  const crawl = async (tenantId: string) => {
    const record = await app.context.registry.get(tenantId);
    const [result] = await crawlInline(app.context.crawlDeps(), { tenants: record ? [record] : [] });
    return result!;
  };

  /** The tenant's points of one metric. */
  const pointsOf = (points: Point[], metric: string, tenantId: string) =>
    points.filter((point) => point.metric === metric && point.attributes[DIMENSIONS.tenantId] === tenantId);

  /** Asserts the tenant's metrics are exactly the run's own counters, under one `run.status`. */
  const expectMetricsEqualRun = (points: Point[], tenantId: string, run: CrawlRun) => {
    const dimensions = { [DIMENSIONS.tenantId]: tenantId, [DIMENSIONS.runStatus]: run.status };
    const value = (metric: string) => {
      const found = pointsOf(points, metric, tenantId);
      expect(found.map((point) => point.attributes)).toEqual([dimensions]);
      return found[0]?.value;
    };
    expect(value(METRICS.runs)).toBe(1);
    expect(value(METRICS.unitsSpent)).toBe(run.unitsSpent);
    expect(value(METRICS.throttled)).toBe(run.throttled);
    expect(value(METRICS.usersCrawled)).toBe(run.usersCrawled);
    expect(value(METRICS.usersSkipped)).toBe(run.usersSkipped);
    const [duration] = pointsOf(points, METRICS.duration, tenantId);
    expect(duration?.count).toBe(1);
    expect(duration?.value).toBeCloseTo((Date.parse(run.finishedAt!) - Date.parse(run.startedAt)) / 1000, 6);
  };

  it('records a throttled run with a skipped user as the run counted it, by tenant and status', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 20,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: [1, 4],
      // A small budget (1 unit a simulated second, 60 times faster than real time) and injected 503s.
      budgetPerWindow: 60,
      windowSeconds: 60,
      timeScale: 60,
    });
    const users = await cloud.listUsers(tenant.tenantId);
    const [locked] = users.filter((user) => user.licensed && user.hasDrive);
    await cloud.setDriveAnomaly(tenant.tenantId, locked!.id, 'locked');
    await cloud.setFaults(tenant.tenantId, { graph: { status503: 0.1, retryAfterSeconds: 1 } });
    let result;
    try {
      result = await crawl(tenant.tenantId);
    } finally {
      await cloud.setFaults(tenant.tenantId, {});
    }
    expect(result.run?.status).toBe('succeeded');
    const run = await app.context.runs.get(tenant.tenantId, result.run!.runId);
    expect(run).toBeDefined();
    // The crawl met both things the metrics are for.
    expect(run!.throttled).toBeGreaterThan(0);
    expect(run!.usersSkipped).toBe(1);
    expect(run!.unitsSpent).toBeGreaterThan(0);

    const points = await capture.points();
    expectMetricsEqualRun(points, tenant.tenantId, run!);

    // Nothing but the tenant ID and constant strings is ever a dimension: no user name or UPN, no item name, no
    // token or secret.
    const allowed = new Set([tenant.tenantId, 'succeeded']);
    const values = points.flatMap((point) => Object.values(point.attributes).map(String));
    expect(values.filter((value) => !allowed.has(value))).toEqual([]);
    expect(new Set(points.flatMap((point) => Object.keys(point.attributes)))).toEqual(
      new Set([DIMENSIONS.tenantId, DIMENSIONS.runStatus]),
    );
    const drives = await cloud.drives(tenant.tenantId);
    const secrets = [
      ...users.flatMap((user) => [user.id, user.userPrincipalName, user.displayName]),
      ...Object.values(drives).flatMap((items) => items.map((item) => item.name)),
      app.clientSecret,
      app.clientId,
    ];
    for (const value of values) {
      expect(secrets).not.toContain(value);
      expect(value).not.toMatch(/^eyJ/);
    }
  }, 120_000);

  it('records a failed run with the counters it stored, under run.status failed', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 6,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: 2,
    });
    // The app is removed from the tenant: the run fails and the tenant is marked revoked.
    await cloud.revoke(tenant.tenantId, app.clientId);
    const result = await crawl(tenant.tenantId);
    expect(result.run?.status).toBe('failed');
    const run = await app.context.runs.get(tenant.tenantId, result.run!.runId);
    expectMetricsEqualRun(await capture.points(), tenant.tenantId, run!);
  });

  it('takes only a GUID as a tenant dimension, lower-cased', async () => {
    const own = captureMetrics();
    try {
      const metrics = new CrawlMetrics(own.meter);
      const run = {
        status: 'failed',
        unitsSpent: 1,
        throttled: 0,
        usersCrawled: 0,
        usersSkipped: 0,
      } as const;
      metrics.recordRunEnded({ ...run, tenantId: 'contoso.onmicrosoft.com', durationSeconds: 1 });
      metrics.recordRunEnded({
        ...run,
        tenantId: 'AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE',
        durationSeconds: 1,
      });
      const tenants = (await own.points())
        .filter((point) => point.metric === METRICS.runs)
        .map((point) => point.attributes[DIMENSIONS.tenantId]);
      expect(tenants.sort()).toEqual(['aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', undefined]);
    } finally {
      await own.shutdown();
    }
  });

  it('records a run once however often its end is reported', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 4,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: 1,
    });
    const result = await crawl(tenant.tenantId);
    const run = await app.context.runs.get(tenant.tenantId, result.run!.runId);
    // A second report of the end (a queue message delivered twice) finds the run ended and records nothing.
    await failRun(app.context.crawlDeps(), tenant.tenantId, run!.runId, 'reported twice', 'unchanged');
    expectMetricsEqualRun(await capture.points(), tenant.tenantId, run!);
  });
});
