import type { WindowAnchor } from './resource-unit-window';
import { ResourceUnitWindow } from './resource-unit-window';
import { TokenBucket } from './token-bucket';

/** Throttle state and exact counters of one app in one tenant. */
export interface PairThrottle {
  /** The per-app minute budget's window (replaced when the tenant's window anchor changes). */
  window: ResourceUnitWindow;
  windowAnchor: WindowAnchor;
  /** The per-app 24-hour budget's window (`ThrottleRules.dailyBudget`). */
  readonly daily: ResourceUnitWindow;
  readonly directory: TokenBucket;
  /**
   * The latest `Retry-After` the app has been told (written to its connection): until when (monotonic real ms),
   * how long it was and when it was written. Only a told hold makes a request a violation.
   */
  toldUntil: number;
  toldMs: number;
  toldAt: number;
  /** Requests (method, path and query) answered with a told `Retry-After`, oldest first, and until when. */
  readonly throttledKeys: Map<string, number>;
  unitsSpent: number;
  /** Units charged for refused requests (`ThrottleRules.chargeThrottled`), also in `unitsSpent`. */
  unitsOnThrottled: number;
  /** Units charged per real second from `seriesStartAt` (wall-clock ms): all, and those of refused requests. */
  seriesStartAt?: number;
  readonly unitsBySecond: number[];
  readonly throttledUnitsBySecond: number[];
  /** `ThrottleRules.sameAppOtherShare`: when the other workload was last charged (monotonic ms), and its fraction. */
  otherWorkloadAt?: number;
  otherWorkloadCarry: number;
  /**
   * After this caller's last request: the end of its window (monotonic ms) and the units the window had left, which
   * the other workload went on spending if the window ended before this caller came back.
   */
  otherWorkloadWindowEnd?: number;
  otherWorkloadRoom: number;
  /** Units the other workload got (what it wanted, as far as the window had room). */
  otherWorkloadUnits: number;
  requests: number;
  throttled: number;
  violations: number;
  /** Wall-clock ms of the first and last charged request. */
  firstRequestAt?: number;
  lastRequestAt?: number;
}

/** Counts units charged to the pair at `wallNow` (refused: charged for a throttled request) in its series. */
export function chargeUnits(pair: PairThrottle, wallNow: number, units: number, refused: boolean): void {
  pair.unitsSpent += units;
  if (refused) pair.unitsOnThrottled += units;
  pair.seriesStartAt ??= wallNow;
  const second = Math.max(0, Math.floor((wallNow - pair.seriesStartAt) / 1000));
  for (const series of refused ? [pair.unitsBySecond, pair.throttledUnitsBySecond] : [pair.unitsBySecond]) {
    while (series.length <= second) series.push(0);
    series[second] = (series[second] ?? 0) + units;
  }
}

/**
 * Every (app, tenant) pair's throttle state, made on first use. Counters are kept here rather than derived from
 * the request log, so statistics stay O(1) and exact however much of the log has been dropped.
 */
export class ThrottleLedger {
  private readonly pairs = new Map<string, PairThrottle>();

  /** The pair's state, created on first use. */
  pair(tenantId: string, clientId: string): PairThrottle {
    const key = `${tenantId}|${clientId}`;
    let pair = this.pairs.get(key);
    if (!pair) {
      pair = {
        window: new ResourceUnitWindow(),
        windowAnchor: 'firstRequest',
        daily: new ResourceUnitWindow(),
        directory: new TokenBucket(),
        toldUntil: 0,
        toldMs: 0,
        toldAt: 0,
        throttledKeys: new Map(),
        unitsSpent: 0,
        unitsOnThrottled: 0,
        unitsBySecond: [],
        throttledUnitsBySecond: [],
        otherWorkloadCarry: 0,
        otherWorkloadRoom: 0,
        otherWorkloadUnits: 0,
        requests: 0,
        throttled: 0,
        violations: 0,
      };
      this.pairs.set(key, pair);
    }
    return pair;
  }

  /** The pair's state if it has made any request. */
  peek(tenantId: string, clientId: string): PairThrottle | undefined {
    return this.pairs.get(`${tenantId}|${clientId}`);
  }

  /** Restarts the windows and buckets of every app in the tenant (its budget, window or scale changed). */
  resetTenant(tenantId: string): void {
    const prefix = `${tenantId}|`;
    for (const [key, pair] of this.pairs) {
      if (!key.startsWith(prefix)) continue;
      pair.window.reset();
      pair.daily.reset();
      pair.directory.reset();
    }
  }
}
