import { InvocationContext } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import type { QueueHandler, QueueRules } from '../../dev/local-host/queue-worker';
import { deliverOnce, readQueueRules } from '../../dev/local-host/queue-worker';
import type { SimClient } from '../../dev/sim/sim-client';
import type { AppContext } from '../../src/app-context';
import { crawlHandlers } from '../../src/functions/handlers/crawl-handlers';
import { tenantHandlers } from '../../src/functions/handlers/tenant-handlers';
import { HttpRequest } from '@azure/functions';
import { ConsentStateStore } from '../../src/consent/consent-state-store';
import { QUEUES, TABLES } from '../../src/storage/storage-clients';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { expectTableEqualsDrives, onboardTenant } from './crawl-helpers';

const SETTINGS = { userPageSize: 10, usersPerBatch: 6, graphMaxAttempts: 2, graphBackoffMs: 10 };
/** host.json's rules, with failed messages visible again at once so the test does not wait. */
const RULES: QueueRules = { ...readQueueRules(), visibilityTimeoutS: 0 };

interface Instance {
  context: AppContext;
  handlers: ReturnType<typeof crawlHandlers>;
}

function queues(
  context: AppContext,
): Array<{ queue: QueueClient; poison: QueueClient; pick: (i: Instance) => QueueHandler }> {
  return [
    {
      queue: context.storage.queue(QUEUES.tenantCrawl),
      poison: context.storage.queue(`${QUEUES.tenantCrawl}-poison`),
      pick: (i) => i.handlers.tenant,
    },
    {
      queue: context.storage.queue(QUEUES.userBatch),
      poison: context.storage.queue(`${QUEUES.userBatch}-poison`),
      pick: (i) => i.handlers.batch,
    },
    {
      queue: context.storage.queue(`${QUEUES.tenantCrawl}-poison`),
      poison: context.storage.queue(`${QUEUES.tenantCrawl}-poison-poison`),
      pick: (i) => i.handlers.poisonedTenant,
    },
    {
      queue: context.storage.queue(`${QUEUES.userBatch}-poison`),
      poison: context.storage.queue(`${QUEUES.userBatch}-poison-poison`),
      pick: (i) => i.handlers.poisonedBatch,
    },
  ];
}

/** Drains every queue, handing messages alternately to the instances, until all are empty. */
async function drain(instances: Instance[], rules: QueueRules = RULES): Promise<void> {
  const all = queues(instances[0]!.context);
  await Promise.all(all.map((q) => q.queue.createIfNotExists()));
  let quiet = 0;
  let turn = 0;
  while (quiet < 2) {
    let handled = 0;
    for (const q of all) {
      const instance = instances[turn++ % instances.length]!;
      handled += await deliverOnce(q.queue, q.poison, q.pick(instance), rules, 'test');
    }
    quiet = handled === 0 ? quiet + 1 : 0;
  }
}

