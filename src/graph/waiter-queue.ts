import { abortReason } from './pacer-clock';

/** A request waiting for the pacer's grant. */
export interface Waiter {
  units: number;
  resolve: () => void;
  reject: (reason: Error) => void;
  signal: AbortSignal | undefined;
}

/**
 * The pacer's waiting requests in grant order. A waiter whose signal aborts leaves the queue at once, rejected
 * with the signal's reason; one abort listener serves every waiter of a signal, however many requests wait with it.
 */
export class WaiterQueue {
  readonly #queue: Waiter[] = [];
  readonly #watched = new Map<AbortSignal, { waiters: Set<Waiter>; onAbort: () => void }>();
  readonly #onAbort: () => void;

  /** `onAbort`: called after aborted waiters left (the pacer re-checks its head). */
  constructor(onAbort: () => void) {
    this.#onAbort = onAbort;
  }

  get length(): number {
    return this.#queue.length;
  }

  head(): Waiter | undefined {
    return this.#queue[0];
  }

  /** Adds a waiter at the end, or at the front (a caller acquiring again right after its grant). */
  add(waiter: Waiter, first: boolean): void {
    if (waiter.signal) this.#watch(waiter.signal, waiter);
    if (first) this.#queue.unshift(waiter);
    else this.#queue.push(waiter);
  }

  /** Takes the head out of the queue (to grant it). */
  shift(): Waiter | undefined {
    const waiter = this.#queue.shift();
    if (waiter) this.#unwatch(waiter);
    return waiter;
  }

  #watch(signal: AbortSignal, waiter: Waiter): void {
    let watched = this.#watched.get(signal);
    if (!watched) {
      const waiters = new Set<Waiter>();
      const onAbort = (): void => {
        this.#watched.delete(signal);
        for (const aborted of waiters) {
          const index = this.#queue.indexOf(aborted);
          if (index >= 0) this.#queue.splice(index, 1);
          aborted.reject(abortReason(signal));
        }
        this.#onAbort();
      };
      watched = { waiters, onAbort };
      this.#watched.set(signal, watched);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    watched.waiters.add(waiter);
  }

  #unwatch(waiter: Waiter): void {
    if (!waiter.signal) return;
    const watched = this.#watched.get(waiter.signal);
    if (!watched) return;
    watched.waiters.delete(waiter);
    if (watched.waiters.size === 0) {
      this.#watched.delete(waiter.signal);
      waiter.signal.removeEventListener('abort', watched.onAbort);
    }
  }
}
