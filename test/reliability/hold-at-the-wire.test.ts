import type { SimControl } from '../../dev/sim/types';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { expectExactCrawl, graphUnitsSeen, onboard } from './support/exact-crawl';
import type { ReliabilityApp } from './support/reliability-app';
import { createReliabilityApp } from './support/reliability-app';

/**
 * A hold nothing slips past (docs/throttling.md): once this process has read a `429` or `503` for a tenant, no
 * request of that tenant is written to a socket before the answer's `Retry-After` (or `RateLimit-Reset`) has passed,
 * including requests already handed to the HTTP client, directory calls during a hold of drive calls, and requests
 * made while a `$batch` body with a throttled inner answer is still being read. Judged by the simulator (a request
 * within 100 ms of the answer's last byte counts as in flight), under the fault mix an independently written fake
 * cloud used (10% `503`, 2% `500`, 1% connection resets) plus budget `429`s from a budget below the pacer's
 * starting rate. The users listing runs in small pages beside the drive batches, so directory and drive calls of
 * the tenant are both in the air when a hold begins.
 */
describe('the Retry-After hold at the wire', () => {
  let cloud: SimControl;
  let app: ReliabilityApp;

  beforeAll(async () => {
    app = await createReliabilityApp({
      overrides: { crawlSettings: { graphBackoffMs: 20, usersPerBatch: 20, userPageSize: 10 } },
    });
    cloud = app.cloud;
  });

  it('sends nothing during a hold under 503s, 500s, resets and budget 429s, and the crawl ends exact', async () => {
    const tenant = await onboard(cloud, app.context, app.clientId, {
      users: 200,
      itemsPerUser: { longTail: [0, 1_500] },
      budgetPerWindow: 200,
      windowSeconds: 10,
      timeScale: 1,
      latencyMs: 15,
    });
    await cloud.setFaults(tenant.tenantId, {
      graph: { status503: 0.1, status500: 0.02, reset: 0.01, retryAfterSeconds: 1 },
    });
    const record = await app.context.registry.get(tenant.tenantId);
    const since = Date.now();
    let stats;
    try {
      const [result] = await crawlInline(app.context.crawlDeps(), { tenants: record ? [record] : [] });
      expect(result?.run?.status).toBe('succeeded');
      stats = await cloud.throttleStats(tenant.tenantId, app.clientId);
    } finally {
      await cloud.setFaults(tenant.tenantId, {});
    }
    await expectExactCrawl(
      cloud,
      app.context,
      tenant.tenantId,
      (await app.context.runs.latest(tenant.tenantId))!.runId,
    );
    expect(stats.throttled).toBeGreaterThan(10);
    // The run's units are what Graph charged, but for the answers lost with a reset $batch, and for the simulator's
    // injected faults, answered without a charge, which the crawler counts at their price, 2 units at most.
    const units = await graphUnitsSeen(cloud, tenant.tenantId, app.clientId, since);
    const run = (await app.context.runs.latest(tenant.tenantId))!;
    expect(units.answeredUncharged).toBeGreaterThan(0);
    expect(run.unitsSpent).toBeLessThanOrEqual(units.charged + 2 * units.answeredUncharged);
    expect(run.unitsSpent).toBeGreaterThanOrEqual(units.charged - units.lostToResets);
    expect(stats.violations).toBe(0);
  }, 300_000);
});