describe('crawl through the queues', () => {
  let cloud: SimClient;
  let app: TestApp;
  let one: Instance;
  let two: Instance;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ crawlSettings: SETTINGS, instanceId: 'instance-one' });
    // A second "instance": its own context and pacers, the same storage (shared hold and budget) and app.
    const secondContext = app.newInstance({ instanceId: 'instance-two' });
    one = { context: app.context, handlers: crawlHandlers(() => app.context) };
    two = { context: secondContext, handlers: crawlHandlers(() => secondContext) };
  });

  const timer = () =>
    one.handlers.plan(
      {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: { last: '', next: '', lastUpdated: '' },
      },
      new InvocationContext({ functionName: 'crawlPlan' }),
    );

  it('plans on the timer, lists users, fans out batches and ends exact with two instances', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 30,
      itemsPerUser: [0, 6],
      budgetPerWindow: 120,
      windowSeconds: 60,
      timeScale: 60,
    });
    await timer();
    const planned = await app.context.runs.latest(tenant.tenantId);
    expect(planned?.status).toBe('running');
    await drain([one, two]);
    const run = await app.context.runs.get(tenant.tenantId, planned!.runId);
    expect(run?.status).toBe('succeeded');
    const items = await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    expect(run).toMatchObject({
      usersSeen: tenant.licensedUsers,
      usersCrawled: tenant.licensedWithDrive,
      itemsStored: items,
    });
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);
    expect(stats.violations).toBe(0);
  });

  it('purges expired consent states on the timer, and keeps fresh ones', async () => {
    const table = app.context.storage.table(TABLES.consentStates);
    const stale = new ConsentStateStore(table, () => Date.now() - 7_200_000);
    const fresh = new ConsentStateStore(table, () => Date.now());
    const step = { phase: 'consent', tenantId: '00000000-0000-4000-8000-000000000001' } as const;
    await stale.save('s'.repeat(43), 'b'.repeat(43), step);
    await fresh.save('f'.repeat(43), 'b'.repeat(43), step);
    const expiring = async () => {
      let expired = 0;
      let live = 0;
      for await (const row of table.listEntities<{ expiresAt: number }>()) {
        if (row.expiresAt < Date.now()) expired += 1;
        else live += 1;
      }
      return { expired, live };
    };
    expect((await expiring()).expired).toBeGreaterThan(0);
    await timer();
    const after = await expiring();
    expect(after.expired).toBe(0);
    expect(after.live).toBeGreaterThan(0);
  });

  it('retries a batch that failed once and counts it once', async () => {
    // Every user licensed, so both batches hold 6 users: a round of fewer than 3 all failing is not "Graph failing
    // for the tenant" but a skip of each user (docs/drive-answers.md), and the batch would not be retried at all.
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 12,
      withoutDriveShare: 0,
      unlicensedShare: 0,
    });
    await timer();
    const runId = (await app.context.runs.latest(tenant.tenantId))!.runId;
    // The listing goes through; then every drive request fails for one delivery round.
    const all = queues(app.context);
    await deliverOnce(all[0]!.queue, all[0]!.poison, one.handlers.tenant, RULES, 'test');
    await cloud.setFaults(tenant.tenantId, { graph: { status500: 1 } });
    await deliverOnce(all[1]!.queue, all[1]!.poison, one.handlers.batch, RULES, 'test');
    expect((await app.context.runs.get(tenant.tenantId, runId))?.status).toBe('running');
    await cloud.setFaults(tenant.tenantId, {});
    await drain([one, two]);
    const run = await app.context.runs.get(tenant.tenantId, runId);
    expect(run?.status).toBe('succeeded');
    const items = await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    expect(run?.itemsStored).toBe(items);
    expect(run?.usersCrawled).toBe(tenant.licensedWithDrive);
  });

  it('fails the run with its reason when a batch lands in the poison queue, and keeps the tenant crawlable', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 8, withoutDriveShare: 0 });
    await timer();
    const runId = (await app.context.runs.latest(tenant.tenantId))!.runId;
    await cloud.setFaults(tenant.tenantId, { graph: { status500: 1 } });
    try {
      await drain([one, two]);
    } finally {
      await cloud.setFaults(tenant.tenantId, {});
    }
    const run = await app.context.runs.get(tenant.tenantId, runId);
    expect(run?.status).toBe('failed');
    expect(run?.error).toMatch(/graph_failed \(HTTP 500\)/);
    const record = await app.context.registry.get(tenant.tenantId);
    expect(record?.status).toBe('error');
    expect((await app.context.registry.listCrawlable()).some((t) => t.tenantId === tenant.tenantId)).toBe(
      true,
    );
  });

  it('queues one tenant on POST /api/tenants/{id}/crawl with the contract answers', async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 5 });
    const routes = tenantHandlers(() => app.context);
    const post = (id: string, query = '') =>
      routes.crawl(
        new HttpRequest({
          method: 'POST',
          url: `http://127.0.0.1/api/tenants/${id}/crawl${query}`,
          params: { tenantId: id },
        }),
        new InvocationContext({ functionName: 'tenantCrawl' }),
      );
    const accepted = await post(tenant.tenantId);
    expect(accepted.status).toBe(202);
    expect((accepted.headers as Record<string, string>)['X-Content-Type-Options']).toBe('nosniff');
    const runId = (JSON.parse(accepted.body as string) as { runId: string }).runId;
    expect((await post(tenant.tenantId)).status).toBe(409);
    expect((await post('00000000-0000-0000-0000-00000000beef')).status).toBe(404);
    await drain([one]);
    expect((await app.context.runs.get(tenant.tenantId, runId))?.status).toBe('succeeded');

    const listed = await routes.list(
      new HttpRequest({ method: 'GET', url: 'http://127.0.0.1/api/tenants' }),
      new InvocationContext({ functionName: 'tenantsList' }),
    );
    const body = JSON.parse(listed.body as string) as { tenants: Array<Record<string, unknown>> };
    const row = body.tenants.find((t) => t.tenantId === tenant.tenantId);
    expect(row).toMatchObject({ status: 'active', lastRunId: runId });
    expect((row?.lastRun as { status: string }).status).toBe('succeeded');
    expect(typeof row?.consentedAt).toBe('string');

    // `?full=true` opens a run that follows no cursor saved before it; another value is refused, nothing queued.
    const refused = await post(tenant.tenantId, '?full=yes');
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body as string)).toMatchObject({ error: 'invalid_request' });
    const full = await post(tenant.tenantId, '?full=true');
    expect(full.status).toBe(202);
    const fullRun = await app.context.runs.get(
      tenant.tenantId,
      (JSON.parse(full.body as string) as { runId: string }).runId,
    );
    expect(fullRun?.cursorsFrom).toBe(fullRun?.startedAt);
    await drain([one]);
    expect((await app.context.runs.get(tenant.tenantId, fullRun!.runId))?.itemsRead).toBe(
      (await app.context.runs.get(tenant.tenantId, runId))?.itemsRead,
    );

    await cloud.revoke(tenant.tenantId, app.clientId);
    await app.context.registry.recordCrawlOutcome(tenant.tenantId, { status: 'revoked', at: new Date() });
    expect((await post(tenant.tenantId)).status).toBe(409);
  });
});

