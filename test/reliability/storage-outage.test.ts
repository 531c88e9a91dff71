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

  /** Crawls a tenant while storage goes away for `outageMs`, once a quarter of its users are stored. */
  async function crawlThroughOutage(outageMs: number) {
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
    return { run, seen: await graphRequestsSeen(cloud, tenant.tenantId, app.clientId, since) };
  }

  it('ends exact with every counter when storage is unreachable for 3 s mid-crawl', async () => {
    const { run, seen } = await crawlThroughOutage(3_000);
    expect(run.requests).toBe(seen.requests);
  });

  it('ends exact with every counter when storage is unreachable for 8 s mid-crawl, past the storage client retries', async () => {
    const { run, seen } = await crawlThroughOutage(8_000);
    expect(app.logs.some((line) => line.message === 'batch attempt failed')).toBe(true);
    // Every attempt's requests count. (Here the storage client's own retries usually outlast the outage, so the
    // path that keeps an attempt whose bookkeeping failed is proven in the run-progress tests, not here.)
    expect(run.requests).toBe(seen.requests);
  });
});
