import { randomUUID } from 'node:crypto';
import type { PacerClock } from './pacer-clock';
import { abortReason, systemClock } from './pacer-clock';
import type { SharedPacerState } from './shared-pacer-state';
import { TenantHold } from './tenant-hold';

/** OneDrive/SharePoint budget per app per tenant by licensed users (docs/graph-facts.md): [up to this many, units/min]. */
const TIERS: ReadonlyArray<readonly [number, number]> = [
  [1_000, 1_250],
  [5_000, 2_500],
  [15_000, 3_750],
  [50_000, 5_000],
];
const TOP_TIER = 6_250;

/**
 * The resource units per minute Microsoft grants an app in a tenant with this many licensed users. A count on a
 * boundary (1,000, 5,000, ...) gets the lower tier, and anything that is not a count gets the lowest: a start
 * that is too low only costs the pacer a moment of probing, one that is too high costs 429s.
 */
export function tierForLicensedUsers(licensedUsers: number): number {
  for (const [upTo, unitsPerMinute] of TIERS) if (!(licensedUsers > upTo)) return unitsPerMinute;
  return TOP_TIER;
}

/** A Graph answer as the pacer needs it: status 0 for a request that got no answer (reset, timeout). */
export interface PacerOutcome {
  status: number;
  headers: { get(name: string): string | null };
}

export interface TenantPacerOptions {
  tenantId: string;
  /**
   * Where the whole tenant's budget starts (all instances together), usually `tierForLicensedUsers(n)` or a
   * per-tenant setting. Only a start: the real budget and window are learned from Graph's answers.
   */
  unitsPerMinute: number;
  /** Time and sleep; the system clock by default. */
  clock?: PacerClock;
  /** Shares holds and the budget with the tenant's pacers on other instances. */
  shared?: SharedPacerState;
  /** This instance's name in `shared`; defaults to a random one. */
  instanceId?: string;
  /** Fraction of the learned budget to spend (default 0.95): the rest absorbs timing noise. */
  safety?: number;
  /** How often at most the shared hold is read (default 250 ms); the share is renewed every 4 of those. */
  sharedRefreshMs?: number;
  /** The tenant's hold in this process, shared with the tenant's other pacers and its HTTP handler. */
  hold?: TenantHold;
}

/** Progress figures for logs, benchmarks and tests. */
export interface PacerStats {
  /** Units granted by `acquire` so far. */
  unitsAcquired: number;
  /** Answers 429 or 503 passed to `settle`. */
  throttled: number;
  /** Holds started (by this instance's answers, or read from the shared state). */
  holds: number;
  /** The rate this instance paces at now: its share of the tenant's learned rate. */
  rateUnitsPerSecond: number;
  /** Requests granted and not settled yet. */
  inFlight: number;
  /** Instances sharing the tenant's budget, this one included (1 without shared state). */
  share: number;
  /** The budget window learned from `RateLimit-Reset`, when learned. */
  windowMs: number | undefined;
  /** The budget per window from `RateLimit-Limit`, when seen. */
  limit: number | undefined;
  /** Shared-state reads and writes that failed (the pacer then goes on with what it knows). */
  sharedErrors: number;
}

interface Waiter {
  units: number;
  resolve: () => void;
  reject: (reason: Error) => void;
  signal: AbortSignal | undefined;
}

/**
 * What the latest `RateLimit-*` answer allows: `units` more until `until`. A `probe` allowance follows a
 * nearly spent one whose time ran out: one request's worth until the next answer tells how things stand.
 */
interface Allowance {
  units: number;
  until: number;
  /** `RateLimit-Remaining / RateLimit-Limit` when it was given: little headroom stops probing upward. */
  headroom: number;
  /** For a probe, the units it allowed (it doubles each time no answer comes in time); 0 otherwise. */
  probe: number;
}

interface RateLimitInfo {
  limit: number | undefined;
  remaining: number | undefined;
  resetMs: number | undefined;
  /** `RateLimit-Reset` without a fraction (see `#resetTolerance`). */
  coarseReset: boolean;
  /** A window stated by the server (`w=` of the IETF draft's `RateLimit-Limit: 1250, 1250;w=60`). */
  windowMs: number | undefined;
}

/** Latency assumed before the first answer is measured. */
const DEFAULT_LATENCY_MS = 200;
/**
 * Slow start doubles the rate every this many latencies. That bounds the overshoot: when the server's warning
 * comes (at 80% of the budget), what is already on its way is about ln 2 / 8 of 80%, some 7% of the budget.
 */
