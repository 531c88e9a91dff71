/** How often the simulator's own event loop is sampled for lag (real ms). */
const TICK_MS = 10;
/** Lag below this is noise, not a stall. */
const NOISE_MS = 2;
/** Stalls remembered (about a minute of back-to-back ones). */
const MAX_STALLS = 6_000;

/**
 * Measures when the simulator's own thread was too busy to read requests (serialising a large answer, a GC
 * pause). A request that reached the socket during such a stall is handled late, so the violation judge adds the
 * stalls since a `Retry-After` was told to its in-flight grace: what the simulator cannot see is not counted against
 * the client.
 */
export class LoopLag {
  readonly #clock: () => number;
  readonly #stalls: Array<{ end: number; ms: number }> = [];
  readonly #timer: NodeJS.Timeout;
  #expected: number;

  constructor(clock: () => number) {
    this.#clock = clock;
    this.#expected = clock() + TICK_MS;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  /** Real ms the thread was stalled between `from` and `to` (monotonic clock). */
  stalledBetween(from: number, to: number): number {
    let total = 0;
    for (let i = this.#stalls.length - 1; i >= 0; i -= 1) {
      const stall = this.#stalls[i]!;
      if (stall.end <= from) break;
      if (stall.end - stall.ms < to) total += Math.min(stall.end, to) - Math.max(stall.end - stall.ms, from);
    }
    return Math.max(0, total);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = this.#clock();
    const late = now - this.#expected;
    if (late > NOISE_MS) {
      this.#stalls.push({ end: now, ms: late });
      if (this.#stalls.length > MAX_STALLS) this.#stalls.shift();
    }
    this.#expected = now + TICK_MS;
  }
}
