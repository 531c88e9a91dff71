import { TableClient } from '@azure/data-tables';
import { randomBytes, randomUUID } from 'node:crypto';
import { naiveCrawl } from '../../dev/bench/naive-crawl';
import type { NaiveCrawlOptions } from '../../dev/bench/naive-crawl';
import { peerCrawl } from '../../dev/bench/peer-crawl';
import type { PeerCrawlOptions } from '../../dev/bench/peer-crawl';
import type { NaiveOutcome } from '../../dev/bench/protocol';
import { checkItemsExact } from '../../dev/bench/verify';
import type { SimClient } from '../../dev/sim/sim-client';
import type { SimEnvironment, TenantInfo, TenantSpec } from '../../dev/sim/types';
import { sim, storageConnectionString } from '../support/sim';
import { uniqueSeed } from '../support/test-app';

/**
 * Simulated seconds per real second: a 60 s budget window lasts 1 s, so a budget 429's `Retry-After` is mostly
 * longer than the 100 ms after it in which the simulator forgives other requests (already on their way).
 */
const TIME_SCALE = 60;
const WINDOW_SECONDS = 60;
/** 25 children pages a window. */
const BUDGET = 50;
/** The tenant's documented budget per real second, as the orchestrator computes it. */
const UNITS_PER_SECOND = BUDGET / (WINDOW_SECONDS / TIME_SCALE);

/**
 * `sdkPool`'s exactness test at ten times that: a window lasts 100 ms, so no hold outlasts the 100 ms of forgiveness
 * after its 429 (see there), with 10 units a window (5 children pages), so that 16 users at a time are throttled.
 */
const SDK_POOL_TENANT: Partial<TenantSpec> = { timeScale: 600, budgetPerWindow: 10 };

/** A peer crawl of the 40-user tenant takes 1 to 3 s; one still running at 50 s is stuck (jest stops at 60). */
const CRAWL_LIMIT_MS = 50_000;

type Row = { partitionKey?: string };

