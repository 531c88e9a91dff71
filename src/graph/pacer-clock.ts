/**
 * Time as the pacer sees it. Injected so that tests can run many budget windows of throttling in
 * milliseconds, and so that every wait in the pacer can be cancelled.
 */
export interface PacerClock {
  /** Milliseconds since the Unix epoch: holds are shared between instances as absolute times. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason as soon as the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Longest delay `setTimeout` accepts; longer waits are cut to it (callers re-check the time anyway). */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The reason an aborted signal carries (callers see exactly what `abort(reason)` was given), or a standard
 * `AbortError`. Typed as an Error, as `AbortSignal.abort()` and `AbortSignal.timeout()` make it.
 */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return (reason ?? new DOMException('The operation was aborted', 'AbortError')) as Error;
}

/**
 * Wall-clock time and real timers. The timers stay referenced: the pacer only sleeps while some request is
 * waiting for it, and an unreferenced timer would let Node exit with that request half done. Nothing is
 * left running when no request waits (the pacer has no background timer).
 */
export const systemClock: PacerClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        if (signal) reject(abortReason(signal));
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.min(Math.max(0, ms), MAX_TIMER_MS),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
