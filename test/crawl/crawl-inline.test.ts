import type { SimClient } from '../../dev/sim/sim-client';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { expectTableEqualsDrives, onboardTenant, storedRows } from './crawl-helpers';

const SMALL_PAGES = { userPageSize: 7, childrenPageSize: 4, usersPerBatch: 9, graphBackoffMs: 20 };

describe('inline crawl', () => {
  let cloud: SimClient;
  let app: TestApp;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ crawlSettings: SMALL_PAGES });
  });

  const crawl = async (tenantIds: string[]) => {
    const tenants = [];
    for (const id of tenantIds) {
      const record = await app.context.registry.get(id);
      if (record) tenants.push(record);
    }
    return crawlInline(app.context.crawlDeps(), { tenants });
  };

  it('stores every licensed user drive root across several pages of users and of children', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 40,
      unlicensedShare: 0.2,
      withoutDriveShare: 0.1,
      itemsPerUser: [0, 11],
    });
    const since = Date.now();
    const [result] = await crawl([tenant.tenantId]);
    expect(result?.run?.status).toBe('succeeded');
    const items = await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    expect(result?.run).toMatchObject({
      usersSeen: tenant.licensedUsers,
      usersCrawled: tenant.licensedWithDrive,
      usersWithoutDrive: tenant.licensedUsers - tenant.licensedWithDrive,
      itemsStored: items,
      itemsDeleted: 0,
    });
    const log = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph', since });
    // Every unit Graph charged is in the run's own accounting, by the documented price of each call.
    expect(result?.run?.unitsSpent).toBe(log.reduce((sum, entry) => sum + entry.units, 0));
    // Several pages of users (7 a page) and of children (4 a page).
    expect(
      log.filter((entry) => entry.url.includes('/users?') || entry.url.includes('/users%3F')).length,
    ).toBeGreaterThan(2);
    expect(
      log.filter((entry) => entry.url.includes('skiptoken') && entry.url.includes('/children')).length,
    ).toBeGreaterThan(0);
    // Drives of unlicensed users are never requested.
    const users = await cloud.listUsers(tenant.tenantId);
    for (const user of users.filter((u) => !u.licensed)) {
      expect(log.some((entry) => entry.url.includes(user.id))).toBe(false);
    }
    // Every request is decorated, and the license filter travels with eventual consistency.
    expect(
      log.every(
        (entry) => entry.userAgent === 'ISV|Contoso Test|DriveCrawler/0.1.0' || entry.url.includes('$batch'),
      ),
    ).toBe(true);
    const listings = log.filter((entry) => /\/users\?/.test(entry.url));
    expect(listings.every((entry) => entry.consistencyLevel === 'eventual')).toBe(true);
    expect(result?.run?.requests).toBe(log.filter((entry) => !entry.url.endsWith('$batch')).length);
  });

  it('removes deleted items, updates renamed ones and drops users who lost their license', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 16,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: [3, 6],
    });
    await crawl([tenant.tenantId]);
    const drives = await cloud.drives(tenant.tenantId);
    const [first, second] = Object.keys(drives);
    const firstItems = drives[first!]!;
    await cloud.deleteItem(tenant.tenantId, first!, firstItems[0]!.id);
    await cloud.renameItem(tenant.tenantId, first!, firstItems[1]!.id, 'Renamed – Ünïcödé 📁.docx');
    await cloud.setLicensed(tenant.tenantId, second!, false);
    const secondCount = drives[second!]!.length;

    const [result] = await crawl([tenant.tenantId]);
    expect(result?.run?.status).toBe('succeeded');
    await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    const rows = await storedRows(app.context, tenant.tenantId);
    expect(rows.some((row) => row.rowKey === firstItems[0]!.id)).toBe(false);
    expect(rows.find((row) => row.rowKey === firstItems[1]!.id)?.name).toBe('Renamed – Ünïcödé 📁.docx');
    expect(rows.some((row) => row.partitionKey.endsWith(second!))).toBe(false);
    expect(result?.run?.itemsDeleted).toBe(1 + secondCount);
    // The second run followed each drive's delta cursor: only the renamed item was written again.
    expect(rows.filter((row) => row.runId === result?.run?.runId).map((row) => row.rowKey)).toEqual([
      firstItems[1]!.id,
    ]);
  });

  it('marks a revoked tenant revoked and still crawls the healthy one beside it', async () => {
    const healthy = await onboardTenant(cloud, app.context, app.clientId, { users: 10 });
    const revoked = await onboardTenant(cloud, app.context, app.clientId, { users: 10 });
    await cloud.revoke(revoked.tenantId, app.clientId, 7000229);
    const results = await crawl([healthy.tenantId, revoked.tenantId]);
    expect(results.find((r) => r.tenantId === healthy.tenantId)?.run?.status).toBe('succeeded');
    const bad = results.find((r) => r.tenantId === revoked.tenantId);
    expect(bad?.run?.status).toBe('failed');
    expect(bad?.run?.error).toMatch(/AADSTS7000229/);
    expect((await app.context.registry.get(revoked.tenantId))?.status).toBe('revoked');
    expect((await app.context.registry.listCrawlable()).some((t) => t.tenantId === revoked.tenantId)).toBe(
      false,
    );
    await expectTableEqualsDrives(cloud, app.context, healthy.tenantId);
  });

  it('picks up a rotated client secret without a restart', async () => {
    const rotating = await createTestApp({ vaultCacheMs: 60 * 60_000, crawlSettings: SMALL_PAGES });
    const tenant = await onboardTenant(cloud, rotating.context, rotating.clientId, { users: 6 });
    const first = await crawlInline(rotating.context.crawlDeps(), {
      tenants: [(await rotating.context.registry.get(tenant.tenantId))!],
    });
    expect(first[0]?.run?.status).toBe('succeeded');
    // Rotate: a new secret on the app, the old one removed, the vault holds the new version.
    await cloud.addAppSecret(rotating.clientId, { value: 'rotated-secret-value-123' });
    await cloud.removeAppSecret(rotating.clientId, rotating.clientSecret);
    await cloud.setVaultSecret(rotating.secretName, 'rotated-secret-value-123');
    // Drop the cached token so the next crawl must ask Entra ID again with the (still cached, now stale) secret:
    // it is refused with AADSTS7000215, and the crawler has to re-read the vault to carry on.
    rotating.context.credentials.forget(tenant.tenantId);
    const second = await crawlInline(rotating.context.crawlDeps(), {
      tenants: [(await rotating.context.registry.get(tenant.tenantId))!],
    });
    expect(second[0]?.run?.status).toBe('succeeded');
  });

  it('ends exact after a throttling storm without calling before Retry-After', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 30,
      withoutDriveShare: 0,
      itemsPerUser: [1, 4],
      budgetPerWindow: 60,
      windowSeconds: 60,
      timeScale: 60,
    });
    await cloud.setFaults(tenant.tenantId, {
      graph: { status429: 0.15, status503: 0.05, retryAfterSeconds: 6 },
    });
    const [result] = await crawl([tenant.tenantId]);
    await cloud.setFaults(tenant.tenantId, {});
    expect(result?.run?.status).toBe('succeeded');
    await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);
    expect(stats.throttled).toBeGreaterThan(0);
    expect(stats.violations).toBe(0);
    expect(result?.run?.throttled).toBeGreaterThan(0);
  });
});
