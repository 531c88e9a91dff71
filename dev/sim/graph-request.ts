import { randomUUID } from 'node:crypto';
import type { AccessTokenClaims } from './access-token';
import type { CloudState } from './cloud-state';
import type { ConnectionInfo } from './connection-tracker';
import type { GraphAnswer } from './graph-plan';
import { graphError } from './graph-plan';
import { planGraphCall } from './graph-resources';
import { formatSeconds } from './http-kit';
import type { SeededTenant } from './seeded-tenant';
import type { PairThrottle } from './throttle-ledger';
import { chargeUnits } from './throttle-ledger';
import { ResourceUnitWindow } from './resource-unit-window';

/**
 * Added to every budget `Retry-After` and allowed as slack when judging violations, so a client whose timer fires a
 * millisecond early is neither a violator nor refused again at the window's edge.
 */
export const HOLD_MARGIN_MS = 2;
/**
 * Other requests handled this soon after a `Retry-After` was written are taken to have been in flight when it
 * left: the client could not have held them back, so they are not violations. This holds on the connection that
 * carried the 429 too: an HTTP client frees that socket as soon as the answer's last byte is in, and a request the
 * application had already handed to it (before its code could read the 429) may go out on it next. 100 ms covers
 * the time a client on a busy two-core machine needs to read the 429 (20 ms was exceeded under a loaded CI run).
 */
export const IN_FLIGHT_GRACE_MS = 100;
/** Throttled resources remembered per pair for judging early retries (older ones are dropped first). */
const MAX_THROTTLED_KEYS = 10_000;
/** `RateLimit-*` headers appear once this share of the window's budget is used. */
const RATE_LIMIT_HEADER_SHARE = 0.8;
/** Directory buckets refill over 10 simulated seconds. */
const DIRECTORY_PERIOD_SECONDS = 10;
/** Default delay of an injected slow answer when the fault does not say. */
const DEFAULT_SLOW_MS = 1000;

/** One Graph request, top level or inside `$batch`. */
export interface GraphCall {
  method: string;
  /** Path after `/v1.0` (percent-encoded), starting with `/`. */
  path: string;
  query: URLSearchParams;
  /** Path and query as received, for the log. */
  loggedUrl: string;
  header(name: string): string | undefined;
  userAgent: string | undefined;
  /** The connection the request came on. */
  connection: ConnectionInfo;
  inBatch: boolean;
}

/** A Graph answer plus what the transport must do with it. */
export interface GraphOutcome extends GraphAnswer {
  /** Destroy the connection instead of answering. */
  reset: boolean;
  /** Extra real ms before answering (injected slowness). */
  slowMs: number;
  /** Graph's `request-id` of this answer. */
  requestId: string;
  /** Holds this answer gives the app (`Retry-After` of a 429 or 503): call `tellHolds` once it is written. */
  holds: PendingHold[];
}

/** A `Retry-After` decided for a pair, in force for violations once it has been written to the client. */
export interface PendingHold {
  pair: PairThrottle;
  until: number;
  ms: number;
  /** The throttled request (method, path and query): asking for it again before `until` is always a violation. */
  key: string;
}

/** Marks the holds as told: from now on, calling before they end is a violation. */
export function tellHolds(holds: readonly PendingHold[], now: number): void {
  for (const hold of holds) {
    const retries = hold.pair.throttledKeys;
    retries.delete(hold.key);
    retries.set(hold.key, hold.until);
    if (retries.size > MAX_THROTTLED_KEYS) {
      for (const [key, until] of retries) {
        if (retries.size <= MAX_THROTTLED_KEYS && until > now) break;
        retries.delete(key);
      }
    }
    if (hold.until < hold.pair.toldUntil) continue;
    hold.pair.toldUntil = hold.until;
    hold.pair.toldMs = hold.ms;
    hold.pair.toldAt = now;
  }
}

function tooManyRequests(
  ids: { requestId: string; clientRequestId: string | undefined },
  ms: number,
  message: string,
): GraphAnswer {
  const answer = graphError(ids, 429, 'TooManyRequests', message);
  answer.headers['Retry-After'] = formatSeconds(ms);
  return answer;
}