describe('the benchmark peers', () => {
  let cloud: SimClient;
  let env: SimEnvironment;
  let app: { clientId: string; secret: string };

  beforeAll(async () => {
    cloud = sim();
    env = await cloud.env();
    const secret = `peer~${randomBytes(18).toString('base64url')}`;
    const { clientId } = await cloud.createApp({ secrets: [{ value: secret }] });
    app = { clientId, secret };
  });

  /** 40 users (a few unlicensed, a few without a drive), root pages of at most 4 items. */
  function newTenant(spec: Partial<TenantSpec> = {}): Promise<TenantInfo> {
    return cloud.createTenant({
      seed: uniqueSeed(),
      users: 40,
      unlicensedShare: 0.1,
      withoutDriveShare: 0.15,
      childrenPageCap: 6,
      budgetPerWindow: BUDGET,
      windowSeconds: WINDOW_SECONDS,
      timeScale: TIME_SCALE,
      consentedApps: [{ clientId: app.clientId }],
      ...spec,
    });
  }

  /**
   * The crawl's outcome, or (past `CRAWL_LIMIT_MS`, before jest's own timeout) an error that says where it stood:
   * its progress lines and what the simulator counted and answered last, instead of a bare timeout.
   */
  async function finishedOrExplained(
    crawl: Promise<NaiveOutcome>,
    tenant: TenantInfo,
    progress: readonly string[],
  ): Promise<NaiveOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void (async () => {
          const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);
          const last = (await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph' }))
            .slice(-20)
            .map((entry) => `${entry.at} ${entry.status}${entry.violation ? ' violation' : ''} ${entry.url}`);
          const { requests, throttled, violations } = stats;
          reject(
            new Error(
              `the crawl had not ended after ${CRAWL_LIMIT_MS} ms: ${progress.join(' | ') || 'no progress line'}; ` +
                `simulator: ${JSON.stringify({ requests, throttled, violations })}; last Graph answers:\n` +
                last.join('\n'),
            ),
          );
        })().catch(reject);
      }, CRAWL_LIMIT_MS);
    });
    try {
      return await Promise.race([crawl, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  function crawlOptions(tenant: TenantInfo): NaiveCrawlOptions {
    return {
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      clientSecret: app.secret,
      authorityHost: env.AUTHORITY_HOST,
      graphEndpoint: env.GRAPH_ENDPOINT,
      userAgent: 'ISV|Contoso|PeerCrawlTest/1.0',
      table: TableClient.fromConnectionString(
        storageConnectionString(),
        `Peer${randomUUID().replace(/-/g, '').slice(0, 16)}`,
        { allowInsecureConnection: true },
      ),
    };
  }

  function peerOptions(kind: 'sdkPool' | 'fixedRate', tenant: TenantInfo): PeerCrawlOptions {
    const base = crawlOptions(tenant);
    return kind === 'sdkPool' ? { ...base, kind } : { ...base, kind, unitsPerSecond: UNITS_PER_SECOND };
  }

  it.each(['sdkPool', 'fixedRate'] as const)(
    '%s stores exactly the simulator items, counts every request and 429, and is throttled',
    async (kind) => {
      // The RetryHandler waits out each request's own `Retry-After`, and a request inside another's hold restarts
      // that hold (dev/sim/README.md, "Violations"). Two requests 100 ms or more apart, each retried exactly one
      // `Retry-After` after its own 429, then land in each other's hold again and again for as long as the SDK
      // retries them and the peer takes them back: a livelock, which this test met about once in seven CI runs at
      // time scale 60. It is the weakness the benchmark measures the peer by, not what this test is about, so the
      // SDK's crawl runs where a hold ends within the 100 ms after its 429 in which other requests are forgiven.
      const tenant = await newTenant(kind === 'sdkPool' ? SDK_POOL_TENANT : {});
      const progress: string[] = [];
      const options = { ...peerOptions(kind, tenant), onProgress: (line: string) => progress.push(line) };

      const outcome = await finishedOrExplained(peerCrawl(options), tenant, progress);
      const check = await checkItemsExact(options.table, cloud, [tenant.tenantId]);
      const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);

      expect(check).toMatchObject({ exact: true, itemsExpected: tenant.items, rowsRead: tenant.items });
      expect(tenant.licensedWithDrive).toBeLessThan(tenant.licensedUsers);
      expect(outcome).toMatchObject<Partial<NaiveOutcome>>({
        users: tenant.licensedUsers,
        usersTotal: tenant.licensedUsers,
        usersWithoutDrive: tenant.licensedUsers - tenant.licensedWithDrive,
        itemsStored: tenant.items,
        stoppedAtDeadline: false,
        // Every request the simulator saw (the users listing's included), every 429 it answered.
        requests: stats.requests,
        throttled: stats.throttled,
      });
      // One transaction per up to 100 items of a user.
      expect(outcome.transactions).toBe(
        Object.values(await cloud.drives(tenant.tenantId)).reduce(
          (sum, items) => sum + Math.ceil(items.length / 100),
          0,
        ),
      );
      expect(stats.throttled).toBeGreaterThan(0);
      if (kind === 'fixedRate') {
        // The global pause: nothing sent during a Retry-After it was told.
        expect(stats.violations).toBe(0);
        expect(outcome.requeued).toBe(0);
      }
    },
  );

  it('sdkPool puts a user back at the end of the work when the RetryHandler gives up on a 429', async () => {
    // Slow answers (30 ms each), so that the drive phase is still running when every answer turns 429; the 429s'
    // Retry-After is 2 simulated seconds, 3.3 ms: the RetryHandler's 3 retries are spent at once.
    const tenant = await newTenant({ budgetPerWindow: 1_000_000, timeScale: 600, latencyMs: 18_000 });
    const options = peerOptions('sdkPool', tenant);
    const crawl = peerCrawl(options);
    // Once the drive phase has begun: every Graph answer a 429 for 300 ms.
    const since = Date.now();
    for (;;) {
      const log = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph', since });
      if (log.some((entry) => entry.url.includes('/drive/root/children'))) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await cloud.setFaults(tenant.tenantId, { graph: { status429: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await cloud.setFaults(tenant.tenantId, {});

    const outcome = await crawl;
    const check = await checkItemsExact(options.table, cloud, [tenant.tenantId]);

    expect(outcome.requeued).toBeGreaterThan(0);
    expect(outcome.users).toBe(tenant.licensedUsers);
    expect(check).toMatchObject({ exact: true, itemsExpected: tenant.items });
  });

  it.each(['naive', 'sdkPool', 'fixedRate'] as const)(
    '%s stops taking users at its deadline and stores only whole users',
    async (kind) => {
      // 100 ms an answer and no budget to speak of: the whole crawl would take seconds.
      const tenant = await newTenant({ budgetPerWindow: 1_000_000, timeScale: 600, latencyMs: 60_000 });
      const options =
        kind === 'naive'
          ? crawlOptions(tenant)
          : { ...peerOptions(kind, tenant), ...(kind === 'fixedRate' ? { unitsPerSecond: 1e6 } : {}) };
      const deadlineMs = 150;

      const started = Date.now();
      const outcome = await (kind === 'naive'
        ? naiveCrawl({ ...options, deadlineMs })
        : peerCrawl({ ...(options as PeerCrawlOptions), deadlineMs }));
      const elapsed = Date.now() - started;
      const drives = await cloud.drives(tenant.tenantId);
      const rows = new Map<string, number>();
      for await (const row of options.table.listEntities<Row>()) {
        rows.set(row.partitionKey ?? '', (rows.get(row.partitionKey ?? '') ?? 0) + 1);
      }

      expect(outcome.stoppedAtDeadline).toBe(true);
      expect(outcome.usersTotal).toBe(tenant.licensedUsers);
      expect(outcome.users).toBeGreaterThan(0);
      expect(outcome.users).toBeLessThan(tenant.licensedUsers);
      expect(outcome.drivePhaseMs).toBeGreaterThanOrEqual(deadlineMs);
      expect(elapsed).toBeLessThan(3_000);
      // Every user stored is stored whole.
      for (const [partition, count] of rows) {
        const userId = partition.slice(tenant.tenantId.length + 1);
        expect(count).toBe(drives[userId]?.length);
      }
      expect(rows.size).toBeLessThanOrEqual(outcome.users);
      expect([...rows.values()].reduce((sum, count) => sum + count, 0)).toBe(outcome.itemsStored);
    },
  );
});
