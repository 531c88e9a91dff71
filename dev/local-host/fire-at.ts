/** The longest delay `setTimeout` holds (2^31 - 1 ms, 24.8 days); Node fires a longer one at once, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fire` at `at` (ms since the epoch), waiting in steps a timer can hold, so that a monthly or yearly
 * schedule waits its whole time. Returns what cancels it.
 */
export function fireAt(at: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout;
  const wait = (): void => {
    const delay = at - Date.now();
    timer = delay > MAX_TIMER_MS ? setTimeout(wait, MAX_TIMER_MS) : setTimeout(fire, Math.max(0, delay));
  };
  wait();
  return () => clearTimeout(timer);
}
