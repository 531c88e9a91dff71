import { TableClient } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { TcpProxy, storagePorts, withStoragePorts } from '../../dev/tcp-proxy';
import { RunProgress } from '../../src/crawl/run-progress';
import { storageConnectionString } from '../support/sim';

/**
 * A run's counters when storage fails a batch attempt and then the bookkeeping of that failure too: the attempt's
 * Graph requests were sent, so `requests` must still count them once storage is back.
 */
describe('RunProgress through a storage outage', () => {
  let proxy: TcpProxy;
  let progress: RunProgress;
  /** The summary row as stored, without replaying anything kept in memory. */
  let rawSummary: (tenantId: string, runId: string) => Promise<Record<string, unknown>>;

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
    rawSummary = (tenantId, runId) => table.getEntity(`${tenantId}_${runId}`, 'summary');
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

  function failedAttemptDuringOutage(tenantId: string, runId: string, attempt: string, requests: number) {
    return inOutage(() =>
      progress.recordFailedAttempt(
        tenantId,
        runId,
        attempt,
        { requests, throttled: 1, roundTrips: 1 },
        'Batch 1 failed: storage unreachable',
      ),
    );
  }

  /** A tenant with a started run `run1`. */
  async function newRun(): Promise<string> {
    const tenantId = randomUUID();
    await progress.start(tenantId, 'run1');
    return tenantId;
  }

  /** Records batch 1 of `run1`, as attempt `attempt` that sent `requests` and crawled 4 users. */
  function batchOne(tenantId: string, attempt: string, requests: number) {
    return progress.recordBatch(tenantId, 'run1', 1, { requests, usersCrawled: 4 }, attempt);
  }

  it("counts a failed attempt whose own recording failed with the run's next write, once", async () => {
    const tenantId = await newRun();

    await failedAttemptDuringOutage(tenantId, 'run1', 'b1_a1', 7);
    // Kept in memory, not yet in the table.
    expect(Number((await rawSummary(tenantId, 'run1')).requests)).toBe(0);

    const afterBatch = await progress.recordBatch(
      tenantId,
      'run1',
      1,
      { requests: 5, usersCrawled: 3 },
      'b1_a2',
    );
    expect(afterBatch).toMatchObject({ requests: 12, throttled: 1, usersCrawled: 3, batchesDone: 1 });
    const afterNext = await progress.recordBatch(tenantId, 'run1', 2, { requests: 2 }, 'b2_a1');
    expect(afterNext).toMatchObject({ requests: 14, throttled: 1, batchesDone: 2 });
    expect(await progress.lastFailure(tenantId, 'run1', 'b1')).toBe('Batch 1 failed: storage unreachable');
  });

  it('does not count a kept attempt twice when its recording had landed after all', async () => {
    const tenantId = await newRun();
    await progress.recordFailedAttempt(
      tenantId,
      'run1',
      'b1_a1',
      { requests: 7, throttled: 0, roundTrips: 1 },
      'x',
    );

    // The same attempt again in the outage (as when a write lands but its answer is lost): kept, then found done.
    await failedAttemptDuringOutage(tenantId, 'run1', 'b1_a1', 7);
    const summary = await progress.recordBatch(tenantId, 'run1', 1, { requests: 5 }, 'b1_a2');
    expect(summary.requests).toBe(12);
  });

  it('counts the requests of an attempt whose batch write failed, and the batch once, when a retry records it', async () => {
    const tenantId = await newRun();
    await inOutage(() => batchOne(tenantId, 'b1_a1', 6));

    const summary = await batchOne(tenantId, 'b1_a2', 5);
    expect(summary).toMatchObject({ requests: 11, usersCrawled: 4, batchesDone: 1 });
  });

  it('counts a retry that finds its batch already recorded by an attempt whose answer was lost', async () => {
    const tenantId = await newRun();
    // The first attempt's write lands, but it never learns so: storage goes away before its answer (played here
    // by the same attempt writing again in the outage).
    await batchOne(tenantId, 'b1_a1', 6);
    await inOutage(() => batchOne(tenantId, 'b1_a1', 6));

    // The retry did the batch again and sent its own requests: those count, the batch's work does not again.
    const bothAttemptsOneBatch = { requests: 11, usersCrawled: 4, batchesDone: 1 };
    expect(await batchOne(tenantId, 'b1_a2', 5)).toMatchObject(bothAttemptsOneBatch);
    expect(await batchOne(tenantId, 'b1_a2', 5)).toMatchObject(bothAttemptsOneBatch);
  });

  it('counts the requests of a duplicate delivery, and its batch once', async () => {
    const tenantId = await newRun();
    const [first, second] = await Promise.all([
      progress.recordBatch(tenantId, 'run1', 1, { requests: 6, usersCrawled: 4, itemsStored: 9 }, 'b1_a1'),
      progress.recordBatch(tenantId, 'run1', 1, { requests: 5, usersCrawled: 4, itemsStored: 9 }, 'b1_a2'),
    ]);
    expect([first.batchesDone, second.batchesDone]).toEqual([1, 1]);
    expect(await progress.summary(tenantId, 'run1')).toMatchObject({
      requests: 11,
      usersCrawled: 4,
      itemsStored: 9,
      batchesDone: 1,
    });
  });

  it('records the kept attempts of a run before reading its summary (a run failed for good has no next write)', async () => {
    const tenantId = await newRun();
    await failedAttemptDuringOutage(tenantId, 'run1', 'b1_a1', 7);
    expect(Number((await rawSummary(tenantId, 'run1')).requests)).toBe(0);

    expect(await progress.summary(tenantId, 'run1')).toMatchObject({ requests: 7, throttled: 1 });
    expect(Number((await rawSummary(tenantId, 'run1')).requests)).toBe(7);
  });

  it("keeps another run's failed attempt for that run's own next write", async () => {
    const tenantId = await newRun();
    await progress.start(tenantId, 'run2');

    await failedAttemptDuringOutage(tenantId, 'run1', 'b1_a1', 7);
    expect((await progress.recordBatch(tenantId, 'run2', 1, { requests: 1 }, 'b1_a1')).requests).toBe(1);
    expect((await progress.recordFinish(tenantId, 'run1', {})).requests).toBe(7);
  });
});
