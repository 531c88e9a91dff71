import { TableClient } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { TcpProxy, storagePorts, withStoragePorts } from '../../dev/tcp-proxy';
import { RunProgress } from '../../src/crawl/run-progress';
import { storageConnectionString } from '../support/sim';

/**
 * A run's counters when storage fails attempts' bookkeeping, through a real outage of the table endpoint: every
 * attempt whose row was written counts once, each piece's work counts once, and an attempt whose own write never
 * landed is the one thing lost (the bound the README states).
 */
describe('RunProgress through a storage outage', () => {
  let proxy: TcpProxy;
  let progress: RunProgress;

  beforeAll(async () => {
    const direct = storageConnectionString();
    const ports = storagePorts(direct);
    proxy = await TcpProxy.start({ targetPort: ports.table });
    const table = TableClient.fromConnectionString(
      withStoragePorts(direct, { table: proxy.port, queue: ports.queue }),
      `Progress${randomUUID().replace(/-/g, '').slice(0, 12)}`,
      // One quick client retry (for a pooled connection the outage closed), so the outage fails a write at once
      // instead of after the SDK's backoff.
      {
        allowInsecureConnection: true,
        retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
      },
    );
    progress = new RunProgress(table);
  });

  afterAll(async () => {
    await proxy.close();
  });

  /** Runs a bookkeeping write while storage is unreachable: it must fail. */
  async function inOutage(write: () => Promise<unknown>): Promise<void> {
    await proxy.cut();
    try {
      await expect(write()).rejects.toThrow();
    } finally {
      await proxy.restore();
    }
  }

  /** A tenant with a started run `run1`. */
  async function newRun(): Promise<string> {
    const tenantId = randomUUID();
    await progress.start(tenantId, 'run1');
    return tenantId;
  }

  /** Records batch 1 of `run1`, as attempt `attempt` that sent `requests` and crawled 4 users. */
  function batchOne(tenantId: string, attempt: string, requests: number) {
    return progress.recordPiece(
      tenantId,
      'run1',
      { batch: 1 },
      { requests, throttled: 0, unitsSpent: 2 * requests, usersCrawled: 4 },
      attempt,
    );
  }

  it('counts a failed attempt from its own row, and names its reason for the poison handler', async () => {
    const tenantId = await newRun();
    await progress.recordFailedAttempt(
      tenantId,
      'run1',
      'b1_a1',
      { requests: 7, throttled: 1, unitsSpent: 14 },
      'Batch 1 failed: x',
    );
    await batchOne(tenantId, 'b1_a2', 5);
    expect(await progress.summary(tenantId, 'run1')).toMatchObject({
      requests: 12,
      throttled: 1,
      unitsSpent: 24,
      usersCrawled: 4,
      batchesDone: 1,
    });
    expect(await progress.lastFailure(tenantId, 'run1', 'b1')).toBe('Batch 1 failed: x');
    expect(await progress.lastFailure(tenantId, 'run1', 'b2')).toBeUndefined();
  });

  it('loses only the attempt whose own write failed in the outage (the documented bound), and counts the rest', async () => {
    const tenantId = await newRun();
    await inOutage(() =>
      progress.recordFailedAttempt(
        tenantId,
        'run1',
        'b1_a1',
        { requests: 7, throttled: 1, unitsSpent: 14 },
        'lost',
      ),
    );
    await inOutage(() => batchOne(tenantId, 'b1_a2', 6));
    const summary = await batchOne(tenantId, 'b1_a3', 5);
    expect(summary).toMatchObject({ usersCrawled: 4, batchesDone: 1 });
    expect(await progress.summary(tenantId, 'run1')).toMatchObject({
      requests: 5,
      throttled: 0,
      batchesDone: 1,
    });
  });

  it('counts a retry that finds its batch already recorded by an attempt whose answer was lost', async () => {
    const tenantId = await newRun();
    // The first attempt's write lands, but it never learns so: storage goes away before its answer (played here
    // by the same attempt writing again in the outage).
    await batchOne(tenantId, 'b1_a1', 6);
    await inOutage(() => batchOne(tenantId, 'b1_a1', 6));

    // The retry did the batch again and sent its own requests: those count, the batch's work does not again; a
    // rewrite of the retry's row is harmless.
    await batchOne(tenantId, 'b1_a2', 5);
    await batchOne(tenantId, 'b1_a2', 5);
    expect(await progress.summary(tenantId, 'run1')).toMatchObject({
      requests: 11,
      usersCrawled: 4,
      batchesDone: 1,
    });
  });

  it('counts the requests of a duplicate delivery, and its batch once', async () => {
    const tenantId = await newRun();
    const [first, second] = await Promise.all([
      progress.recordPiece(
        tenantId,
        'run1',
        { batch: 1 },
        { requests: 6, usersCrawled: 4, itemsStored: 9 },
        'b1_a1',
      ),
      progress.recordPiece(
        tenantId,
        'run1',
        { batch: 1 },
        { requests: 5, usersCrawled: 4, itemsStored: 9 },
        'b1_a2',
      ),
    ]);
    expect([first.batchesDone, second.batchesDone]).toEqual([1, 1]);
    expect(await progress.summary(tenantId, 'run1')).toMatchObject({
      requests: 11,
      usersCrawled: 4,
      itemsStored: 9,
      batchesDone: 1,
    });
  });

  it("finishes a run with its own attempts' requests and the sweep's deletions, once", async () => {
    const tenantId = await newRun();
    await progress.start(tenantId, 'run2');
    const sent = { requests: 7, throttled: 2, unitsSpent: 14 };
    await progress.recordFailedAttempt(tenantId, 'run1', 'b1_a1', sent, 'x');
    await progress.recordPiece(tenantId, 'run2', { batch: 1 }, { requests: 1, throttled: 0 }, 'b1_a1');
    expect(await progress.recordFinish(tenantId, 'run1', { itemsDeleted: 3 })).toMatchObject({
      requests: 7,
      throttled: 2,
      unitsSpent: 14,
      itemsDeleted: 3,
    });
    expect((await progress.recordFinish(tenantId, 'run1', { itemsDeleted: 3 })).itemsDeleted).toBe(3);
    expect((await progress.summary(tenantId, 'run2'))?.requests).toBe(1);
  });
});
