/**
 * How responsive Azurite stays during a crawl: a point read of a missing entity every `intervalMs`, its latency
 * percentiles at the end. A queue in front of Azurite (its one thread busy) shows here first.
 */
import { TableClient } from '@azure/data-tables';
import { readEntity } from '../../src/storage/table-batch';

export interface LatencyFigure {
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

export class LatencyProbe {
  readonly #client: TableClient;
  readonly #intervalMs: number;
  readonly #samples: number[] = [];
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(connectionString: string, table: string, intervalMs = 100) {
    this.#client = TableClient.fromConnectionString(connectionString, table, {
      allowInsecureConnection: true,
    });
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const started = performance.now();
        try {
          await readEntity(this.#client, 'latency-probe', 'none');
          this.#samples.push(performance.now() - started);
        } catch {
          // the table may not exist yet: no sample
        }
        await new Promise((resolve) => setTimeout(resolve, this.#intervalMs));
      }
    })();
  }

  async stop(): Promise<LatencyFigure> {
    this.#running = false;
    await this.#loop;
    const sorted = [...this.#samples].sort((a, b) => a - b);
    const at = (share: number): number =>
      Math.round((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? 0) * 10) / 10;
    return { samples: sorted.length, p50Ms: at(0.5), p95Ms: at(0.95), maxMs: at(1) };
  }
}
