/** Latency assumed before the first answer is measured. */
const DEFAULT_LATENCY_MS = 200;
/** Latency samples kept; the shortest is used (the network, not callers' own delays). */
const LATENCY_SAMPLES = 64;
/** A request not settled after this long is taken for lost (its caller failed without settling). */
const LOST_AFTER_MS = 120_000;

/** Requests granted and not answered yet, and the round trip measured from them. */
export class InFlight {
  /** Grant times of unsettled requests, oldest first (answers come back roughly in order). */
  readonly #grants: Array<{ at: number; units: number }> = [];
  #units = 0;
  #latencyMs = DEFAULT_LATENCY_MS;
  readonly #samples: number[] = [];

  /** Units granted and not settled. */
  get units(): number {
    return this.#units;
  }

  /** Requests granted and not settled. */
  get count(): number {
    return this.#grants.length;
  }

  /** The shortest recent round trip, ms. */
  get latencyMs(): number {
    return this.#latencyMs;
  }

  add(at: number, units: number): void {
    this.#grants.push({ at, units });
    this.#units += units;
  }

  /**
   * Frees a settled request's units and measures latency. Answers are matched to grants oldest first; a
   * request that waited in its caller (the first inner requests of a `$batch` wait for the last) measures long,
   * while the last one granted measures the round trip, so the latency is the shortest recent sample. Answers
   * without a status (failed connections) say nothing about latency.
   */
  release(units: number, now: number, answered: boolean): void {
    while (this.#grants.length > 0 && now - (this.#grants[0]?.at ?? now) > LOST_AFTER_MS) {
      this.#units -= this.#grants.shift()?.units ?? 0;
    }
    const grant = this.#grants.shift();
    this.#units = Math.max(0, this.#units - units);
    if (!grant || !answered) return;
    this.#samples.push(Math.max(1, now - grant.at));
    if (this.#samples.length > LATENCY_SAMPLES) this.#samples.shift();
    this.#latencyMs = Math.min(...this.#samples);
  }
}
