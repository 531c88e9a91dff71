import type { TableClient } from '@azure/data-tables';
import fc from 'fast-check';
import { RunProgress } from '../../src/crawl/run-progress';

/**
 * Many attempts recording one run at once while storage comes and goes: whatever the interleaving, once storage
 * is back, the run's `requests` must be the sum of what every attempt sent (none lost, none twice), and each
 * batch's work counted once. The table is an in-memory stand-in with the Table service's rules that matter here
 * (ETag checks on update, 409 on a second create, all-or-nothing transactions), so interleavings are many and fast.
 */
type Row = Record<string, unknown> & { partitionKey: string; rowKey: string };

class FlakyTable {
  readonly rows = new Map<string, Row & { etag: string }>();
  down = false;
  #etag = 0;
  readonly #random: () => number;

  constructor(random: () => number) {
    this.#random = random;
  }

  /** When set, the next call waits until `release()`. */
  #held: Promise<void> | undefined;
  release: () => void = () => undefined;

  holdNextCall(): void {
    this.#held = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  async #call(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (held) await held;
    // Each call yields a random number of turns, so concurrent writers interleave differently each run.
    for (let turns = Math.floor(this.#random() * 4); turns > 0; turns -= 1) await Promise.resolve();
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  }

  createTable(): Promise<void> {
    return Promise.resolve();
  }

  async createEntity(entity: Row): Promise<void> {
    await this.#call();
    this.#apply([['create', entity]]);
  }

  async getEntity(partitionKey: string, rowKey: string): Promise<Row & { etag: string }> {
    await this.#call();
    const row = this.rows.get(`${partitionKey}|${rowKey}`);
    if (!row) throw Object.assign(new Error('ResourceNotFound'), { statusCode: 404 });
    return { ...row };
  }

  async submitTransaction(actions: Array<[string, Row, string?, { etag?: string }?]>): Promise<void> {
    await this.#call();
    this.#apply(actions);
    // Sometimes the transaction lands but its answer is lost.
    if (this.#random() < 0.1) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  }

  #apply(actions: Array<[string, Row, string?, { etag?: string }?]>): void {
    for (const [kind, entity, , options] of actions) {
      const row = this.rows.get(`${entity.partitionKey}|${entity.rowKey}`);
      if (kind === 'create' && row)
        throw Object.assign(new Error('EntityAlreadyExists'), { statusCode: 409 });
      if (kind === 'update' && (!row || (options?.etag !== '*' && options?.etag !== row.etag)))
        throw Object.assign(new Error('UpdateConditionNotSatisfied'), { statusCode: 412 });
    }
    for (const [, entity] of actions) {
      this.#etag += 1;
      this.rows.set(`${entity.partitionKey}|${entity.rowKey}`, { ...entity, etag: String(this.#etag) });
    }
  }
}

/** One attempt: a batch that ends (recorded with its work) or fails (recorded as a failed attempt). */
const attemptArb = fc.record({
  batch: fc.integer({ min: 1, max: 6 }),
  requests: fc.integer({ min: 1, max: 50 }),
  fails: fc.boolean(),
  /** Turns of the event loop before this attempt starts. */
  startTurn: fc.integer({ min: 0, max: 60 }),
  /** Storage goes down (true) or comes back (false) as this attempt starts. */
  storageDown: fc.option(fc.boolean(), { nil: undefined }),
});

/** Lets every write that is not held run to its end (a retry after a conflict waits a few ms). */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 200));
}

describe('RunProgress under concurrent attempts and storage outages', () => {
  it('keeps an attempt that failed while another write was replaying the kept ones', async () => {
    const table = new FlakyTable(() => 0);
    const progress = new RunProgress(table as unknown as TableClient);
    await progress.start('tenant', 'run');
    const sent = (requests: number) => ({ requests, throttled: 0, roundTrips: 1 });
    table.down = true;
    await expect(progress.recordFailedAttempt('tenant', 'run', '000001_a', sent(1), 'x')).rejects.toThrow();
    table.down = false;

    // Batch 5's replay of the kept attempt stalls on storage; batch 6 records meanwhile.
    table.holdNextCall();
    const five = progress.recordBatch('tenant', 'run', 5, sent(10), '000005_a');
    const six = progress.recordBatch('tenant', 'run', 6, sent(100), '000006_a');
    await settle();
    // Storage goes away and another attempt fails, then storage is back and the stalled call goes on.
    table.down = true;
    const failed = progress
      .recordFailedAttempt('tenant', 'run', '000002_a', sent(1_000), 'y')
      .catch(() => undefined);
    await settle();
    table.down = false;
    table.release();
    await Promise.allSettled([five, six, failed]);

    expect((await progress.summary('tenant', 'run'))?.requests).toBe(1_111);
  });

  it('counts every attempt once, and each batch once, whatever the interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(attemptArb, { minLength: 1, maxLength: 30 }),
        fc.integer(),
        async (attempts, seed) => {
          const random = fc.sample(fc.double({ min: 0, max: 0.999999, noNaN: true }), {
            seed,
            numRuns: 5_000,
          });
          let next = 0;
          const table = new FlakyTable(() => random[next++ % random.length] ?? 0);
          const progress = new RunProgress(table as unknown as TableClient);
          await progress.start('tenant', 'run');

          await Promise.all(
            attempts.map(async (attempt, index) => {
              for (let turn = 0; turn < attempt.startTurn; turn += 1) await Promise.resolve();
              if (attempt.storageDown !== undefined) table.down = attempt.storageDown;
              const id = `${String(attempt.batch).padStart(6, '0')}_${index}`;
              const sent = { requests: attempt.requests, throttled: 0, roundTrips: 1 };
              await (
                attempt.fails
                  ? progress.recordFailedAttempt('tenant', 'run', id, sent, 'failed')
                  : progress.recordBatch('tenant', 'run', attempt.batch, { ...sent, usersCrawled: 1 }, id)
              ).catch(() => undefined);
            }),
          );
          table.down = false;
          const summary = await progress.summary('tenant', 'run');

          const sentInAll = attempts.reduce((sum, attempt) => sum + attempt.requests, 0);
          const batchesRecorded = [...table.rows.keys()].filter((key) =>
            key.startsWith('tenant_run|batch_'),
          ).length;
          expect(summary?.requests).toBe(sentInAll);
          expect(summary?.roundTrips).toBe(attempts.length);
          expect(summary?.batchesDone).toBe(batchesRecorded);
          expect(summary?.usersCrawled).toBe(batchesRecorded);
        },
      ),
      { numRuns: 100 },
    );
  });
});
