/**
 * The simulated Microsoft cloud in a process of its own, so that the benchmark can measure its CPU apart from the
 * crawler's. `tsx dev/bench/sim-process.ts <timeScale>`: prints `{"event":"ready","url":...}` on stdout, then
 * serves until its stdin closes (the orchestrator exits) or it gets SIGTERM. Controlled through `SimClient`.
 */
import { startSimulatedCloud } from '../sim/simulated-cloud';
import type { SimReady } from './protocol';

async function main(): Promise<void> {
  const timeScale = Number(process.argv[2] ?? '1');
  if (!(timeScale > 0)) throw new Error('usage: sim-process <timeScale>');
  // The benchmark reads counters, not the log: a small ring buffer keeps the simulator's memory flat.
  const cloud = await startSimulatedCloud({ timeScale, seed: 1, logCapacity: 1_000 });
  const stop = (): void => {
    void cloud.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  const ready: SimReady = { event: 'ready', url: cloud.url };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `simulator process failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
