import { randomUUID } from 'node:crypto';
import type { PacerClock } from './pacer-clock';
import { abortReason, systemClock } from './pacer-clock';
import type { Traffic } from './budget-learner';
import { BudgetLearner } from './budget-learner';
import type { PacerOutcome } from './rate-limit-headers';
import { parseRetryAfterMs, readRateLimit } from './rate-limit-headers';
import { InFlight } from './in-flight';
import { RateBucket } from './rate-bucket';
import type { SharedPacerState } from './shared-pacer-state';
import { SharedSync } from './shared-sync';
import type { Waiter } from './waiter-queue';
import { WaiterQueue } from './waiter-queue';
import { TenantHold } from './tenant-hold';
import { UnheadedHolds } from './unheaded-holds';
import { UnheadedWindows } from './unheaded-windows';

export type { PacerOutcome } from './rate-limit-headers';

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
  /**
   * How often at most the shared hold is read while other instances share the tenant (default 250 ms); the share is
   * renewed every 4 of those, and a pacer alone on the tenant reads only then (`SharedSync`).
   */
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

/** Why the pacer cancels its own sleeps (a constant: no error is made and thrown away each time). */
const DONE = Symbol('done');
/** Microtask turns a granted caller gets to ask again before anyone else is granted. */
const CONTINUATION_TICKS = 3;

/** Multiplicative decrease on a budget 429 and on running out of a `RateLimit` allowance. */
const DECREASE_ON_429 = 0.7;
/**
 * Units that may go when a hold from a `429` without `RateLimit-*` ends, before any answer says the window reset:
 * one request of the dearest kind the crawl sends (a listing page), which a `$batch` sends alone (see `probing`).
 */