/**
 * Whether a request ignores a `Retry-After` the app has already been given. Asking again for the very request that
 * was throttled before its `Retry-After` ends certainly is (a client retries only once it has read the answer).
 * Any other request is one once the grace has passed, unless it is the first on a connection opened before the
 * 429 was told (it may have been on its way already).
 */
function isViolation(
  pair: PairThrottle,
  now: number,
  connection: ConnectionInfo,
  key: string,
  stalledMs: (from: number) => number,
): boolean {
  const retryUntil = pair.throttledKeys.get(key);
  if (retryUntil !== undefined && now < retryUntil - HOLD_MARGIN_MS) return true;
  if (now >= pair.toldUntil - HOLD_MARGIN_MS) return false;
  if (connection.requests === 1 && connection.openedAt < pair.toldAt) return false;
  // The simulator's own stalls since the answer was told are added: a request may have waited in its socket then.
  return now >= pair.toldAt + IN_FLIGHT_GRACE_MS + stalledMs(pair.toldAt);
}

/** What makes two requests the same request: method, path and query. */
function requestKey(call: Pick<GraphCall, 'method' | 'path' | 'query'>): string {
  return `${call.method} ${call.path}?${call.query.toString()}`;
}

/**
 * `ThrottleRules.sameAppOtherShare`: charges the minute window with what the app's other workload has spent since
 * the pair's last drive request. The other workload spends evenly whether or not this caller calls; it is charged
 * when this caller comes, and only the current window is charged (the windows before have reset). What it spent in
 * those windows after this caller's last request is counted in `otherWorkloadUnits` all the same: to the end of
 * that request's window, as much as the window had left after it (nothing else spent it), and its whole share of
 * any window in which this caller sent nothing.
 */
function spendOtherWorkload(
  pair: PairThrottle,
  minute: { window: ResourceUnitWindow; budget: number; windowMs: number },
  now: number,
  wallNow: number,
  share: number,
): void {
  const { resetMs } = minute.window.usage(now, minute.windowMs, wallNow);
  const windowStart = now + resetMs - minute.windowMs;
  const last = pair.otherWorkloadAt ?? windowStart;
  const perMs = (share * minute.budget) / minute.windowMs;
  const lastEnd = pair.otherWorkloadWindowEnd;
  if (lastEnd !== undefined && lastEnd <= windowStart) {
    const tail = Math.min(
      pair.otherWorkloadCarry + perMs * Math.max(0, lastEnd - last),
      pair.otherWorkloadRoom,
    );
    pair.otherWorkloadUnits += Math.floor(tail + perMs * (windowStart - lastEnd));
  }
  if (last < windowStart) pair.otherWorkloadCarry = 0;
  pair.otherWorkloadCarry += perMs * (now - Math.max(last, windowStart));
  pair.otherWorkloadAt = now;
  const whole = Math.floor(pair.otherWorkloadCarry);
  if (whole <= 0) return;
  pair.otherWorkloadCarry -= whole;
  // Like any caller, the other workload gets no more than what is left of the window (it is refused the rest).
  const left = Math.max(0, minute.budget - minute.window.usage(now, minute.windowMs, wallNow).used);
  const units = Math.min(whole, left);
  if (units <= 0) return;
  minute.window.spend(now, units, minute.budget, minute.windowMs, { wallNow });
  pair.otherWorkloadUnits += units;
}

