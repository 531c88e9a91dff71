import { RestError } from '@azure/data-tables';
import { TcpProxy, storagePorts, withStoragePorts } from '../../dev/tcp-proxy';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { storageConnectionString } from '../support/sim';
import { expectExactCrawl, graphRequestsSeen, onboard } from './support/exact-crawl';
import type { ReliabilityApp } from './support/reliability-app';
import { createReliabilityApp } from './support/reliability-app';

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('crawl through a storage outage', () => {
  let table: TcpProxy;
  let queue: TcpProxy;
  let app: ReliabilityApp;

  beforeAll(async () => {
    const direct = storageConnectionString();
    const ports = storagePorts(direct);
    [table, queue] = await Promise.all([
      TcpProxy.start({ targetPort: ports.table }),
      TcpProxy.start({ targetPort: ports.queue }),
    ]);
    // The app reaches Azurite only through the proxies.
    app = await createReliabilityApp({
      storage: withStoragePorts(direct, { table: table.port, queue: queue.port }),
      overrides: { crawlSettings: { usersPerBatch: 20, userPageSize: 50 } },
    });
  });

  afterAll(async () => {
    await Promise.all([table.close(), queue.close()]);
  });

  /**
   * Watches the run's bookkeeping writes: the Graph requests of every attempt whose own write was refused (storage
   * unreachable through the client's retries). Those are all a run may miss (README, "Crawl bookkeeping").
   */
  function watchUnrecorded(): { requests: number; restore: () => void } {
    const progress = app.context.progress;
    const watched = { requests: 0, restore: () => undefined as void };
    const spies = (['recordPiece', 'recordFailedAttempt'] as const).map((method) => {
      const original = progress[method].bind(progress) as (...args: unknown[]) => Promise<unknown>;
      return jest.spyOn(progress, method).mockImplementation(((...args: unknown[]) =>
        original(...args).catch((error: unknown) => {
          const sent = args.find(
            (arg): arg is { requests: number } =>
              typeof arg === 'object' &&
              arg !== null &&
              typeof (arg as { requests?: unknown }).requests === 'number',
          );
          watched.requests += sent?.requests ?? 0;
          throw error;
        })) as never);
    });
    watched.restore = () => spies.forEach((spy) => spy.mockRestore());
    return watched;
  }

  /** Crawls a tenant while storage goes away for `outageMs`, once a quarter of its users are stored. */
  async function crawlThroughOutage(outageMs: number) {
    const unrecorded = watchUnrecorded();
    const cloud = app.cloud;
    const tenant = await onboard(cloud, app.context, app.clientId, {
      users: 200,
      itemsPerUser: [0, 8],
      latencyMs: 6_000,
    });
    const record = await app.context.registry.get(tenant.tenantId);
    const since = Date.now();
    let usersDone = 0;
    let finished = false;
    const crawling = crawlInline(app.context.crawlDeps(), {
      tenants: record ? [record] : [],
      progressIntervalMs: 50,
      onProgress: (progress) => {
        usersDone = progress.usersDone;
      },
    }).finally(() => {
      finished = true;
    });

    while (usersDone < tenant.licensedUsers / 4 && !finished) await sleep(10);
    expect(finished).toBe(false);
    await Promise.all([table.cut(), queue.cut()]);
    await sleep(outageMs);
    // Still crawling: the outage met the run's batches and bookkeeping, not an idle app.
    expect(finished).toBe(false);
    await Promise.all([table.restore(), queue.restore()]);

    const [result] = await crawling;
    const { run } = await expectExactCrawl(cloud, app.context, tenant.tenantId, result?.run?.runId ?? '');
    expect(await app.context.registry.get(tenant.tenantId)).toMatchObject({
      status: 'active',
      lastRunId: run.runId,
    });
    unrecorded.restore();
    return {
      run,
      seen: await graphRequestsSeen(cloud, tenant.tenantId, app.clientId, since),
      unrecorded: unrecorded.requests,
    };
  }

  /** Every request is counted but those of attempts whose own bookkeeping was refused, and none twice. */
  function expectRequestsWithinBound(counted: number, seen: number, unrecorded: number): void {
    expect(counted).toBeLessThanOrEqual(seen);
    expect(seen - counted).toBeLessThanOrEqual(unrecorded);
  }

  it("ends exact when storage is unreachable for 3 s mid-crawl, every request counted but a refused attempt's", async () => {
    const { run, seen, unrecorded } = await crawlThroughOutage(3_000);
    expectRequestsWithinBound(run.requests, seen.requests, unrecorded);
  });

  it('ends exact with every counter when storage is unreachable for 8 s mid-crawl, past the storage client retries', async () => {
    const { run, seen, unrecorded } = await crawlThroughOutage(8_000);
    expect(app.logs.some((line) => line.message === 'batch attempt failed')).toBe(true);
    // What is missing is exactly bounded by the attempts whose own rows storage refused (often none: the storage
    // client's retries usually outlast the outage).
    console.log(
      `8 s outage: ${seen.requests} requests seen by Graph, ${run.requests} counted, ${unrecorded} unrecordable`,
    );
    expectRequestsWithinBound(run.requests, seen.requests, unrecorded);
  });
  it('counts the requests of an attempt that did its work and then could not read the tenant before its bookkeeping', async () => {
    const tenant = await onboard(app.cloud, app.context, app.clientId, { users: 60, itemsPerUser: [0, 8] });
    const record = await app.context.registry.get(tenant.tenantId);
    const deps = app.context.crawlDeps();
    // Once the first batch's skips are recorded (the last step of its work), the next tenant read fails, as an
    // unreachable storage account would after the client's retries.
    let failNext = false;
    let failed = 0;
    const recordBatch = deps.skips.recordBatch.bind(deps.skips);
    const readTenant = deps.registry.get.bind(deps.registry);
    const spies = [
      jest.spyOn(deps.skips, 'recordBatch').mockImplementation(async (...args) => {
        await recordBatch(...args);
        if (failed === 0) failNext = true;
      }),
      jest.spyOn(deps.registry, 'get').mockImplementation(async (tenantId) => {
        if (!failNext) return readTenant(tenantId);
        failNext = false;
        failed += 1;
        throw new RestError('connect ECONNREFUSED', { code: 'ECONNREFUSED' });
      }),
    ];
    const since = Date.now();
    try {
      const [result] = await crawlInline(deps, { tenants: record ? [record] : [] });
      expect(result?.run?.status).toBe('succeeded');
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    expect(failed).toBe(1);
    const { run } = await expectExactCrawl(
      app.cloud,
      app.context,
      tenant.tenantId,
      (await app.context.runs.latest(tenant.tenantId))!.runId,
    );
    // The failed attempt's requests are in the run (its failure recorded), and the retry's once more.
    const seen = await graphRequestsSeen(app.cloud, tenant.tenantId, app.clientId, since);
    expect(run.requests).toBe(seen.requests);
  });
});