const SLOW_START_LATENCIES = 8;
/** Latency samples kept; the pacer uses the shortest (the network, not callers' own delays). */
const LATENCY_SAMPLES = 64;
/** Why the pacer cancels its own sleeps (a constant: no error is made and thrown away each time). */
const DONE = Symbol('done');
/** Microtask turns a granted caller gets to ask again before anyone else is granted. */
const CONTINUATION_TICKS = 3;
/** A sanity bound on any rate, units per second. */
const MAX_RATE = 1e7;
/** After slow start, probing upward adds this fraction of the rate per probe period. */
const PROBE_GAIN = 0.1;
/** The probe period without a learned window, in latencies. */
const PROBE_PERIOD_LATENCIES = 50;
/** No probing upward while the server says less than this share of the budget is left. */
const PROBE_HEADROOM = 0.05;

/** Multiplicative decrease on a budget 429 and on running out of a `RateLimit` allowance. */
const DECREASE_ON_429 = 0.7;
const DECREASE_ON_EXHAUSTION = 0.9;
/**
 * The local bucket holds this much time's worth of the rate, or one `$batch` (Graph's limit of 20 requests, of
 * the largest size asked for), whichever is more: a batch's requests reach the server together however they
 * were paced, so pacing them one by one only delays them.
 */
const BURST_MS = 100;
const BATCH_REQUESTS = 20;
/** Retry-After when a 429/503 gives none: doubles per throttle in a row, up to the cap. */
const DEFAULT_HOLD_MS = 1_000;
const MAX_DEFAULT_HOLD_MS = 30_000;
/** Added to every hold: timer and clock granularity must never make a request early. */
const HOLD_MARGIN_MS = 5;
const HOLD_MARGIN_SHARE = 0.01;
/** A request not settled after this long is taken for lost (its caller failed without settling). */
const LOST_AFTER_MS = 120_000;
/** How long a grant waits at most for a shared-state read before going on with what it knows. */
const SHARED_WAIT_LIMIT_MS = 2_000;
/** A learned window must be this many latencies long: shorter "windows" are noise of other budget shapes. */
const MIN_WINDOW_LATENCIES = 20;

function parseNumber(value: string | null): number | undefined {
  if (value === null) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)/.exec(value);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function parseRetryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const seconds = parseNumber(value);
  if (seconds !== undefined && /^\s*[\d.]+\s*$/.test(value)) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

function readRateLimit(headers: PacerOutcome['headers']): RateLimitInfo {
  const limitHeader = headers.get('RateLimit-Limit');
  const resetHeader = headers.get('RateLimit-Reset');
  const reset = parseNumber(resetHeader);
  const window = limitHeader === null ? undefined : /;\s*w=(\d+(?:\.\d+)?)/.exec(limitHeader)?.[1];
  return {
    limit: parseNumber(limitHeader),
    remaining: parseNumber(headers.get('RateLimit-Remaining')),
    resetMs: reset === undefined ? undefined : reset * 1000,
    coarseReset: resetHeader !== null && !resetHeader.includes('.'),
    windowMs: window === undefined ? undefined : Number(window) * 1000,
  };
}

/**
 * Paces one tenant's Microsoft Graph requests so that they spend the tenant's resource-unit budget as fully as
 * possible without being throttled, and holds all of them after a 429/503.
 *
 * Call `acquire(units)` before each request (each inner request of a `$batch` too) and `settle(units, answer)`
 * once after it, with status 0 when no answer came. Every retry goes through both.
 *
 * How it paces: a token bucket at the learned rate (this instance's share of the tenant's), in FIFO order, except
 * that a caller acquiring again in the tick of its grant (the next inner request of a `$batch`) goes first.
 * - Hold: a 429/503 stops every grant until `max(Retry-After, RateLimit-Reset)` has passed (1 s doubling up to
 *   30 s when neither is given); the hold goes to the shared state and is read back from it (at most every
 *   `sharedRefreshMs`, and before granting after a pause), so it stops the tenant's pacers on every instance.
 * - Allowance: an answer with `RateLimit-Remaining: R` and `RateLimit-Reset: T` means no more than R units (less
 *   what is already in flight, split between instances) in the next T seconds, whatever the rate says. This keeps
 *   it under a budget it does not know yet.
 * - Rate: starts from `unitsPerMinute`, doubles every 8 latencies until the first sign of the budget (slow
 *   start: a time-scaled simulator's minute may last seconds), then probes upward slowly while the server shows
 *   headroom. `RateLimit-Limit` over the learned window (the distance between two windows' reset times) sets it
 *   to the budget, `RateLimit-Limit / RateLimit-Reset` caps it, a budget 429 cuts it by 30% and running out of
 *   an allowance by 10%.
 * - Instances: each heartbeats through the shared state and paces at the tenant's rate divided by their number.
 *
 * There is no cap on requests in flight: callers that acquire all inner requests of a `$batch` before sending it
 * would deadlock against one. Slow start's pace keeps what is in flight when the 80% warning comes near 7% of
 * the budget, and the allowance counts everything granted and not yet answered.
 */
