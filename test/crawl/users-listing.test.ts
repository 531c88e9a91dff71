import type { SimClient } from '../../dev/sim/sim-client';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { listTenantUsers } from '../../src/crawl/list-tenant-users';
import type { UserBatchMessage } from '../../src/crawl/messages';
import { newRunId } from '../../src/crawl/run-id';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { expectTableEqualsDrives, onboardTenant } from './crawl-helpers';

/**
 * The users listing as Graph pages it (docs/contract.md): page tokens that expire (`Directory_ExpiredPageToken`)
 * make the listing start over, Graph's order changes between listings, and batches are keyed by their users, so a
 * restarted or retried listing neither drops nor double-counts anyone.
 */
describe('the users listing', () => {
  let cloud: SimClient;
  let app: TestApp;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ crawlSettings: { userPageSize: 10, usersPerBatch: 7, graphBackoffMs: 10 } });
  });

  it('starts over when its page token expires, in another order, and the run counts each user once', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 64,
      itemsPerUser: [0, 5],
      // The first two listings lose their token after page 3; every listing comes in another order.
      expiringUserListings: { afterPage: 3, listings: 2 },
      reorderUserListings: true,
    });
    const record = await app.context.registry.get(tenant.tenantId);
    const [result] = await crawlInline(app.context.crawlDeps(), { tenants: record ? [record] : [] });
    expect(result?.run).toMatchObject({
      status: 'succeeded',
      usersSeen: tenant.licensedUsers,
      usersCrawled: tenant.licensedWithDrive,
      usersWithoutDrive: tenant.licensedUsers - tenant.licensedWithDrive,
    });
    expect(await expectTableEqualsDrives(cloud, app.context, tenant.tenantId)).toBe(result?.run?.itemsStored);
    const log = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph' });
    expect(log.filter((entry) => entry.status === 400).length).toBe(2);
  });

  it('queues again what a dead attempt planned, and plans each user once when the retry lists in another order', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 40,
      reorderUserListings: true,
    });
    const runId = newRunId(new Date());
    await app.context.runs.open(tenant.tenantId, runId, new Date());
    await app.context.progress.start(tenant.tenantId, runId);
    const queued: UserBatchMessage[] = [];
    const message = { kind: 'tenant' as const, tenantId: tenant.tenantId, runId };

    // The first attempt dies right after planning its second batch, before queueing it.
    let sends = 0;
    await expect(
      listTenantUsers(
        {
          ...app.context.crawlDeps(),
          enqueueBatch: (batch) => {
            sends += 1;
            if (sends === 2) return Promise.reject(new Error('the instance stopped'));
            queued.push(batch);
            return Promise.resolve();
          },
        },
        message,
      ),
    ).rejects.toThrow('the instance stopped');
    const firstAttempt = queued.length;

    // The retry lists in another order.
    await listTenantUsers(
      {
        ...app.context.crawlDeps(),
        enqueueBatch: (batch) => {
          queued.push(batch);
          return Promise.resolve();
        },
      },
      message,
    );
    const retried = queued.slice(firstAttempt);
    const byBatch = new Map<number, string[]>();
    for (const batch of queued) {
      const ids = batch.users.map((user) => user.id);
      // A batch queued twice holds the same users both times.
      if (byBatch.has(batch.batch)) expect(ids).toEqual(byBatch.get(batch.batch));
      byBatch.set(batch.batch, ids);
    }
    const everyone = [...byBatch.values()].flat();
    const licensed = (await cloud.listUsers(tenant.tenantId))
      .filter((user) => user.licensed)
      .map((user) => user.id);
    expect(new Set(everyone).size).toBe(everyone.length);
    expect(everyone.sort()).toEqual(licensed.sort());
    // The retry queued again the two batches the first attempt planned (one of them never left).
    expect(retried.slice(0, 2).map((batch) => batch.batch)).toEqual([0, 1]);
    const summary = await app.context.progress.summary(tenant.tenantId, runId);
    expect(summary).toMatchObject({
      listingDone: true,
      usersSeen: licensed.length,
      batchesPlanned: byBatch.size,
    });
  });
});
