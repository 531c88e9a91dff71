import type { SimClient } from '../../dev/sim/sim-client';
import { checkPermissionsAgain } from '../../src/crawl/plan-crawl';
import type { DriveAnomaly, SimDriveItem } from '../../dev/sim/types';
import type { AppContext } from '../../src/app-context';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { onboardTenant, storedRows } from './crawl-helpers';
import type { StoredRow } from './crawl-helpers';

/**
 * Per-user outcomes of a drive listing (docs/drive-answers.md): items, no drive, or a skip with a reason. These
 * tests go through the public surface only (the inline crawl, the contract's tables), so they run against any
 * version of the crawler.
 */

interface SkipRow {
  partitionKey: string;
  rowKey: string;
  userPrincipalName: string;
  reason: string;
  httpStatus: number;
  graphCode?: string;
  message?: string;
  firstSkippedAt: string;
  lastSkippedAt: string;
  runId: string;
}

async function skipRows(context: AppContext, tenantId: string): Promise<SkipRow[]> {
  const rows: SkipRow[] = [];
  try {
    for await (const row of context.storage.table('CrawlSkips').listEntities<SkipRow>({
      queryOptions: { filter: `PartitionKey eq '${tenantId}'` },
    })) {
      rows.push(row);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return rows;
}

/** The stored rows of one user, keyed by item ID, every property as stored (etag and timestamp included). */
async function rowsOf(
  context: AppContext,
  tenantId: string,
  userId: string,
): Promise<Map<string, StoredRow>> {
  const rows = await storedRows(context, tenantId);
  return new Map(
    rows.filter((row) => row.partitionKey === `${tenantId}_${userId}`).map((row) => [row.rowKey, row]),
  );
}

/** Asserts the rows of every user not in `except` equal that user's drive (IDs and names). */
async function expectCrawledUsersExact(
  cloud: SimClient,
  context: AppContext,
  tenantId: string,
  except: ReadonlySet<string> = new Set(),
): Promise<number> {
  const drives: Record<string, SimDriveItem[]> = await cloud.drives(tenantId);
  const rows = (await storedRows(context, tenantId)).filter(
    (row) => !except.has(row.partitionKey.slice(tenantId.length + 1)),
  );
  const expected = new Map<string, string>();
  for (const [userId, items] of Object.entries(drives)) {
    if (except.has(userId)) continue;
    for (const item of items) expected.set(`${tenantId}_${userId}/${item.id}`, item.name);
  }
  const actual = new Map(rows.map((row) => [`${row.partitionKey}/${row.rowKey}`, row.name]));
  expect(actual.size).toBe(rows.length);
  expect(actual).toEqual(expected);
  return expected.size;
}

const ANSWERS: Array<{
  anomaly: DriveAnomaly;
  outcome: 'withoutDrive' | 'skipped';
  reason?: string;
  status?: number;
}> = [
  { anomaly: 'locked', outcome: 'skipped', reason: 'locked', status: 423 },
  { anomaly: 'accessDenied', outcome: 'skipped', reason: 'accessDenied', status: 403 },
  { anomaly: 'mysiteUrl400', outcome: 'withoutDrive' },
  { anomaly: 'noSpoLicense400', outcome: 'withoutDrive' },
  { anomaly: 'unknownError404', outcome: 'withoutDrive' },
];

describe('per-user drive outcomes', () => {
  let cloud: SimClient;
  let app: TestApp;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({
      crawlSettings: { usersPerBatch: 5, graphBackoffMs: 20, graphMaxAttempts: 3 },
    });
  });

  const crawl = async (tenantId: string) => {
    const record = await app.context.registry.get(tenantId);
    const [result] = await crawlInline(app.context.crawlDeps(), { tenants: record ? [record] : [] });
    return result!;
  };

  /** A tenant whose users are all licensed, each with a OneDrive of `items` root items. */
  const everyoneWithDrive = (users: number, items: number) =>
    onboardTenant(cloud, app.context, app.clientId, {
      users,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: items,
    });

  const licensedWithDrive = async (tenantId: string) =>
    (await cloud.listUsers(tenantId)).filter((user) => user.licensed && user.hasDrive);

  it.each(ANSWERS)('settles a user whose drive answers $anomaly without failing the run', async (answer) => {
    const tenant = await everyoneWithDrive(6, 3);
    const [odd] = await licensedWithDrive(tenant.tenantId);
    await cloud.setDriveAnomaly(tenant.tenantId, odd!.id, answer.anomaly);
    const result = await crawl(tenant.tenantId);
    expect(result.run?.status).toBe('succeeded');
    expect(result.status).toBe('active');
    expect(result.run).toMatchObject({
      usersSeen: 6,
      usersCrawled: 5,
      usersWithoutDrive: answer.outcome === 'withoutDrive' ? 1 : 0,
      usersSkipped: answer.outcome === 'skipped' ? 1 : 0,
    });
    await expectCrawledUsersExact(cloud, app.context, tenant.tenantId, new Set([odd!.id]));
    expect((await rowsOf(app.context, tenant.tenantId, odd!.id)).size).toBe(0);
    const skips = await skipRows(app.context, tenant.tenantId);
    if (answer.outcome === 'skipped') {
      expect(skips).toEqual([
        expect.objectContaining({
          rowKey: odd!.id,
          userPrincipalName: odd!.userPrincipalName,
          reason: answer.reason,
          httpStatus: answer.status,
          runId: result.run?.runId,
        }),
      ]);
    } else {
      expect(skips).toEqual([]);
    }
  });

  it('settles every kind of answer mixed in one batch, with a root past 1,000 items among them', async () => {
    const tenant = await everyoneWithDrive(12, 4);
    const users = await licensedWithDrive(tenant.tenantId);
    // One batch of five users: each answer but one, and a user whose root spans two pages of 1,000.
    for (const [index, answer] of ANSWERS.slice(0, 4).entries()) {
      await cloud.setDriveAnomaly(tenant.tenantId, users[index]!.id, answer.anomaly);
    }
    for (let i = 0; i < 1_100; i += 1) {
      await cloud.addItem(tenant.tenantId, users[4]!.id, {
        name: `report ${String(i).padStart(4, '0')}.docx`,
      });
    }
    await cloud.setDriveAnomaly(tenant.tenantId, users[5]!.id, 'unknownError404');
    const result = await crawl(tenant.tenantId);
    expect(result.run).toMatchObject({
      status: 'succeeded',
      usersSeen: 12,
      usersCrawled: 7,
      usersWithoutDrive: 3,
      usersSkipped: 2,
    });
    const skipped = new Set([users[0]!.id, users[1]!.id]);
    const items = await expectCrawledUsersExact(cloud, app.context, tenant.tenantId, skipped);
    expect(result.run?.itemsStored).toBe(items);
    expect((await rowsOf(app.context, tenant.tenantId, users[4]!.id)).size).toBe(1_104);
    const skips = await skipRows(app.context, tenant.tenantId);
    expect(new Map(skips.map((row) => [row.rowKey, row.reason]))).toEqual(
      new Map([
        [users[0]!.id, 'locked'],
        [users[1]!.id, 'accessDenied'],
      ]),
    );
  });

  it('keeps a locked user rows byte for byte, then crawls them again once unlocked and clears the skip', async () => {
    const tenant = await everyoneWithDrive(7, 5);
    const [locked, other] = await licensedWithDrive(tenant.tenantId);
    expect((await crawl(tenant.tenantId)).run?.status).toBe('succeeded');
    const before = await rowsOf(app.context, tenant.tenantId, locked!.id);
    expect(before.size).toBe(5);

    await cloud.setDriveAnomaly(tenant.tenantId, locked!.id, 'locked');
    const [gone] = (await cloud.drives(tenant.tenantId))[locked!.id]!;
    await cloud.deleteItem(tenant.tenantId, locked!.id, gone!.id);
    await cloud.addItem(tenant.tenantId, other!.id, { name: 'while locked.txt' });
    const second = await crawl(tenant.tenantId);
    expect(second.run).toMatchObject({
      status: 'succeeded',
      usersSkipped: 1,
      usersCrawled: 6,
      itemsDeleted: 0,
    });
    // Not a row of the locked user changed: the same properties, run ID, ETag and timestamp.
    expect(await rowsOf(app.context, tenant.tenantId, locked!.id)).toEqual(before);
    await expectCrawledUsersExact(cloud, app.context, tenant.tenantId, new Set([locked!.id]));
    const [skip] = await skipRows(app.context, tenant.tenantId);
    expect(skip).toMatchObject({
      rowKey: locked!.id,
      reason: 'locked',
      httpStatus: 423,
      runId: second.run?.runId,
    });
    expect(skip?.graphCode).toBeTruthy();

    // Locked on the next run too: still skipped, and `firstSkippedAt` stays.
    const third = await crawl(tenant.tenantId);
    expect(third.run?.usersSkipped).toBe(1);
    const [again] = await skipRows(app.context, tenant.tenantId);
    expect(again?.firstSkippedAt).toBe(skip?.firstSkippedAt);
    expect(again?.runId).toBe(third.run?.runId);

    await cloud.setDriveAnomaly(tenant.tenantId, locked!.id, 'items');
    const fourth = await crawl(tenant.tenantId);
    expect(fourth.run).toMatchObject({
      status: 'succeeded',
      usersSkipped: 0,
      usersCrawled: 7,
      itemsDeleted: 1,
    });
    await expectCrawledUsersExact(cloud, app.context, tenant.tenantId);
    expect(await skipRows(app.context, tenant.tenantId)).toEqual([]);
  });

  it('drops a skipped user rows and skip together once the user loses the licence', async () => {
    const tenant = await everyoneWithDrive(4, 3);
    const [user] = await licensedWithDrive(tenant.tenantId);
    await crawl(tenant.tenantId);
    await cloud.setDriveAnomaly(tenant.tenantId, user!.id, 'locked');
    await crawl(tenant.tenantId);
    expect(await skipRows(app.context, tenant.tenantId)).toHaveLength(1);
    await cloud.setLicensed(tenant.tenantId, user!.id, false);
    const result = await crawl(tenant.tenantId);
    expect(result.run).toMatchObject({ status: 'succeeded', usersSeen: 3, usersSkipped: 0, itemsDeleted: 3 });
    expect((await rowsOf(app.context, tenant.tenantId, user!.id)).size).toBe(0);
    expect(await skipRows(app.context, tenant.tenantId)).toEqual([]);
  });

  it('skips a user whose rows Table Storage would refuse, with the rule, and crawls the users beside them', async () => {
    const tenant = await everyoneWithDrive(5, 3);
    const [odd] = await licensedWithDrive(tenant.tenantId);
    await crawl(tenant.tenantId);
    const before = await rowsOf(app.context, tenant.tenantId, odd!.id);
    // An ID with a character Table Storage refuses in keys, beside an ordinary new item.
    await cloud.addItem(tenant.tenantId, odd!.id, { name: 'fine.txt' });
    await cloud.addItem(tenant.tenantId, odd!.id, { name: 'odd.txt', id: '01ODD/ID#WITH?SLASH' });
    const result = await crawl(tenant.tenantId);
    expect(result.run).toMatchObject({ status: 'succeeded', usersCrawled: 4, usersSkipped: 1 });
    // Nothing of theirs half-written: not even the ordinary new item.
    expect(await rowsOf(app.context, tenant.tenantId, odd!.id)).toEqual(before);
    await expectCrawledUsersExact(cloud, app.context, tenant.tenantId, new Set([odd!.id]));
    const [skip] = await skipRows(app.context, tenant.tenantId);
    expect(skip).toMatchObject({ rowKey: odd!.id, reason: 'failing' });
    expect(skip?.message).toMatch(/RowKey holds the character U\+002F/);
  });

  it('proves permissions again when every user of a batch answers 403, and skips them when the app still has them', async () => {
    const tenant = await everyoneWithDrive(15, 2);
    const users = await licensedWithDrive(tenant.tenantId);
    // The second batch (users 6 to 10) is denied; users 1 to 5 prove Files.Read.All is granted.
    for (const user of users.slice(5, 10))
      await cloud.setDriveAnomaly(tenant.tenantId, user.id, 'accessDenied');
    const since = Date.now();
    const result = await crawl(tenant.tenantId);
    expect(result.status).toBe('active');
    expect(result.run).toMatchObject({ status: 'succeeded', usersSkipped: 5, usersCrawled: 10 });
    expect((await skipRows(app.context, tenant.tenantId)).map((row) => row.reason)).toEqual(
      Array(5).fill('accessDenied'),
    );
    // The re-check took a fresh token and probed drives beyond the batch's own, as the consent callback does.
    const tokens = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'token', since });
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    const graph = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph', since });
    const probes = graph.filter((entry) => /\/children\?.*(%24|\$)top=1(&|$)/.test(entry.url));
    expect(probes.map((entry) => entry.url.split('/')[2])).toContain(users[0]!.id);
  });

  it('marks the tenant consent_incomplete, fails the run and deletes nothing when Files.Read.All is gone', async () => {
    const tenant = await everyoneWithDrive(8, 3);
    expect((await crawl(tenant.tenantId)).run?.status).toBe('succeeded');
    const before = await storedRows(app.context, tenant.tenantId);
    // The admin withdraws Files.Read.All; the crawler's cached token expires.
    await cloud.consent(tenant.tenantId, app.clientId, { roles: ['User.Read.All'] });
    app.context.credentials.forget(tenant.tenantId);
    const result = await crawl(tenant.tenantId);
    expect(result.status).toBe('consent_incomplete');
    expect(result.run?.status).toBe('failed');
    expect(result.run?.error).toMatch(/Files\.Read\.All/);
    expect((await app.context.registry.get(tenant.tenantId))?.lastError).toMatch(/Files\.Read\.All/);
    expect(await storedRows(app.context, tenant.tenantId)).toEqual(before);
    expect(await skipRows(app.context, tenant.tenantId)).toEqual([]);
  });

  it('records when the permissions were last proven, and a re-check turns a tenant consent_incomplete and back', async () => {
    const tenant = await everyoneWithDrive(6, 2);
    const consented = (await app.context.registry.get(tenant.tenantId))?.permissionsProvenAt;
    expect(consented).toBeInstanceOf(Date);
    expect((await crawl(tenant.tenantId)).run?.status).toBe('succeeded');
    const crawled = (await app.context.registry.get(tenant.tenantId))?.permissionsProvenAt;
    expect(crawled!.getTime()).toBeGreaterThanOrEqual(consented!.getTime());

    // Files.Read.All withdrawn: the same probes and rule as the consent callback find it missing.
    await cloud.consent(tenant.tenantId, app.clientId, { roles: ['User.Read.All'] });
    const deps = app.context.crawlDeps();
    expect(await checkPermissionsAgain(deps, tenant.tenantId)).toEqual(['Files.Read.All']);
    expect(await app.context.registry.get(tenant.tenantId)).toMatchObject({
      status: 'consent_incomplete',
      permissionsProvenAt: crawled,
      lastError: expect.stringMatching(/Files\.Read\.All/) as unknown,
    });
    // Granted again: the re-check proves both and the tenant is crawled again.
    await cloud.consent(tenant.tenantId, app.clientId);
    expect(await checkPermissionsAgain(deps, tenant.tenantId)).toEqual([]);
    const after = await app.context.registry.get(tenant.tenantId);
    expect(after?.status).toBe('active');
    expect(after!.permissionsProvenAt!.getTime()).toBeGreaterThan(crawled!.getTime());
  });
});