export class TenantPacer {
  readonly tenantId: string;
  readonly #clock: PacerClock;
  readonly #shared: SharedPacerState | undefined;
  readonly #instanceId: string;
  readonly #safety: number;
  readonly #refreshMs: number;
  readonly #minRate: number;

  readonly #queue: Waiter[] = [];
  /** Waiters by signal: one abort listener per signal, however many requests wait with it. */
  readonly #watched = new Map<AbortSignal, { waiters: Set<Waiter>; onAbort: () => void }>();
  #pumping = false;
  #wake: (() => void) | undefined;

  /** The whole tenant's rate, units per second; this instance paces at `#tenantRate / #share`. */
  #tenantRate: number;
  #share = 1;
  #tokens = 0;
  /** The most units one request has asked for (for the bucket's size). */
  #largestUnits = 1;
  #refilledAt: number;
  #slowStart = true;
  /** Since when the queue has waited for tokens only (the rate is what limits us), for probing upward. */
  #backlogSince: number | undefined;
  #decreasedAt = Number.NEGATIVE_INFINITY;
  #exhaustedAt = Number.NEGATIVE_INFINITY;
  #loweredAt = Number.NEGATIVE_INFINITY;

  readonly #holdState: TenantHold;
  #missingRetryAfter = 0;
  #allowance: Allowance | undefined;
  #limit: number | undefined;
  #windowMs: number | undefined;
  #ratedFor: { limit: number; windowMs: number } | undefined;
  /** Longest `RateLimit-Reset` since the budget info was last fresh: a window is at least this long. */
  #longestResetMs = 0;
  #headersAt = Number.NEGATIVE_INFINITY;
  #plainAnswerAt = Number.NEGATIVE_INFINITY;
  /** The server has sent a `RateLimit-Reset` with a fraction: its whole numbers are exact too. */
  #fractionalResets = false;
  /** Reset times that agree (one window's); the next window's give the window length. */
  #resetCluster: { at: number; count: number; longestResetMs: number; lastAt: number } | undefined;
  #windowCandidate: number | undefined;
  /**
   * The first window's length as this pacer saw it: from its first grant to the reset its first `RateLimit`
   * answer named, taken only when the server had counted no more than this pacer sent (the window began with
   * us). Paces until the window is learned from two boundaries, instead of bursting to each reset.
   */
  #windowGuessMs: number | undefined;
  #firstGrantAt: number | undefined;

  /** Grant times of unsettled requests, oldest first (answers come back roughly in order). */
  readonly #grants: Array<{ at: number; units: number }> = [];
  #inFlightUnits = 0;
  #latencyMs = DEFAULT_LATENCY_MS;
  readonly #latencySamples: number[] = [];
  /** True for a few microtasks after each grant: an `acquire` then comes from the caller just granted. */
  #continuing = false;

  /** When the last shared read started, and when the last one ended (the view is as fresh as that). */
  #sharedAt = Number.NEGATIVE_INFINITY;
  #sharedFreshAt = Number.NEGATIVE_INFINITY;
  #sharedWaited = false;
  #lastGrantAt = Number.NEGATIVE_INFINITY;
  #heartbeatAt = Number.NEGATIVE_INFINITY;
  #sharedRead: Promise<void> | undefined;
  #holdToShare = 0;
  #holdWrite: Promise<void> | undefined;

  #unitsAcquired = 0;
  #throttled = 0;
  #holds = 0;
  #sharedErrors = 0;

