import type { SimClient } from '../../dev/sim/sim-client';
import type { AppContext } from '../../src/app-context';
import type { CrawlDeps } from '../../src/crawl/crawl-deps';
import { crawlUserBatch } from '../../src/crawl/crawl-user-batch';
import { listTenantUsers } from '../../src/crawl/list-tenant-users';
import { queueTenantCrawl } from '../../src/crawl/plan-crawl';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { expectTableEqualsDrives, onboardTenant, queueingDeps } from './crawl-helpers';

/** One batch of 60 users: three rounds of 20, each round's users enough for a reconcile of their own. */
const SETTINGS = { usersPerBatch: 60, graphBackoffMs: 10 };
/** How long a held reconcile waits for the next round before it gives up waiting (the test then fails). */
const HOLD_LIMIT_MS = 10_000;

type Event = 'roots' | 'reconcile' | 'stored';

/** Where the second round's drive lookup is in `events` (-1 if none). */
function secondRound(events: readonly Event[]): number {
  return events.indexOf('roots', events.indexOf('roots') + 1);
}

describe('a batch reads its next round while the users before it are stored', () => {
  let cloud: SimClient;
  let app: TestApp;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ crawlSettings: SETTINGS });
  });

  /** A tenant of 60 licensed users, each with a drive, and its one batch message. */
  async function oneBatch(context: AppContext) {
    const tenant = await onboardTenant(cloud, context, app.clientId, {
      users: 60,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: [1, 6],
    });
    const { deps, tenantMessages, batches } = queueingDeps(context);
    await queueTenantCrawl(deps, tenant.tenantId, { full: true });
    await listTenantUsers(deps, tenantMessages[0]!);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.users).toHaveLength(60);
    return { tenant, deps, batch: batches[0]! };
  }

  /**
   * `deps` whose first reconcile is held until the next round has asked Graph for its drives (or `HOLD_LIMIT_MS`
   * passed), then `whenHeld` decides what it does; every round's drive lookup and the first reconcile's start and end
   * are logged in order (the reconcile reads the tenant's row first, so the next round may ask before it starts).
   */
  function holdingFirstReconcile(
    deps: CrawlDeps,
    options: {
      events: Event[];
      whenHeld?: () => Promise<void>;
      roundFails?: number;
    },
  ): CrawlDeps {
    const { events } = options;
    let nextRound: () => void = () => undefined;
    const nextRoundAsked = new Promise<void>((resolve) => (nextRound = resolve));
    let rounds = 0;
    let reconciles = 0;
    const store = deps.items;
    return {
      ...deps,
      graphFor: (tenantId, budget, signal) => {
        const graph = deps.graphFor(tenantId, budget, signal);
        const roots = graph.driveRoots.bind(graph);
        graph.driveRoots = (userIds) => {
          rounds += 1;
          events.push('roots');
          if (rounds > 1) nextRound();
          if (rounds === options.roundFails) return Promise.reject(new Error('worker killed'));
          return roots(userIds);
        };
        return graph;
      },
      items: {
        reconcileUsers: async (tenantId, users, runId, concurrency) => {
          reconciles += 1;
          if (reconciles > 1) return store.reconcileUsers(tenantId, users, runId, concurrency);
          events.push('reconcile');
          let limit: NodeJS.Timeout | undefined;
          await Promise.race([
            nextRoundAsked,
            new Promise((resolve) => (limit = setTimeout(resolve, HOLD_LIMIT_MS))),
          ]);
          clearTimeout(limit);
          await options.whenHeld?.();
          const result = await store.reconcileUsers(tenantId, users, runId, concurrency);
          events.push('stored');
          return result;
        },
        beginUser: (...args) => store.beginUser(...args),
        sweepUsersNotSeen: (...args) => store.sweepUsersNotSeen(...args),
        descendantsOf: (...args) => store.descendantsOf(...args),
      },
    };
  }

  it('asks Graph for the next round before the first reconcile is stored, and stores every item once', async () => {
    const context = app.newInstance({ crawlSettings: SETTINGS });
    const { tenant, deps, batch } = await oneBatch(context);
    const events: Event[] = [];

    await crawlUserBatch(holdingFirstReconcile(deps, { events }), batch);

    // Sequential, the second round's lookup would come after the first reconcile was stored (and the hold's limit).
    expect(secondRound(events)).toBeGreaterThan(0);
    expect(secondRound(events)).toBeLessThan(events.indexOf('stored'));
    expect(events.filter((event) => event === 'roots')).toHaveLength(3);
    const items = await expectTableEqualsDrives(cloud, context, tenant.tenantId);
    expect(items).toBe(tenant.items);
  });

  it('fails the batch when a reconcile fails behind the next round, and its retry stores every item', async () => {
    const context = app.newInstance({ crawlSettings: SETTINGS });
    const { tenant, deps, batch } = await oneBatch(context);
    const events: Event[] = [];
    const failing = holdingFirstReconcile(deps, {
      events,
      whenHeld: () => Promise.reject(new Error('storage went away')),
    });

    await expect(crawlUserBatch(failing, batch)).rejects.toThrow('storage went away');
    expect(events).toContain('reconcile');
    expect(events).not.toContain('stored');
    expect(secondRound(events)).toBeGreaterThan(0);

    await crawlUserBatch(deps, batch);
    expect(await expectTableEqualsDrives(cloud, context, tenant.tenantId)).toBe(tenant.items);
  });

  it('settles an attempt whose next round fails only once its reconcile is stored', async () => {
    const context = app.newInstance({ crawlSettings: SETTINGS });
    const { tenant, deps, batch } = await oneBatch(context);
    const events: Event[] = [];
    // The second round's lookup fails at once; the reconcile before it is still being stored for 300 ms.
    const killed = holdingFirstReconcile(deps, {
      events,
      roundFails: 2,
      whenHeld: () => new Promise((resolve) => setTimeout(resolve, 300)),
    });

    await expect(crawlUserBatch(killed, batch)).rejects.toThrow('worker killed');
    // The attempt ended after its write, so that its retry reads the index the write left.
    expect(events.filter((event) => event === 'roots')).toHaveLength(2);
    expect(events.at(-1)).toBe('stored');

    await crawlUserBatch(deps, batch);
    expect(await expectTableEqualsDrives(cloud, context, tenant.tenantId)).toBe(tenant.items);
  });
});