describe('a batch that reaches its yield time', () => {
  it('queues its remaining users as continuations, and the run ends exact under throttling', async () => {
    const cloud = sim();
    // Every piece yields after its first round of 20 users: a batch of 60 becomes three pieces.
    const app = await createTestApp({
      crawlSettings: { ...SETTINGS, usersPerBatch: 60, graphMaxAttempts: 2, batchYieldMs: 0 },
    });
    const instance = { context: app.context, handlers: crawlHandlers(() => app.context) };
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 70,
      unlicensedShare: 0,
      itemsPerUser: [0, 6],
      // Throttled all along: budget 429s, and 503s that must never fail a piece or skip a user.
      budgetPerWindow: 40,
      windowSeconds: 10,
      timeScale: 10,
    });
    await cloud.setFaults(tenant.tenantId, { graph: { status503: 0.1, retryAfterSeconds: 1 } });
    try {
      await instance.handlers.plan(
        {
          isPastDue: false,
          schedule: { adjustForDST: false },
          scheduleStatus: { last: '', next: '', lastUpdated: '' },
        },
        new InvocationContext({ functionName: 'crawlPlan' }),
      );
      await drain([instance]);
    } finally {
      await cloud.setFaults(tenant.tenantId, {});
    }
    const run = await app.context.runs.latest(tenant.tenantId);
    expect(run?.status).toBe('succeeded');
    const items = await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    expect(run).toMatchObject({
      usersSeen: 70,
      usersCrawled: tenant.licensedWithDrive,
      usersSkipped: 0,
      itemsStored: items,
    });
    // Two batches (60 + 10 users): the first went on twice; the second has one round only.
    const summary = await app.context.progress.summary(tenant.tenantId, run!.runId);
    expect(summary).toMatchObject({ batchesPlanned: 2, continuations: 2, batchesDone: 4 });
    const stats = await cloud.throttleStats(tenant.tenantId, app.clientId);
    expect(stats.throttled).toBeGreaterThan(0);
    expect(stats.violations).toBe(0);
  }, 180_000);
});