/** Charges the planned units to the pair's drive window or directory bucket and answers. */
function chargeAndRun(
  state: CloudState,
  tenant: SeededTenant,
  pair: PairThrottle,
  holds: PendingHold[],
  input: Parameters<typeof planGraphCall>[0],
  now: number,
): { answer: GraphAnswer; units: number } {
  const plan = planGraphCall(input);
  if (plan.kind === 'answer') return { answer: plan.answer, units: 0 };
  const scale = tenant.throttle.timeScale;
  if (plan.bucket === 'directory') {
    const taken = pair.directory.take(
      now,
      plan.units,
      tenant.directoryBudget(),
      (DIRECTORY_PERIOD_SECONDS * 1000) / scale,
    );
    if (!taken.granted) {
      const ms = Math.ceil(taken.retryAfterMs) + HOLD_MARGIN_MS;
      holds.push({ pair, until: now + ms, ms, key: requestKey(input) });
      return {
        answer: tooManyRequests(
          input,
          ms,
          'Too many directory requests. Retry after the time in Retry-After.',
        ),
        units: 0,
      };
    }
    return { answer: plan.run(), units: plan.units };
  }

  const budget = tenant.driveBudget();
  const rules = tenant.throttleRules;
  const anchor = rules.windowAnchor ?? 'firstRequest';
  if (pair.windowAnchor !== anchor) {
    pair.window = new ResourceUnitWindow(anchor);
    pair.windowAnchor = anchor;
  }
  const wallNow = state.wall();
  const charge = { wallNow, chargeRefused: rules.chargeThrottled === true };
  // The budgets a drive request spends: the per-app 24 hours and the tenant's 5 minutes over all apps (when those
  // rules are on; past either, Graph sends `Retry-After` only), then the per-app minute window.
  const budgets: Array<{ window: ResourceUnitWindow; budget: number; windowMs: number; headers: boolean }> =
    [];
  const daily = tenant.dailyBudget();
  if (daily !== undefined)
    budgets.push({ window: pair.daily, budget: daily, windowMs: 86_400_000 / scale, headers: false });
  const tenantWide = tenant.tenantBudget();
  if (tenantWide !== undefined) {
    // Other apps of the tenant spend their share of the same budget.
    const left = Math.floor(tenantWide * (1 - (rules.otherAppsShare ?? 0)));
    budgets.push({ window: tenant.tenantWindow, budget: left, windowMs: 300_000 / scale, headers: false });
  }
  const minute = {
    window: pair.window,
    budget,
    windowMs: (tenant.throttle.windowSeconds * 1000) / scale,
    headers: true,
  };
  budgets.push(minute);
  if (rules.sameAppOtherShare && anchor !== 'sliding') {
    spendOtherWorkload(pair, minute, now, wallNow, rules.sameAppOtherShare);
  }

  const refusedBy = budgets.find(
    (entry) => entry.window.usage(now, entry.windowMs, wallNow).used + plan.units > entry.budget,
  );
  let answer: GraphAnswer;
  let units = 0;
  if (!refusedBy || rules.chargeThrottled) {
    for (const entry of budgets) entry.window.spend(now, plan.units, entry.budget, entry.windowMs, charge);
  }
  if (!refusedBy) {
    units = plan.units;
    chargeUnits(pair, wallNow, units, false);
    pair.firstRequestAt ??= wallNow;
    pair.lastRequestAt = wallNow;
    answer = plan.run();
  } else {
    if (rules.chargeThrottled) chargeUnits(pair, wallNow, plan.units, true);
    const waitMs = refusedBy.window.usage(now, refusedBy.windowMs, wallNow).resetMs;
    // Graph's `Retry-After` may be shorter than the window's reset; whole seconds when the rule says so.
    let ms = Math.ceil(waitMs * (refusedBy === minute ? (rules.retryAfterShare ?? 1) : 1)) + HOLD_MARGIN_MS;
    if (rules.wholeSeconds) ms = Math.max(1, Math.ceil(ms / 1000)) * 1000;
    holds.push({ pair, until: now + ms, ms, key: requestKey(input) });
    answer = tooManyRequests(
      input,
      ms,
      refusedBy === minute
        ? 'The resource-unit budget of this application in this tenant is used up for now. Retry after the time in Retry-After.'
        : 'The request has been throttled. Retry after the time in Retry-After.',
    );
  }
  const usage = minute.window.usage(now, minute.windowMs, wallNow);
  if (rules.sameAppOtherShare) {
    pair.otherWorkloadWindowEnd = now + usage.resetMs;
    pair.otherWorkloadRoom = Math.max(0, budget - usage.used);
  }
  const headersDropped =
    rules.rateLimitHeadersMissing !== undefined && state.draw(rules.rateLimitHeadersMissing);
  if (
    (!refusedBy || refusedBy === minute) &&
    usage.used >= RATE_LIMIT_HEADER_SHARE * budget &&
    !headersDropped
  ) {
    answer.headers['RateLimit-Limit'] = String(budget);
    answer.headers['RateLimit-Remaining'] = String(Math.max(0, budget - usage.used));
    answer.headers['RateLimit-Reset'] = rules.wholeSeconds
      ? String(Math.max(1, Math.ceil(usage.resetMs / 1000)))
      : formatSeconds(usage.resetMs);
  }
  return { answer, units };
}