const PROBE_UNITS_AFTER_HOLD = 2;
const DECREASE_ON_EXHAUSTION = 0.9;
/** Retry-After when a 429/503 gives none: doubles per throttle in a row, up to the cap. */
const DEFAULT_HOLD_MS = 1_000;
const MAX_DEFAULT_HOLD_MS = 30_000;
/** Added to every hold: timer and clock granularity must never make a request early. */
const HOLD_MARGIN_MS = 5;
const HOLD_MARGIN_SHARE = 0.01;
/** How long a grant waits at most for a shared-state read before going on with what it knows. */
const SHARED_WAIT_LIMIT_MS = 2_000;

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
 *   `sharedRefreshMs` while others share the tenant, with each heartbeat when alone, and before granting after a
 *   pause), so it stops the tenant's pacers on every instance.
 * - Allowance: an answer with `RateLimit-Remaining: R` and `RateLimit-Reset: T` means no more than R units (less
 *   what is already in flight, split between instances) in the next T seconds, whatever the rate says. This keeps
 *   it under a budget it does not know yet.
 * - Rate: starts from `unitsPerMinute`, doubles every 8 latencies until the first sign of the budget (slow
 *   start: a time-scaled simulator's minute may last seconds), then probes upward slowly while the server shows
 *   headroom. `RateLimit-Limit` over the learned window (the distance between two windows' reset times) sets it
 *   to the budget, `RateLimit-Limit / RateLimit-Reset` caps it, a budget 429 cuts it by 30% and running out of
 *   an allowance by 10%.
 * - Probe: after a hold that named no reset, one request goes before the rest (`probing`: a `$batch` leaves with it).
 * - Windows without headers: where only `429`s show the budget, two spells of them teach the window's length and
 *   what it gives; each window is then spent to 95% of that, and the next begins with a probe (`UnheadedWindows`).
 *   Until then, the end of a window (as far as the last one showed) is spent at half pace: its `429` meets fewer.
 * - Instances: each heartbeats through the shared state and paces at the tenant's rate divided by their number.
 *
 * There is no cap on requests in flight: callers that acquire all inner requests of a `$batch` before sending it
 * would deadlock against one. Slow start's pace keeps what is in flight when the 80% warning comes near 7% of
 * the budget, and the allowance counts everything granted and not yet answered.
 */
export class TenantPacer {
  readonly tenantId: string;
  readonly #clock: PacerClock;
  readonly #safety: number;
  readonly #refreshMs: number;

  readonly #queue = new WaiterQueue(() => this.#poke());
  #pumping = false;
  #wake: (() => void) | undefined;

  /** The token bucket at this instance's share of the tenant's rate. */
  readonly #bucket: RateBucket;
  /** Since when the queue has waited for tokens only (the rate is what limits us), for probing upward. */
  #backlogSince: number | undefined;
  #exhaustedAt = Number.NEGATIVE_INFINITY;

  readonly #holdState: TenantHold;
  #missingRetryAfter = 0;
  readonly #unheadedHolds = new UnheadedHolds();
  /** Without `RateLimit-*`: the windows learned from budget `429`s, each spent to a share of what it gave. */
  readonly #windows = new UnheadedWindows();
  /** What Graph's `RateLimit-*` headers have said of the budget, its window and the allowance left. */
  readonly #budget = new BudgetLearner();
  #firstGrantAt: number | undefined;

  readonly #inFlight = new InFlight();
  /** True for a few microtasks after each grant: an `acquire` then comes from the caller just granted. */
  #continuing = false;

  readonly #sync: SharedSync | undefined;
  #sharedWaited = false;
  #lastGrantAt = Number.NEGATIVE_INFINITY;

  #unitsAcquired = 0;
  #throttled = 0;
  #holds = 0;

  constructor(options: TenantPacerOptions) {
    if (!(options.unitsPerMinute > 0)) throw new RangeError('unitsPerMinute must be positive');
    const safety = options.safety ?? 0.95;
    if (!(safety > 0 && safety <= 1)) throw new RangeError('safety must be in (0, 1]');
    this.tenantId = options.tenantId;
    this.#clock = options.clock ?? systemClock;
    this.#safety = safety;
    this.#refreshMs = options.sharedRefreshMs ?? 250;
    this.#sync = options.shared
      ? new SharedSync({
          shared: options.shared,
          tenantId: options.tenantId,
          instanceId: options.instanceId ?? randomUUID(),
          clock: this.#clock,
          refreshMs: this.#refreshMs,
          onHold: (until, after) => this.#extendHold(until, after, false),
          onShare: (share, after) => this.#bucket.setShare(share, after),
        })
      : undefined;
    this.#bucket = new RateBucket((options.unitsPerMinute / 60) * safety, this.#clock.now());
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
    this.#bucket.makeRoomFor(units, this.#clock.now());
    return new Promise<void>((resolve, reject) => {
      // A caller asking again right after its grant is acquiring several requests in a row (the inner requests
      // of a `$batch`): it goes first, so that its requests leave together instead of waiting for every other
      // caller's.
      this.#queue.add({ units, resolve, reject, signal }, this.#continuing);
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
    this.#inFlight.release(units, now, outcome.status !== 0);
    const info = readRateLimit(outcome.headers);
    const throttled = outcome.status === 429 || outcome.status === 503;
    // A budget answer past 80% carries `RateLimit-*`, unless this server never sends them.
    const rateLimited = info.limit !== undefined || info.remaining !== undefined;
    if (rateLimited) {
      this.#bucket.endSlowStart();
      const rate = this.#budget.learn(info, now, this.#traffic(), this.#bucket.tenantRate, this.#safety);
      this.#bucket.setTenantRate(rate, now);
    } else if (outcome.status !== 0 && !throttled) {
      this.#budget.answeredPlain(now);
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
      // A budget 429 carries `RateLimit-*`; a 503 or another 429 is the service's trouble: it holds, but says
      // nothing about the budget.
      const fresh429 = outcome.status === 429 && !echo;
      // Without `RateLimit-Reset`, a `Retry-After` may end before the window resets (see `UnheadedHolds`): the
      // hold is stretched by what the last spell needed, and a probe goes first after it, not the queue.
      const unheaded429 = fresh429 && !rateLimited;
      if (unheaded429) waitMs = this.#unheadedHolds.hold(waitMs, !this.#windows.probeAfterStop);
      this.#extendHold(now + waitMs * (1 + HOLD_MARGIN_SHARE) + HOLD_MARGIN_MS, now, true);
      if (fresh429 && (rateLimited || !this.#budget.headersSeen)) {
        this.#bucket.decrease(DECREASE_ON_429, now, this.#inFlight.latencyMs);
      }
      if (unheaded429) {
        this.#budget.probeAfterHold(this.#hold, PROBE_UNITS_AFTER_HOLD, this.#inFlight.latencyMs);
        this.#windows.throttled();
      }
    } else if (outcome.status !== 0) {
      this.#missingRetryAfter = 0;
      // An answer to a request sent after the hold: the window has reset, and a spell of 429s is over.
      if (now >= this.#hold && this.#unheadedHolds.inSpell) {
        this.#unheadedHolds.through();
        this.#windows.spellEnded(now, this.#unheadedHolds.stretch > 1);
      }
      if (!rateLimited) this.#windows.answered(units, now, this.#inFlight.latencyMs);
    }
    this.#poke();
  }

  /**
   * Takes back a grant whose request never left: a hold began before it was written (another answer was a 429 or
   * 503 meanwhile). Its units leave the in-flight count and the window's spending, as if never granted; the caller
   * acquires them again, behind the probe when the hold calls for one (docs/throttling.md).
   */
  returnGrant(units: number): void {
    this.#inFlight.release(units, this.#clock.now(), false);
    this.#windows.returned(units);
    this.#unitsAcquired -= units;
    this.#poke();
  }

  /** When the tenant's latest hold in this process began (ms since the epoch; 0 before any). */
  holdBeganAt(): number {
    return this.#holdState.began();
  }

  /** When the current hold ends (ms, the clock's time); in the past or 0 when there is none. */
  holdUntil(): number {
    return this.#holdState.until();
  }

  /** Whether only a probe may go until an answer comes: a `$batch` should leave with what it has. */
  probing(): boolean {
    return this.#budget.probing || this.#windows.probing;
  }

  /** Holds the tenant until the returned function is called (see `TenantHold.pin`). */
  pinHold(): () => void {
    return this.#holdState.pin();
  }

  /** Counts a `$batch` body as being read (see `TenantHold.reading`). */
  readingBody(): () => void {
    return this.#holdState.reading();
  }

  /** Settles once the tenant's bodies being read now have been read (see `TenantHold.whenRead`). */
  bodiesRead(): Promise<void> | undefined {
    return this.#holdState.whenRead();
  }

  stats(): PacerStats {
    return {
      unitsAcquired: this.#unitsAcquired,
      throttled: this.#throttled,
      holds: this.#holds,
      rateUnitsPerSecond: this.#bucket.localRate(),
      inFlight: this.#inFlight.count,
      share: this.#bucket.share,
      windowMs: this.#budget.windowMs,
      limit: this.#budget.limit,
      sharedErrors: this.#sync?.errors ?? 0,
    };
  }

  // ---- granting ----

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const head = this.#queue.head();
        if (!head) return;
        const now = this.#clock.now();
        const sharedRead = this.#sync?.refresh(now, this.#lastGrantAt);
        const { waitMs, rateBound } = this.#delay(head.units, now);
        this.#trackBacklog(now, waitMs, rateBound);
        if (waitMs > 0) {
          // Wake at least every refresh period so that a long wait keeps reading the shared hold.
          await this.#idle(this.#sync ? Math.min(waitMs, this.#refreshMs) : waitMs);
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
    const out = this.#budget.check(units, now, this.#traffic());
    if (out) {
      // Out of what the server allows before its reset: the rate is too high (at most one cut per period).
      // Not if the rate came down lately: the allowance was spent at the old one.
      const latencyMs = this.#inFlight.latencyMs;
      const period = this.#budget.period(latencyMs);
      if (!out.probe && now - this.#exhaustedAt >= period && now - this.#bucket.loweredAt >= period) {
        this.#exhaustedAt = now;
        this.#bucket.decrease(DECREASE_ON_EXHAUSTION, now, latencyMs);
      }
      return { waitMs: Math.max(1, out.until - now), rateBound: false };
    }
    const armed = !this.#budget.headersSeen && this.#unheadedHolds.stretch > 1;
    const stop = this.#windows.check(units, now, this.#inFlight.latencyMs, armed);
    if (stop) return { waitMs: Math.max(1, stop.until - now), rateBound: false };
    // Near the end of a window not learned yet, each unit costs more tokens (`#pace`); a wait for that is not the
    // rate holding requests back, and does not raise it.
    const pace = this.#pace();
    const waitMs = this.#bucket.waitMs(units / pace, now);
    return { waitMs, rateBound: waitMs > 0 && pace === 1 };
  }

  /** The share of the rate to pace at now: below 1 only without headers (`UnheadedWindows.pace`). */
  #pace(): number {
    return this.#budget.headersSeen ? 1 : this.#windows.pace();
  }

  #grant(waiter: Waiter, now: number): void {
    this.#queue.shift();
    this.#bucket.take(waiter.units / this.#pace());
    this.#budget.spend(waiter.units);
    this.#windows.granted(waiter.units, now);
    this.#inFlight.add(now, waiter.units);
    this.#unitsAcquired += waiter.units;
    this.#firstGrantAt ??= now;
    waiter.resolve();
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

  /** The pacer's own traffic, as the budget learner needs it. */
  #traffic(): Traffic {
    return {
      latencyMs: this.#inFlight.latencyMs,
      share: this.#bucket.share,
      inFlightUnits: this.#inFlight.units,
      unitsAcquired: this.#unitsAcquired,
      firstGrantAt: this.#firstGrantAt,
      localRate: this.#bucket.localRate(),
    };
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
    if (elapsedMs <= 0 || now < this.#hold || this.#budget.nearBudget()) return;
    const latencyMs = this.#inFlight.latencyMs;
    const ceiling = this.#safety * this.#budget.ceiling(now, latencyMs);
    this.#bucket.grow(
      elapsedMs,
      now,
      this.#budget.period(latencyMs),
      latencyMs,
      ceiling,
      this.#inFlight.count,
    );
  }

  // ---- holds ----

  #extendHold(until: number, now: number, share: boolean): void {
    if (until <= this.#hold) return;
    if (this.#hold <= now) this.#holds += 1;
    this.#holdState.extend(until);
    if (share) this.#sync?.shareHold(until);
  }
}
