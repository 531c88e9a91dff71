import type { PacerClock } from '../../src/graph/pacer-clock';
import { abortReason } from '../../src/graph/pacer-clock';

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/** Lets every promise chain that is ready run (setImmediate runs after the whole microtask queue). */
function settlePromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A deterministic clock for tests: time moves only in `runUntil`/`advance`, which fire due sleeps in time
 * order (equal times in the order they were set) and let the code they wake run before going on.
 */
export class FakeClock implements PacerClock {
  #now: number;
  #seq = 0;
  /** Pending sleeps, ordered by end time then by creation. */
  #timers: Timer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        if (signal) reject(abortReason(signal));
      };
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: (this.#seq += 1),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      // Insert after every timer that ends at the same time or earlier.
      let low = 0;
      let high = this.#timers.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (this.#timers[middle]!.at <= timer.at) low = middle + 1;
        else high = middle;
      }
      this.#timers.splice(low, 0, timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs time forward to `until`, firing every sleep that ends on the way. */
  async runUntil(until: number): Promise<void> {
    await settlePromises();
    for (;;) {
      const next = this.#timers[0];
      if (!next || next.at > until) break;
      this.#now = Math.max(this.#now, next.at);
      // Everything due at this instant fires together, then the woken code runs.
      let due = 0;
      while (due < this.#timers.length && this.#timers[due]!.at <= next.at) due += 1;
      for (const timer of this.#timers.splice(0, due)) timer.resolve();
      await settlePromises();
    }
    this.#now = Math.max(this.#now, until);
    await settlePromises();
  }

  advance(ms: number): Promise<void> {
    return this.runUntil(this.#now + ms);
  }
}
