import type { TableClient } from '@azure/data-tables';
import fc from 'fast-check';
import { RunProgress } from '../../src/crawl/run-progress';

/**
 * Many attempts recording one run at once while storage comes and goes: whatever the interleaving, once storage
 * is back, the run's `requests` is the sum of what the attempts whose rows were written sent (none twice; an
 * attempt whose write never landed is the documented loss, and nothing else is), every attempt whose write
 * succeeded is counted, and each batch's work counts once. The table is an in-memory stand-in with the Table
 * service's rules that matter here (ETag checks on update, 409 on a second create, all-or-nothing transactions),
 * so interleavings are many and fast.
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

  async upsertEntity(entity: Row): Promise<void> {
    await this.#call();
    this.#apply([['upsert', entity]]);
    if (this.#random() < 0.1) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  }

  /** Rows of one partition in a RowKey range, as the filter `PartitionKey eq '..' and RowKey ge '..' and RowKey lt '..'` asks. */
  listEntities(options: { queryOptions: { filter: string } }): AsyncIterable<Row> {
    const [, partition, from, to] =
      /PartitionKey eq '([^']*)' and RowKey ge '([^']*)' and RowKey lt '([^']*)'/.exec(
        options.queryOptions.filter,
      ) ?? [];
    const call = () => this.#call();
    const rows = () =>
      [...this.rows.values()].filter(
        (row) => row.partitionKey === partition && row.rowKey >= (from ?? '') && row.rowKey < (to ?? ''),
      );
    return {
      async *[Symbol.asyncIterator]() {
        await call();
        yield* rows();
      },
    };
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

describe('RunProgress under concurrent attempts and storage outages', () => {
  it('counts every attempt whose row was written once, and each batch once, whatever the interleaving', async () => {
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

          const recorded = await Promise.all(
            attempts.map(async (attempt, index) => {
              for (let turn = 0; turn < attempt.startTurn; turn += 1) await Promise.resolve();
              if (attempt.storageDown !== undefined) table.down = attempt.storageDown;
              const id = `${String(attempt.batch).padStart(6, '0')}_${index}`;
              const sent = { requests: attempt.requests, throttled: 1, unitsSpent: 2 * attempt.requests };
              return (
                attempt.fails
                  ? progress.recordFailedAttempt('tenant', 'run', id, sent, 'failed')
                  : progress.recordPiece(
                      'tenant',
                      'run',
                      { batch: attempt.batch },
                      { ...sent, usersCrawled: 1 },
                      id,
                    )
              ).then(
                () => true,
                () => false,
              );
            }),
          );
          table.down = false;
          const summary = await progress.summary('tenant', 'run');

          const rowOf = (index: number) => {
            const id = `${String(attempts[index]?.batch).padStart(6, '0')}_${index}`;
            return table.rows.get(`tenant_run|attempt_${id}`);
          };
          // Every attempt whose write succeeded has its row; the total is exactly the rows' sum, never more
          // than what was sent.
          recorded.forEach((ok, index) => {
            if (ok) expect(rowOf(index)).toBeDefined();
          });
          const written = attempts.filter((_, index) => rowOf(index) !== undefined);
          const sentInAll = attempts.reduce((sum, attempt) => sum + attempt.requests, 0);
          expect(summary?.requests).toBe(written.reduce((sum, attempt) => sum + attempt.requests, 0));
          expect(summary?.throttled).toBe(written.length);
          expect(summary?.requests).toBeLessThanOrEqual(sentInAll);
          const batchesRecorded = [...table.rows.keys()].filter((key) =>
            key.startsWith('tenant_run|piece_batch_'),
          ).length;
          expect(summary?.batchesDone).toBe(batchesRecorded);
          expect(summary?.usersCrawled).toBe(batchesRecorded);
        },
      ),
      { numRuns: 100 },
    );
  });
});