/**
 * Answers one Graph request for the app and tenant of a valid token, in this order: a call before a `Retry-After`
 * the app was given has passed is a violation (counted, answered with a fresh 429, the hold restarts); then injected
 * faults (reset, 429, 503, 500, slowness); then the resource's own checks; then the budget charge; then the
 * resource. Every call is logged and counted in the pair's exact counters.
 */
export function answerGraphCall(state: CloudState, claims: AccessTokenClaims, call: GraphCall): GraphOutcome {
  const ids = { requestId: randomUUID(), clientRequestId: call.header('client-request-id') };
  const tenant = state.tenant(claims.tid);
  let answer: GraphAnswer;
  let units = 0;
  let violation = false;
  let reset = false;
  let slowMs = 0;
  const holds: PendingHold[] = [];

  if (!tenant) {
    answer = graphError(
      ids,
      401,
      'InvalidAuthenticationToken',
      'Access token validation failure. Unknown tenant.',
    );
  } else {
    const pair = state.ledger.pair(tenant.tenantId, claims.appid);
    pair.requests++;
    const now = state.clock();
    const scale = tenant.throttle.timeScale;
    const key = requestKey(call);
    if (isViolation(pair, now, call.connection, key, (from) => state.loopLag.stalledBetween(from, now))) {
      violation = true;
      pair.violations++;
      const ms = pair.toldMs;
      holds.push({ pair, until: now + ms, ms, key });
      answer = tooManyRequests(
        ids,
        ms,
        'The request arrived before the Retry-After of an earlier answer had passed; the wait starts again.',
      );
    } else {
      const faults = state.faultsFor(tenant.tenantId).graph;
      const faultRetryMs = Math.ceil(((faults.retryAfterSeconds ?? 2) * 1000) / scale);
      if (state.draw(faults.reset)) {
        reset = true;
        answer = { status: 0, headers: {}, body: undefined };
      } else if (state.draw(faults.status429)) {
        holds.push({ pair, until: now + faultRetryMs, ms: faultRetryMs, key });
        answer = tooManyRequests(ids, faultRetryMs, 'Too many requests (injected).');
      } else if (state.draw(faults.status503)) {
        holds.push({ pair, until: now + faultRetryMs, ms: faultRetryMs, key });
        answer = graphError(
          ids,
          503,
          'serviceNotAvailable',
          'Service unavailable (injected). Retry after the time in Retry-After.',
        );
        answer.headers['Retry-After'] = formatSeconds(faultRetryMs);
      } else if (state.draw(faults.status500)) {
        answer = graphError(ids, 500, 'generalException', 'An unspecified error has occurred (injected).');
      } else {
        const input = {
          state,
          tenant,
          roles: claims.roles ?? [],
          method: call.method,
          path: call.path,
          query: call.query,
          consistencyLevel: call.header('consistencylevel'),
          header: (name: string) => call.header(name),
          ...ids,
        };
        ({ answer, units } = chargeAndRun(state, tenant, pair, holds, input, now));
      }
      if (state.draw(faults.slow)) slowMs = faults.slowMs ?? DEFAULT_SLOW_MS;
    }
    if (answer.status === 429 || answer.status === 503) pair.throttled++;
  }

  const consistencyLevel = call.header('consistencylevel');
  state.log.add({
    at: state.wall(),
    service: 'graph',
    tenantId: claims.tid,
    clientId: claims.appid,
    method: call.method,
    url: call.loggedUrl,
    status: answer.status,
    inBatch: call.inBatch,
    units,
    ...(call.userAgent === undefined ? {} : { userAgent: call.userAgent }),
    authorized: true,
    violation,
    ...(consistencyLevel === undefined ? {} : { consistencyLevel }),
  });
  return { ...answer, reset, slowMs, requestId: ids.requestId, holds };
}
