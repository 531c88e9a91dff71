import type { RateLimitInfo } from './rate-limit-headers';

/** The probe period without a learned window, in latencies. */
const PROBE_PERIOD_LATENCIES = 50;
/** No probing upward while the server says less than this share of the budget is left. */
const PROBE_HEADROOM = 0.05;
/** A learned window must be this many latencies long: shorter "windows" are noise of other budget shapes. */
const MIN_WINDOW_LATENCIES = 20;

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

/** What the learner needs to know of the pacer's own traffic. */
export interface Traffic {
  /** The shortest recent round trip, ms. */
  latencyMs: number;
  /** Instances sharing the tenant's budget. */
  share: number;
  /** Units granted and not answered yet. */
  inFlightUnits: number;
  /** Units granted so far. */
  unitsAcquired: number;
  /** When the pacer granted its first request, if it has. */
  firstGrantAt: number | undefined;
  /** This instance's rate, units per second. */
  localRate: number;
}

/** The allowance when a request of `units` is out of it: wait until `until`; `probe` when it is a probe's. */
export interface OutOfAllowance {
  until: number;
  probe: boolean;
}

/**
 * What the pacer learns of a tenant's budget from Graph's `RateLimit-*` headers (docs/throttling.md): the budget
 * (`RateLimit-Limit`), its window (stated with `w=`, learned from two window boundaries in a row, or guessed from
 * the first window), and the allowance the latest answer leaves (`RateLimit-Remaining` until `RateLimit-Reset`).
 * It says what rate the budget allows; the pacer decides what to do with it.
 */
export class BudgetLearner {
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
  /** Reset times that agree (one window's; `at` the earliest); the next window's give the window length. */
  #resetCluster: { at: number; count: number; longestResetMs: number; lastAt: number } | undefined;
  #windowCandidate: number | undefined;
  /**
   * The distance from the boundary before to the current window's, as its answers refine it (`#refineDistance`),
   * and whether it went into the learned window.
   */
  #openDistance: { from: number; value: number; learned: boolean } | undefined;
  /** How many boundary distances the learned window is the mean of. */
  #windowSamples = 0;
  /** The shortest distance seen between two window boundaries (a window without headers makes a multiple). */
  #shortestBoundaryMs = Number.POSITIVE_INFINITY;
  /**
   * The first window's length as this pacer saw it: from its first grant to the reset its first `RateLimit`
   * answer named, taken only when the server had counted no more than this pacer sent (the window began with
   * us). Paces until the window is learned from two boundaries, instead of bursting to each reset.
   */
  #windowGuessMs: number | undefined;

  /** The budget per window from `RateLimit-Limit`, when seen. */
  get limit(): number | undefined {
    return this.#limit;
  }

  /** The budget window, when learned. */
  get windowMs(): number | undefined {
    return this.#windowMs;
  }

  /** Whether any answer has carried `RateLimit-*` headers. */
  get headersSeen(): boolean {
    return this.#headersAt !== Number.NEGATIVE_INFINITY;
  }

