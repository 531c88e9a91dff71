/**
 * `npx tsx dev/measure-shared-hold.ts [rounds]`: how soon another instance learns a tenant's `Retry-After` hold
 * through `PacerState` (docs/throttling.md). Two pacers of one tenant, as two Function App instances would have,
 * share a `TablePacerState` on Azurite; instance B keeps requests flowing (one acquire every 5 ms). Each round,
 * instance A settles a `429` with `Retry-After: 5`, and the script measures the time until B's hold covers A's.
 * Two cases, each `rounds` times:
 *   - `sharing`: A was already working on the tenant when B started, so B reads the hold every refresh period.
 *     The bound is one shared write, then at most one refresh period (250 ms) plus one read.
 *   - `joining`: A's first request is the throttled one, after B found itself alone and reads only with its
 *     heartbeat. The bound is one shared write, then at most one heartbeat period (1 s) plus one heartbeat.
 */
import { TableClient } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { TenantPacer } from '../src/graph/pacer';
import { TablePacerState } from '../src/storage/table-pacer-state';
import { startAzurite } from './azurite';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? '20');
  const azurite = await startAzurite();
  try {
    const table = TableClient.fromConnectionString(azurite.connectionString, 'PacerState', {
      allowInsecureConnection: true,
    });
    const shared = new TablePacerState(table);
    const delays = { sharing: [] as number[], joining: [] as number[] };
    for (let round = 0; round < 2 * rounds; round += 1) {
      const joining = round % 2 === 1;
      const tenantId = randomUUID();
      const a = new TenantPacer({ tenantId, unitsPerMinute: 600_000, shared, instanceId: 'a' });
      const b = new TenantPacer({ tenantId, unitsPerMinute: 600_000, shared, instanceId: 'b' });
      // Sharing: A's first grant registers it (its first shared read is a heartbeat) before B starts.
      if (!joining) await a.acquire(1).then(() => sleep(100));
      let flowing = true;
      const flow = (async () => {
        while (flowing) {
          await b.acquire(1);
          b.settle(1, { status: 200, headers: { get: () => null } });
          await sleep(5);
        }
      })();
      // Let B settle into its refresh rhythm, at a different phase each round.
      await sleep(300 + Math.random() * 250);
      await a.acquire(1);
      const start = Date.now();
      a.settle(1, {
        status: 429,
        headers: { get: (name) => (name.toLowerCase() === 'retry-after' ? '5' : null) },
      });
      const target = a.holdUntil() - 1_000;
      while (b.holdUntil() < target) await sleep(1);
      delays[joining ? 'joining' : 'sharing'].push(Date.now() - start);
      flowing = false;
      // B is held now: its pending acquire ends when the hold does; do not wait for it.
      void flow;
    }
    const summary = (values: number[]) => {
      const sorted = [...values].sort((x, y) => x - y);
      const pick = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      return { minMs: sorted[0], medianMs: pick(0.5), p95Ms: pick(0.95), maxMs: sorted.at(-1) };
    };
    process.stdout.write(
      `${JSON.stringify({ rounds, sharing: summary(delays.sharing), joining: summary(delays.joining) })}\n`,
    );
  } finally {
    await azurite.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