  constructor(options: TenantPacerOptions) {
    if (!(options.unitsPerMinute > 0)) throw new RangeError('unitsPerMinute must be positive');
    const safety = options.safety ?? 0.95;
    if (!(safety > 0 && safety <= 1)) throw new RangeError('safety must be in (0, 1]');
    this.tenantId = options.tenantId;
    this.#clock = options.clock ?? systemClock;
    this.#shared = options.shared;
    this.#instanceId = options.instanceId ?? randomUUID();
    this.#safety = safety;
    this.#refreshMs = options.sharedRefreshMs ?? 250;
    this.#tenantRate = (options.unitsPerMinute / 60) * safety;
    this.#minRate = this.#tenantRate / 100;
    this.#refilledAt = this.#clock.now();
    this.#tokens = this.#capacity();
    this.#holdState = options.hold ?? new TenantHold();
    // Another pacer of the tenant (or this one) held it: a pump asleep on the rate re-reads the hold.
    this.#holdState.onChange(() => this.#poke());
  }

  /** The hold answers declared (what `settle` extends and judges echoes by). */
  get #hold(): number {
    return this.#holdState.declared();
  }

  /**
   * Resolves when a request of `units` may be sent: no hold is active (here or, as last read, on another
   * instance), the rate and the latest `RateLimit` allowance have room. Waiters are served in order. Rejects
   * with the signal's reason as soon as `signal` aborts.
   */
  acquire(units: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!(units >= 0) || !Number.isFinite(units)) return Promise.reject(new RangeError('units must be >= 0'));
    if (units > this.#largestUnits) {
      // A bigger bucket, as full as it was.
      this.#refill(this.#clock.now());
      const before = this.#capacity();
      this.#largestUnits = units;
      this.#tokens += this.#capacity() - before;
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { units, resolve, reject, signal };
      if (signal) this.#watch(signal, waiter);
      // A caller asking again right after its grant is acquiring several requests in a row (the inner requests
      // of a `$batch`): it goes first, so that its requests leave together instead of waiting for every other
      // caller's.
      if (this.#continuing) this.#queue.unshift(waiter);
      else this.#queue.push(waiter);
      if (this.#pumping) this.#poke();
      else {
        this.#pumping = true;
        void this.#pump();
      }
    });
  }

  /**
   * Reports the answer to a request `acquire` granted (once per request; status 0 when none came). Learns from
   * its `RateLimit-*` headers; on 429/503 holds every request of the tenant, on every instance, until
   * `max(Retry-After, RateLimit-Reset)` has passed.
   */
  settle(units: number, outcome: PacerOutcome): void {
    const now = this.#clock.now();
    this.#release(units, now, outcome.status !== 0);
    const info = readRateLimit(outcome.headers);
    const throttled = outcome.status === 429 || outcome.status === 503;
    if (info.limit !== undefined || info.remaining !== undefined) this.#learn(info, now);
    else if (outcome.status !== 0 && !throttled) {
      // Answered without `RateLimit-*`: the budget is below 80% (for this answer at least).
      this.#plainAnswerAt = now;
      if (this.#allowance?.probe) this.#allowance = undefined;
    }
    if (throttled) {
      this.#throttled += 1;
      // Answers to requests that were on their way when the hold began are echoes of the same event.
      const echo = now < this.#hold;
      let waitMs = Math.max(
        parseRetryAfterMs(outcome.headers.get('Retry-After'), now) ?? -1,
        info.resetMs ?? -1,
      );
      if (waitMs < 0) {
        waitMs = Math.min(DEFAULT_HOLD_MS * 2 ** this.#missingRetryAfter, MAX_DEFAULT_HOLD_MS);
        this.#missingRetryAfter += 1;
      }
      this.#extendHold(now + waitMs * (1 + HOLD_MARGIN_SHARE) + HOLD_MARGIN_MS, now, true);
      // A budget 429 carries `RateLimit-*` (the budget is past 80%), unless this server never sends them; a 503
      // or another 429 is the service's trouble: it holds, but says nothing about the budget.
      const rateLimited = info.remaining !== undefined || info.limit !== undefined;
      if (outcome.status === 429 && !echo && (rateLimited || this.#headersAt === Number.NEGATIVE_INFINITY)) {
        this.#decrease(DECREASE_ON_429, now);
      }
    } else if (outcome.status !== 0) {
      this.#missingRetryAfter = 0;
    }
    this.#poke();
  }

  /** When the current hold ends (ms, the clock's time); in the past or 0 when there is none. */
  holdUntil(): number {
    return this.#holdState.until();
  }

  /** Holds the tenant until the returned function is called (see `TenantHold.pin`). */
  pinHold(): () => void {
    return this.#holdState.pin();
  }

  stats(): PacerStats {
    return {
      unitsAcquired: this.#unitsAcquired,
      throttled: this.#throttled,
      holds: this.#holds,
      rateUnitsPerSecond: this.#localRate(),
      inFlight: this.#grants.length,
      share: this.#share,
      windowMs: this.#windowMs,
      limit: this.#limit,
      sharedErrors: this.#sharedErrors,
    };
  }

  // ---- granting ----

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const head = this.#queue[0];
        if (!head) return;
        const now = this.#clock.now();
        const sharedRead = this.#refreshShared(now);
        const { waitMs, rateBound } = this.#delay(head.units, now);
        this.#trackBacklog(now, waitMs, rateBound);
        if (waitMs > 0) {
          // Wake at least every refresh period so that a long wait keeps reading the shared hold.
          await this.#idle(this.#shared ? Math.min(waitMs, this.#refreshMs) : waitMs);
        } else if (sharedRead && !this.#sharedWaited) {
          // Resuming after an idle time or a long wait: the shared hold is read before anything leaves (once:
          // a storage that hangs must not stall the tenant).
          this.#sharedWaited = true;
          await this.#atMost(sharedRead, SHARED_WAIT_LIMIT_MS);
        } else {
          this.#sharedWaited = false;
          this.#lastGrantAt = now;
          this.#grant(head, now);
          // Let the granted caller run: if it asks again at once, it is next (see `acquire`).
          this.#continuing = true;
          for (let tick = 0; tick < CONTINUATION_TICKS; tick += 1) await Promise.resolve();
          this.#continuing = false;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** How long the head request must still wait, and whether the rate (not a hold or allowance) is why. */
  #delay(units: number, now: number): { waitMs: number; rateBound: boolean } {
    const held = this.#holdState.until();
    if (now < held) return { waitMs: Math.max(1, held - now), rateBound: false };
    let allowance = this.#allowance;
    if (allowance && now >= allowance.until) {
      allowance = this.#lapse(allowance, units, now);
      this.#allowance = allowance;
    }
    if (allowance && allowance.units < units) {
      // Out of what the server allows before its reset: the rate is too high (at most one cut per period).
      // Not if the rate came down lately: the allowance was spent at the old one.
      const period = this.#period();
      if (!allowance.probe && now - this.#exhaustedAt >= period && now - this.#loweredAt >= period) {
        this.#exhaustedAt = now;
        this.#decrease(DECREASE_ON_EXHAUSTION, now);
      }
      return { waitMs: Math.max(1, allowance.until - now), rateBound: false };
    }
    this.#refill(now);
    const needed = Math.min(units, this.#capacity());
    if (this.#tokens + 1e-9 >= needed) return { waitMs: 0, rateBound: false };
    return { waitMs: Math.max(1, ((needed - this.#tokens) / this.#localRate()) * 1000), rateBound: true };
  }

  /**
   * An allowance whose time is up. If plenty was left, the budget is plainly not near: no limit. If little was
   * left, the server was at its limit a moment ago, and the next answer will say how much it freed: until then
   * only one request goes (or what was left, if more): a probe.
   */
  #lapse(allowance: Allowance, units: number, now: number): Allowance | undefined {
    const cushion = this.#localRate() * (this.#latencyMs / 1000) * 2;
    // A learned fixed window has just reset: the whole budget is back.
    if (!allowance.probe && (allowance.units >= cushion || this.#windowMs !== undefined)) return undefined;
    // A probe that got no answer in time (its caller may be gathering a `$batch`): twice as much, and so on.
    const size = allowance.probe ? 2 * allowance.probe : Math.max(allowance.units, units);
    return { units: size, until: now + 2 * this.#latencyMs + 50, headroom: 0, probe: size };
  }

  #grant(waiter: Waiter, now: number): void {
    this.#queue.shift();
    this.#unwatch(waiter);
    this.#tokens -= waiter.units;
    if (this.#allowance) this.#allowance.units -= waiter.units;
    this.#grants.push({ at: now, units: waiter.units });
    this.#inFlightUnits += waiter.units;
    this.#unitsAcquired += waiter.units;
    this.#firstGrantAt ??= now;
    waiter.resolve();
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
        this.#poke();
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

  /** Sleeps up to `ms`; a settle, an abort or a new waiter wakes it sooner. */
  async #idle(ms: number): Promise<void> {
    const stop = new AbortController();
    const woken = new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
    try {
      await Promise.race([this.#clock.sleep(ms, stop.signal).catch(() => undefined), woken]);
    } finally {
      this.#wake = undefined;
      stop.abort(DONE);
    }
  }

  #poke(): void {
    this.#wake?.();
  }

  async #atMost(work: Promise<void>, ms: number): Promise<void> {
    const stop = new AbortController();
    try {
      await Promise.race([work, this.#clock.sleep(ms, stop.signal).catch(() => undefined)]);
    } finally {
      stop.abort(DONE);
    }
  }

  // ---- rate ----

  #localRate(): number {
    return this.#tenantRate / this.#share;
  }

  #capacity(): number {
    return Math.max((this.#localRate() * BURST_MS) / 1000, BATCH_REQUESTS * this.#largestUnits);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#refilledAt = now;
    this.#tokens = Math.min(this.#capacity(), this.#tokens + (elapsed / 1000) * this.#localRate());
  }

  #setTenantRate(rate: number, now: number): void {
    this.#refill(now);
    const next = Math.max(this.#minRate, Math.min(rate, MAX_RATE));
    if (next < this.#tenantRate) this.#loweredAt = now;
    this.#tenantRate = next;
    this.#tokens = Math.min(this.#tokens, this.#capacity());
  }

  /** The highest tenant rate the latest budget info allows: the budget over the window (or a reset time). */
  #ceiling(now: number): number {
    if (this.#limit === undefined || this.#budgetInfoStale(now)) return Number.POSITIVE_INFINITY;
    const windowMs = this.#windowMs ?? this.#windowGuessMs ?? this.#longestResetMs;
    return windowMs > 0 ? (this.#limit / windowMs) * 1000 : Number.POSITIVE_INFINITY;
  }

  /** No `RateLimit` answer for several windows: the budget may have grown since. */
  #budgetInfoStale(now: number): boolean {
    return now - this.#headersAt > 4 * this.#period();
  }

  /** The time scale of the budget: its window once learned, else the longest reset seen or many latencies. */
  #period(): number {
    return (
      this.#windowMs ??
      this.#windowGuessMs ??
      Math.max(this.#longestResetMs, PROBE_PERIOD_LATENCIES * this.#latencyMs)
    );
  }

  /** Counts the time requests queued for tokens alone (the rate limited us), and probes upward for it. */
  #trackBacklog(now: number, waitMs: number, rateBound: boolean): void {
    const since = this.#backlogSince;
    if (rateBound) {
      if (since !== undefined) this.#probeUp(now - since, now);
      this.#backlogSince = now;
    } else if (waitMs <= 0 && since !== undefined) {
      // Granting after a wait for tokens: the backlog goes on while others queue behind this request.
      this.#probeUp(now - since, now);
      this.#backlogSince = this.#queue.length > 1 ? now : undefined;
    } else {
      this.#backlogSince = undefined;
    }
  }

  /**
   * The rate limited us for `elapsedMs`: try a little more, unless the server says the budget is near. (A caller
   * whose demand comes in bursts raises it to the pace of its bursts; the allowance bounds it near the budget.)
   */
  #probeUp(elapsedMs: number, now: number): void {
    if (elapsedMs <= 0 || now < this.#hold) return;
    const allowance = this.#allowance;
    if (allowance && (allowance.probe || allowance.headroom <= PROBE_HEADROOM)) return;
    const period = this.#period();
    const dt = Math.min(elapsedMs, period / 4);
    const grown = this.#slowStart
      ? this.#tenantRate * 2 ** (dt / (SLOW_START_LATENCIES * this.#latencyMs))
      : this.#tenantRate * (1 + (PROBE_GAIN * dt) / period);
    this.#setTenantRate(Math.min(grown, Math.max(this.#tenantRate, this.#safety * this.#ceiling(now))), now);
  }

  #decrease(factor: number, now: number): void {
    this.#slowStart = false;
    // One cut per burst of bad news (the 20 answers of one `$batch` arrive together).
    if (now - this.#decreasedAt < 2 * this.#latencyMs) return;
    this.#decreasedAt = now;
    this.#setTenantRate(this.#tenantRate * factor, now);
  }

  /** Takes in an answer's `RateLimit-*` headers. */
  #learn(info: RateLimitInfo, now: number): void {
    this.#slowStart = false;
    this.#headersAt = now;
    if (info.limit !== undefined && info.limit > 0) this.#limit = info.limit;
    if (info.windowMs !== undefined && info.windowMs > 0) this.#windowMs = info.windowMs;
    if (info.resetMs !== undefined) {
      if (!info.coarseReset) this.#fractionalResets = true;
      this.#longestResetMs = Math.max(this.#longestResetMs, info.resetMs);
      this.#observeReset(now + info.resetMs, info.resetMs, info.coarseReset, now);
      this.#guessWindow(info, now);
    }
    const limit = this.#limit;
    const windowMs = this.#windowMs ?? this.#windowGuessMs;
    if (
      limit !== undefined &&
      windowMs !== undefined &&
      (this.#ratedFor?.limit !== limit || this.#ratedFor.windowMs !== windowMs)
    ) {
      // A newly learned budget and window: go straight to it.
      this.#ratedFor = { limit, windowMs };
      this.#setTenantRate(((this.#safety * limit) / windowMs) * 1000, now);
    } else {
      this.#setTenantRate(Math.min(this.#tenantRate, this.#safety * this.#ceiling(now)), now);
    }
    if (info.remaining !== undefined) this.#allow(info, now);
  }

  /**
   * The first `RateLimit` answer: if what the server counted in this window (`Limit - Remaining`) is about what
   * this pacer has had answered (its share of it), the window began with our first request, and lasts until the
   * reset the answer names.
   */
  #guessWindow(info: RateLimitInfo, now: number): void {
    if (this.#windowGuessMs !== undefined || this.#firstGrantAt === undefined) return;
    if (this.#limit === undefined || info.remaining === undefined || info.resetMs === undefined) return;
    const counted = this.#limit - info.remaining;
    const answered = (this.#unitsAcquired - this.#inFlightUnits) * this.#share;
    const guess = now + info.resetMs - this.#firstGrantAt;
    if (counted > 0 && answered >= 0.9 * counted && answered <= 1.1 * counted) {
      if (guess >= MIN_WINDOW_LATENCIES * this.#latencyMs) this.#windowGuessMs = guess;
    }
  }

  /**
   * Takes in `RateLimit-Remaining`. Answers overtake each other, so an answer may be older than the last one:
   * one that resets earlier than the current allowance is an older view and is ignored; one that resets at the
   * same time (the same window) can only shrink the allowance; one that resets later replaces it.
   */
  #allow(info: RateLimitInfo, now: number): void {
    const remaining = info.remaining ?? 0;
    const next: Allowance = {
      // Requests in flight were mostly sent after this one: the server has not counted them yet.
      units: remaining / this.#share - this.#inFlightUnits,
      until: now + (info.resetMs ?? 2 * this.#latencyMs),
      headroom: this.#limit ? remaining / this.#limit : 0,
      probe: 0,
    };
    const current = this.#allowance;
    if (current && !current.probe && now < current.until) {
      const tolerance = this.#resetTolerance(info.coarseReset);
      if (next.until < current.until - tolerance) return;
      if (next.until <= current.until + tolerance) {
        current.units = Math.min(current.units, next.units);
        current.headroom = Math.min(current.headroom, next.headroom);
        return;
      }
    }
    this.#allowance = next;
  }

  /**
   * How far apart two reset times of one window may be: the answers' own jitter, plus a second if the server
   * rounds to whole seconds (a reset without a fraction from a server that has never sent one).
   */
  #resetTolerance(coarse: boolean): number {
    return Math.max(5, this.#latencyMs / 2) + (coarse && !this.#fractionalResets ? 1_000 : 0);
  }

  /**
   * Learns the window length of a fixed-window budget: answers of one window agree on when it resets; after
   * it resets (answers without headers again), the next window's answers agree on a reset one window later. A
   * length counts once two boundaries in a row agree on it; budgets of other shapes (sliding windows, buckets)
   * do not behave so.
   */
  #observeReset(resetAt: number, resetMs: number, coarse: boolean, now: number): void {
    const tolerance = this.#resetTolerance(coarse);
    const cluster = this.#resetCluster;
    if (cluster && Math.abs(resetAt - cluster.at) <= tolerance) {
      cluster.count += 1;
      cluster.longestResetMs = Math.max(cluster.longestResetMs, resetMs);
      cluster.lastAt = now;
      return;
    }
    // A boundary: the old reset time has come, and the budget did reset (an answer without headers since).
    const reset =
      cluster !== undefined && now >= cluster.at - tolerance && this.#plainAnswerAt > cluster.lastAt;
    if (cluster && reset && cluster.count >= 3 && resetAt > cluster.at) {
      const candidate = resetAt - cluster.at;
      const plausible =
        candidate >= cluster.longestResetMs - tolerance &&
        candidate >= MIN_WINDOW_LATENCIES * this.#latencyMs;
      // Two window boundaries in a row the same distance apart: a fixed window, and this is its length.
      const previous = this.#windowCandidate;
      if (plausible && previous !== undefined && Math.abs(candidate - previous) <= 2 * tolerance) {
        this.#windowMs = candidate;
      }
      this.#windowCandidate = plausible ? candidate : undefined;
    }
    this.#resetCluster = { at: resetAt, count: 1, longestResetMs: resetMs, lastAt: now };
  }

  // ---- holds, in-flight bookkeeping, shared state ----

  #extendHold(until: number, now: number, share: boolean): void {
    if (until <= this.#hold) return;
    if (this.#hold <= now) this.#holds += 1;
    this.#holdState.extend(until);
    if (share && this.#shared) {
      this.#holdToShare = Math.max(this.#holdToShare, until);
      this.#holdWrite ??= this.#writeHold();
    }
  }

  /** Writes the newest hold; holds that come meanwhile are written after it (one write at a time). */
  async #writeHold(): Promise<void> {
    const shared = this.#shared;
    try {
      let written = 0;
      while (shared && this.#holdToShare > written) {
        const until = this.#holdToShare;
        try {
          await shared.extendHold(this.tenantId, until);
        } catch {
          this.#sharedErrors += 1;
        }
        written = until;
      }
    } finally {
      this.#holdWrite = undefined;
    }
  }

  /**
   * Starts a read of the shared hold (and renews this instance's share) when the last one started more than a
   * refresh period ago. Returns the read under way when the view is older than that and nothing was granted for
   * as long (an idle time or a long wait), so that the caller waits for it before granting; while requests flow,
   * reads stay in the background, however slow the storage.
   */
  #refreshShared(now: number): Promise<void> | undefined {
    if (!this.#shared) return undefined;
    if (!this.#sharedRead && now - this.#sharedAt >= this.#refreshMs) {
      this.#sharedAt = now;
      this.#sharedRead = this.#readShared(this.#shared, now).finally(() => {
        this.#sharedRead = undefined;
        this.#sharedFreshAt = this.#clock.now();
      });
    }
    const stale = now - this.#sharedFreshAt >= this.#refreshMs;
    const resuming = now - this.#lastGrantAt >= this.#refreshMs;
    return stale && resuming ? this.#sharedRead : undefined;
  }

  async #readShared(shared: SharedPacerState, now: number): Promise<void> {
    const heartbeat = now - this.#heartbeatAt >= 4 * this.#refreshMs;
    try {
      const [hold, share] = await Promise.all([
        shared.readHold(this.tenantId),
        heartbeat ? shared.heartbeat(this.tenantId, this.#instanceId, 12 * this.#refreshMs) : undefined,
      ]);
      const after = this.#clock.now();
      this.#extendHold(hold, after, false);
      if (share !== undefined) {
        this.#heartbeatAt = now;
        this.#refill(after);
        this.#share = Math.max(1, share);
        this.#tokens = Math.min(this.#tokens, this.#capacity());
      }
    } catch {
      this.#sharedErrors += 1;
    }
  }

  /**
   * Frees a settled request's units and measures latency. Answers are matched to grants oldest first; a
   * request that waited in its caller (the first inner requests of a `$batch` wait for the last) measures long,
   * while the last one granted measures the round trip, so the latency is the shortest recent sample. Answers
   * without a status (failed connections) say nothing about latency.
   */
  #release(units: number, now: number, answered: boolean): void {
    while (this.#grants.length > 0 && now - (this.#grants[0]?.at ?? now) > LOST_AFTER_MS) {
      this.#inFlightUnits -= this.#grants.shift()?.units ?? 0;
    }
    const grant = this.#grants.shift();
    this.#inFlightUnits = Math.max(0, this.#inFlightUnits - units);
    if (!grant || !answered) return;
    this.#latencySamples.push(Math.max(1, now - grant.at));
    if (this.#latencySamples.length > LATENCY_SAMPLES) this.#latencySamples.shift();
    this.#latencyMs = Math.min(...this.#latencySamples);
  }
}