  /** An answer without `RateLimit-*`: the budget is below 80% (for this answer at least); a probe is over. */
  answeredPlain(now: number): void {
    this.#plainAnswerAt = now;
    if (this.#allowance?.probe) this.#allowance = undefined;
  }

  /**
   * A budget `429` that named no reset (no `RateLimit-*` on it): its `Retry-After` may end before the window does
   * (docs/graph-facts.md, "Throttling"), so when the hold ends only `units` go first, as a probe; an answer that is
   * not throttled ends the probe, and one that does not come in time doubles it (see `#lapse`).
   */
  probeAfterHold(holdEnd: number, units: number, latencyMs: number): void {
    this.#allowance = { units, until: holdEnd + 2 * latencyMs + 50, headroom: 0, probe: units };
  }

  /** Whether only a probe may go until the next answer (see `probeAfterHold` and `#lapse`). */
  get probing(): boolean {
    return (this.#allowance?.probe ?? 0) > 0;
  }

  /** A request of `units` was granted: it comes out of the allowance. */
  spend(units: number): void {
    if (this.#allowance) this.#allowance.units -= units;
  }

  /** Whether the server says the budget is near (or only a probe may go): no probing upward then. */
  nearBudget(): boolean {
    const allowance = this.#allowance;
    return allowance !== undefined && (allowance.probe > 0 || allowance.headroom <= PROBE_HEADROOM);
  }

  /**
   * Takes in an answer's `RateLimit-*` headers. Returns the tenant rate (units per second, before the pacer's
   * bounds) they call for: the budget over its window when either is newly learned, else the current rate under
   * the ceiling.
   */
  learn(info: RateLimitInfo, now: number, traffic: Traffic, tenantRate: number, safety: number): number {
    this.#headersAt = now;
    if (info.limit !== undefined && info.limit > 0) this.#limit = info.limit;
    if (info.windowMs !== undefined && info.windowMs > 0) this.#windowMs = info.windowMs;
    if (info.resetMs !== undefined) {
      if (!info.coarseReset) this.#fractionalResets = true;
      this.#longestResetMs = Math.max(this.#longestResetMs, info.resetMs);
      this.#observeReset(now + info.resetMs, info.resetMs, info.coarseReset, now, traffic.latencyMs);
      this.#guessWindow(info, now, traffic);
    }
    if (info.remaining !== undefined) this.#allow(info, now, traffic);
    const limit = this.#limit;
    const windowMs = this.#windowMs ?? this.#windowGuessMs;
    if (
      limit !== undefined &&
      windowMs !== undefined &&
      (this.#ratedFor?.limit !== limit || this.#ratedFor.windowMs !== windowMs)
    ) {
      // A newly learned budget and window: go straight to it.
      this.#ratedFor = { limit, windowMs };
      return ((safety * limit) / windowMs) * 1000;
    }
    return Math.min(tenantRate, safety * this.ceiling(now, traffic.latencyMs));
  }

  /** The highest tenant rate the latest budget info allows: the budget over the window (or a reset time). */
  ceiling(now: number, latencyMs: number): number {
    if (this.#limit === undefined || this.#budgetInfoStale(now, latencyMs)) return Number.POSITIVE_INFINITY;
    const windowMs = this.#windowMs ?? this.#windowGuessMs ?? this.#longestResetMs;
    return windowMs > 0 ? (this.#limit / windowMs) * 1000 : Number.POSITIVE_INFINITY;
  }

  /** The time scale of the budget: its window once learned, else the longest reset seen or many latencies. */
  period(latencyMs: number): number {
    return (
      this.#windowMs ??
      this.#windowGuessMs ??
      Math.max(this.#longestResetMs, PROBE_PERIOD_LATENCIES * latencyMs)
    );
  }

  /**
   * Whether a request of `units` fits the allowance now; when it does not, until when to wait. An allowance whose
   * time is up lapses first (see `#lapse`).
   */
  check(units: number, now: number, traffic: Traffic): OutOfAllowance | undefined {
    let allowance = this.#allowance;
    if (allowance && now >= allowance.until) {
      allowance = this.#lapse(allowance, units, now, traffic);
      this.#allowance = allowance;
    }
    if (allowance && allowance.units < units) return { until: allowance.until, probe: allowance.probe > 0 };
    return undefined;
  }

  /** No `RateLimit` answer for several windows: the budget may have grown since. */
  #budgetInfoStale(now: number, latencyMs: number): boolean {
    return now - this.#headersAt > 4 * this.period(latencyMs);
  }

  /**
   * An allowance whose time is up. If plenty was left, the budget is plainly not near: no limit. If little was
   * left, the server was at its limit a moment ago, and the next answer will say how much it freed: until then
   * only one request goes (or what was left, if more): a probe.
   */
  #lapse(allowance: Allowance, units: number, now: number, traffic: Traffic): Allowance | undefined {
    const cushion = traffic.localRate * (traffic.latencyMs / 1000) * 2;
    // A learned fixed window has just reset: the whole budget is back.
    if (!allowance.probe && (allowance.units >= cushion || this.#windowMs !== undefined)) return undefined;
    // A probe that got no answer in time (its caller may be gathering a `$batch`): twice as much, and so on.
    const size = allowance.probe ? 2 * allowance.probe : Math.max(allowance.units, units);
    return { units: size, until: now + 2 * traffic.latencyMs + 50, headroom: 0, probe: size };
  }

  /**
   * The first `RateLimit` answer: if what the server counted in this window (`Limit - Remaining`) is about what
   * this pacer has had answered (its share of it), the window began with our first request, and lasts until the
   * reset the answer names.
   */
  #guessWindow(info: RateLimitInfo, now: number, traffic: Traffic): void {
    if (this.#windowGuessMs !== undefined || traffic.firstGrantAt === undefined) return;
    if (this.#limit === undefined || info.remaining === undefined || info.resetMs === undefined) return;
    const counted = this.#limit - info.remaining;
    const answered = (traffic.unitsAcquired - traffic.inFlightUnits) * traffic.share;
    const guess = now + info.resetMs - traffic.firstGrantAt;
    if (counted > 0 && answered >= 0.9 * counted && answered <= 1.1 * counted) {
      if (guess >= MIN_WINDOW_LATENCIES * traffic.latencyMs) this.#windowGuessMs = guess;
    }
  }

  /**
   * Takes in `RateLimit-Remaining`. Answers overtake each other, so an answer may be older than the last one:
   * one that resets earlier than the current allowance is an older view and is ignored; one that resets at the
   * same time (the same window) can only shrink the allowance; one that resets later replaces it.
   */
  #allow(info: RateLimitInfo, now: number, traffic: Traffic): void {
    const remaining = info.remaining ?? 0;
    const next: Allowance = {
      // Requests in flight were mostly sent after this one: the server has not counted them yet.
      units: remaining / traffic.share - traffic.inFlightUnits,
      until: now + (info.resetMs ?? 2 * traffic.latencyMs),
      headroom: this.#limit ? remaining / this.#limit : 0,
      probe: 0,
    };
    const current = this.#allowance;
    if (current && !current.probe && now < current.until) {
      const tolerance = this.#resetTolerance(info.coarseReset, traffic.latencyMs);
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
  #resetTolerance(coarse: boolean, latencyMs: number): number {
    return Math.max(5, latencyMs / 2) + (coarse && !this.#fractionalResets ? 1_000 : 0);
  }

  /**
   * Takes in a window length two boundaries agreed on. One that agrees with the learned length refines it (the
   * mean of all that agreed: with resets in whole seconds each distance is off by up to a second, which at a short
   * window would set the pace several percent off); one that does not replaces it.
   */
  #learnWindow(length: number, tolerance: number): void {
    if (this.#windowMs !== undefined && Math.abs(length - this.#windowMs) <= tolerance) {
      this.#windowSamples += 1;
      this.#windowMs += (length - this.#windowMs) / this.#windowSamples;
      return;
    }
    this.#windowMs = length;
    this.#windowSamples = 1;
  }

  /**
   * A distance between two boundaries that is a whole multiple of the shortest seen is that shortest distance: the
   * windows between passed without a `RateLimit-*` answer (spent under 80%, or the headers left out), and a window
   * learned from the multiple would halve the pace, which then keeps every other window under 80%.
   */
  #shortestWhole(distance: number, tolerance: number, plausible: (length: number) => boolean): number {
    const shortest = this.#shortestBoundaryMs;
    if (!Number.isFinite(shortest) || distance < 1.5 * shortest) return distance;
    const multiple = Math.round(distance / shortest);
    return Math.abs(distance - multiple * shortest) <= multiple * tolerance && plausible(shortest)
      ? shortest
      : distance;
  }

  /**
   * Learns the window length of a fixed-window budget: answers of one window agree on when it resets; after
   * it resets (answers without headers again), the next window's answers agree on a reset one window later. A
   * length counts once two boundaries in a row agree on it; budgets of other shapes (sliding windows, buckets)
   * do not behave so.
   */
  #observeReset(resetAt: number, resetMs: number, coarse: boolean, now: number, latencyMs: number): void {
    const tolerance = this.#resetTolerance(coarse, latencyMs);
    const cluster = this.#resetCluster;
    if (cluster && Math.abs(resetAt - cluster.at) <= tolerance) {
      if (resetAt < cluster.at) {
        cluster.at = resetAt;
        this.#refineDistance(resetAt);
      }
      cluster.count += 1;
      cluster.longestResetMs = Math.max(cluster.longestResetMs, resetMs);
      cluster.lastAt = now;
      return;
    }
    // A boundary: the old reset time has come, and the budget did reset (an answer without headers since).
    const reset =
      cluster !== undefined && now >= cluster.at - tolerance && this.#plainAnswerAt > cluster.lastAt;
    if (cluster && reset && cluster.count >= 3 && resetAt > cluster.at) {
      const plausible = (length: number): boolean =>
        length >= cluster.longestResetMs - tolerance && length >= MIN_WINDOW_LATENCIES * latencyMs;
      const distance = resetAt - cluster.at;
      const candidate = this.#shortestWhole(distance, 2 * tolerance, plausible);
      if (plausible(candidate)) this.#shortestBoundaryMs = Math.min(this.#shortestBoundaryMs, candidate);
      // Two window boundaries in a row the same distance apart: a fixed window, and this is its length. A
      // boundary closer than the learned window proves it shorter at once.
      const previous = this.#windowCandidate;
      let learned = false;
      if (plausible(candidate) && previous !== undefined && Math.abs(candidate - previous) <= 2 * tolerance) {
        this.#learnWindow(candidate, 2 * tolerance);
        learned = true;
      } else if (
        plausible(candidate) &&
        this.#windowMs !== undefined &&
        candidate < this.#windowMs - 2 * tolerance
      ) {
        this.#learnWindow(candidate, 2 * tolerance);
        learned = true;
      }
      this.#windowCandidate = plausible(candidate) ? candidate : undefined;
      this.#openDistance =
        plausible(candidate) && candidate === distance
          ? { from: cluster.at, value: distance, learned }
          : undefined;
    } else {
      this.#openDistance = undefined;
    }
    this.#resetCluster = { at: resetAt, count: 1, longestResetMs: resetMs, lastAt: now };
  }

  /**
   * A window's answers name its boundary late by their trip back and, where resets come in whole seconds rounded
   * up, by up to a second more, a different share each time: the earliest is the closest. The distance taken
   * from the window's first answer (up to a second long: 15.8 s for a 15 s window was seen, a pace 5% under the
   * budget) is corrected as earlier ones come in, in the candidate and in the learned window alike.
   */
  #refineDistance(boundaryAt: number): void {
    const open = this.#openDistance;
    if (open === undefined) return;
    const value = boundaryAt - open.from;
    if (open.learned && this.#windowMs !== undefined) {
      this.#windowMs += (value - open.value) / this.#windowSamples;
    }
    if (this.#windowCandidate === open.value) this.#windowCandidate = value;
    open.value = value;
  }
}
