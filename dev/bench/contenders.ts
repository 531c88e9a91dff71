/**
 * The figures every contender of a scenario reports (the product and its peers alike), all from the simulator's own
 * counters for that contender's tenant: what Graph charged, what it refused, and the violations it counted.
 */
import type { ThrottleStats } from '../sim/types';

export type ContenderName = 'product' | 'sdkPool' | 'fixedRate' | 'sequential';

export interface ContenderFigures {
  /**
   * The crawl's duration over the ideal one: the units of the answered requests (what the work cost, without the
   * units charged for throttled ones) at the budget the tenant offered. 1 is ideal; units charged for throttled
   * requests are waste, so they lengthen the duration and are left out of the ideal.
   */
  timeOverIdeal: number;
  /** Units charged (throttled ones included) over the units the budget offered from run start to finish. */
  budgetUtilisation: number;
  /** Throttled answers (429 and 503) over requests, as the simulator counted them. */
  throttledShare: number;
  /** Units Graph charged for throttled requests. */
  unitsOnThrottled: number;
  /** Calls before a `Retry-After` had passed; null where nothing was throttled (there was nothing to violate). */
  violations: number | null;
  /** Run start to finish, real seconds (extrapolated to the whole tenant for a crawl stopped at its deadline). */
  wallSeconds: number;
  unitsSpent: number;
  requests: number;
  throttled: number;
  /** Units the budget offered over the run (the tier's rate times the duration, less what others spent). */
  budgetUnits: number;
  /** A crawl stopped at a deadline: the share of the tenant's users it did, which scaled its duration and counters. */
  extrapolatedFrom?: { usersDone: number; usersTotal: number; wallSeconds: number };
}

export interface ContenderRun {
  stats: ThrottleStats;
  /** Real ms since the epoch. */
  startedAt: number;
  finishedAt: number;
  /** Units the budget offered over the run, if not the tier's rate times its duration (adversity). */
  budgetUnits?: number;
  /** Only part of the tenant was crawled (a deadline): scale the duration and counters up to all of it. */
  partial?: { usersDone: number; usersTotal: number };
}

function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? numerator / denominator : 0;
}

export function contenderFigures(run: ContenderRun): ContenderFigures {
  const { stats } = run;
  const seconds = Math.max(0, run.finishedAt - run.startedAt) / 1000;
  const budgetUnits = run.budgetUnits ?? seconds * stats.unitsPerRealSecond;
  const useful = stats.unitsSpent - stats.unitsOnThrottled;
  const scale = run.partial ? ratio(run.partial.usersTotal, run.partial.usersDone) : 1;
  return {
    timeOverIdeal: ratio(budgetUnits, useful),
    budgetUtilisation: ratio(stats.unitsSpent, budgetUnits),
    throttledShare: ratio(stats.throttled, stats.requests),
    unitsOnThrottled: Math.round(stats.unitsOnThrottled * scale),
    violations: stats.throttled > 0 ? stats.violations : null,
    wallSeconds: seconds * scale,
    unitsSpent: Math.round(stats.unitsSpent * scale),
    requests: Math.round(stats.requests * scale),
    throttled: Math.round(stats.throttled * scale),
    budgetUnits: budgetUnits * scale,
    ...(run.partial ? { extrapolatedFrom: { ...run.partial, wallSeconds: seconds } } : {}),
  };
}

/** The peer with the lowest time over ideal, if any peer ran. */
export function bestPeer(
  contenders: Partial<Record<ContenderName, ContenderFigures>>,
): { name: ContenderName; figures: ContenderFigures } | undefined {
  let best: { name: ContenderName; figures: ContenderFigures } | undefined;
  for (const [name, figures] of Object.entries(contenders) as Array<[ContenderName, ContenderFigures]>) {
    if (name === 'product') continue;
    if (!best || figures.timeOverIdeal < best.figures.timeOverIdeal) best = { name, figures };
  }
  return best;
}
