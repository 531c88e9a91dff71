/** Budget utilisation of a crawl, from the simulator's throttle statistics (shared by the benchmark's scenarios). */
import type { ThrottleStats } from '../sim/types';

/**
 * Units the simulator charged over the budget it offered between the first and the last charged request:
 * `unitsSpent / ((lastRequestAt - start) / 1000 × unitsPerRealSecond)`. `windowStart` counts from the start of the
 * first request's budget window instead.
 */
export function utilisation(
  stats: ThrottleStats,
  from: 'firstRequest' | 'windowStart' = 'firstRequest',
): number {
  if (stats.firstRequestAt === undefined || stats.lastRequestAt === undefined) return 0;
  // The simulator's windows are aligned to the wall clock: from the start of the first request's window, a crawl
  // that began late in a window is not credited with that window's whole budget in its last seconds.
  const windowMs = (stats.windowSeconds * 1000) / stats.timeScale;
  const start =
    from === 'firstRequest' ? stats.firstRequestAt : stats.firstRequestAt - (stats.firstRequestAt % windowMs);
  const seconds = (stats.lastRequestAt - start) / 1000;
  return seconds > 0 ? stats.unitsSpent / (seconds * stats.unitsPerRealSecond) : 0;
}
