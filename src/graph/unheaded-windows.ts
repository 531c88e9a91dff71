/** Share of what a learned window gave that is spent before stopping for the next window. */
const WINDOW_SHARE = 0.95;
/** A window spent to its share whose next one began without a `429`: the budget may have grown this much. */
const WINDOW_GROWTH = 1.01;
/** A spell's end whose distance from the run's first, over the whole windows between, is this far off is out of step. */
const SAMPLE_TOLERANCE = 0.15;
/** The next window is taken to be due this share of its length late: a probe sent early finds the last one's rest. */
const DUE_MARGIN = 0.01;
/** How long a probe for the next window waits for its answer, in latencies (plus 50 ms), before going on. */
const PROBE_WAIT_LATENCIES = 4;
/**
 * Before a window is learned, the shares of what the last spent window gave between which the next is spent at
 * `NEAR_END_PACE`: its `429` then meets fewer requests in flight. Past the upper one the window is larger than the
 * last one showed (the budget grew, or the run began in the last one's middle): full pace again.
 */
const NEAR_END_FROM = 0.7;
const NEAR_END_UNTIL = 1.5;
const NEAR_END_PACE = 0.5;

/**
 * Windows of a fixed-window budget that shows itself by `429`s alone (no `RateLimit-*` on any answer; see
 * docs/throttling.md, "A budget without headers is spent window by window"). Every window of such a budget ends in
 * a `429` for every request in flight when it runs out: at Graph's latencies, dozens. This learns instead, from
 * the spells of budget `429`s (`UnheadedHolds`), when windows begin and how long they last (the answers that get
 * through after a spell: the window has reset by then) and what one window gives this instance (the units
 * answered between a window's start and its `429`). Then it spends each window up to a share of that, stops, and
 * when the next window is due (taken a little late: a probe sent early would find the rest of the last window and
 * get through) sends one request first, as a probe:
 * - the probe gets through: a new window, at once; the budget may have grown, and the next share is a little larger
 *   (a `429` sets it again);
 * - the probe meets a `429`: the boundary was later than learned; the spell's end refines the length;
 * - a `429` before the share was spent: the budget came down (another workload, a cut); what the window gave
 *   until then is the new figure.
 * Nothing here acts until two spells have shown a window, and nothing acts once an answer has carried
 * `RateLimit-*` (the `BudgetLearner` then knows better).
 */
export class UnheadedWindows {
  /** When the current window began, as answers show it (a spell's end or a probe that got through). */
  #start: number | undefined;
  /** The start was moved on by the learned length, not seen: no samples from this window. */
  #guessedStart = false;
  #lengthMs: number | undefined;
  /** The first spell end of the run that the length is learned from. */
  #reference: number | undefined;
  /** Units one window gave this instance, learned from a window spent to its `429`. */
  #units: number | undefined;
  /** Units answered before the last spell that did not follow a stop (the first: since the run began). */
  #lastSpent: number | undefined;
  #granted = 0;
  #answered = 0;
  /** The share was spent: nothing more until the next window. */
  #stopped = false;
  /** When the probe for the next window was granted. */
  #probeAt: number | undefined;
  /** A spell of budget `429`s is on, and whether it began with the probe after a stop. */
  #spell: { afterStop: boolean } | undefined;

  /** The window's length, once learned. */
  get lengthMs(): number | undefined {
    return this.#lengthMs;
  }

  /** What one window gives this instance, once learned. */
  get units(): number | undefined {
    return this.#units;
  }

  /**
   * The share of the rate to pace at: `NEAR_END_PACE` while the window is not learned yet and this one has been
   * granted most of what the last window gave before its `429` (which is then near), else 1. Dozens of requests
   * are in flight when a spent window answers `429`, at the rate slow start reached; the window is learned from
   * that `429`, so it must come, but it meets half as many. The last window's units may be short of a whole window
   * (the run began in its middle), so the rest of this one still goes: at half pace, then at full pace once it has
   * given half as much again.
   */
  pace(): number {
    const last = this.#lastSpent;
    if (this.#units !== undefined || last === undefined || this.#spell || this.#start === undefined) return 1;
    const granted = this.#granted;
    return granted >= NEAR_END_FROM * last && granted < NEAR_END_UNTIL * last ? NEAR_END_PACE : 1;
  }

  /** Whether the probe for the next window is out: a `$batch` should leave with it alone. */
  get probing(): boolean {
    return this.#probeAt !== undefined;
  }

  /** Whether the probe after a stop is out: a `429` to it means the window is about to reset, not spent. */
  get probeAfterStop(): boolean {
    return this.#stopped && this.#probeAt !== undefined;
  }

  /**
   * Whether a request of `units` may go now; when not, until when to wait. Only while `armed` (the spells so far
   * looked like a window's: see `UnheadedHolds.stretch`) and both the length and the units are known.
   */
  check(units: number, now: number, latencyMs: number, armed: boolean): { until: number } | undefined {
    const lengthMs = this.#lengthMs;
    const share = this.#units === undefined ? undefined : WINDOW_SHARE * this.#units;
    if (!armed || this.#spell || this.#start === undefined || lengthMs === undefined || share === undefined)
      return undefined;
    if (!this.#stopped) {
      // A window passed without its share spent (the crawl asked for less): the next began by the clock.
      if (now >= this.#start + lengthMs) this.#moveOn(now, lengthMs);
      if (this.#granted + units <= share) return undefined;
      this.#stopped = true;
    }
    const next = this.#start + lengthMs * (1 + DUE_MARGIN);
    if (now < next) return { until: next };
    const probeAt = this.#probeAt;
    if (probeAt === undefined) return undefined;
    const waited = probeAt + PROBE_WAIT_LATENCIES * latencyMs + 50;
    if (now < waited) return { until: waited };
    // No answer to the probe in time (lost, or slow): go on as if it got through.
    this.#begin(probeAt, false);
    return undefined;
  }

  /** A request of `units` was granted (after `check` let it). */
  granted(units: number, now: number): void {
    if (this.#stopped && this.#probeAt === undefined) this.#probeAt = now;
    this.#granted += units;
  }

  /** A grant of `units` was taken back unsent (a hold began before it left). */
  returned(units: number): void {
    this.#granted = Math.max(0, this.#granted - units);
  }

  /** An answer that was not throttled and carried no `RateLimit-*`, `now` (ms). */
  answered(units: number, now: number, latencyMs: number): void {
    const probeAt = this.#probeAt;
    // The probe's answer (not one to a request sent before it): the next window has begun.
    if (probeAt !== undefined && !this.#spell && now >= probeAt + latencyMs / 2) {
      this.#begin(probeAt, false);
      this.#granted = units;
      if (this.#units !== undefined) this.#units *= WINDOW_GROWTH;
    }
    this.#answered += units;
  }

  /** A budget `429` without `RateLimit-*` that was not an echo of one before it. */
  throttled(): void {
    this.#spell ??= { afterStop: this.probeAfterStop };
    this.#stopped = false;
    this.#probeAt = undefined;
  }

  /**
   * The spell is over: an answer got through at `now`, so a window began. `budgetLike`: the spells look like a
   * window's (else what was learned is forgotten: the `429`s were the service's own).
   */
  spellEnded(now: number, budgetLike: boolean): void {
    const spell = this.#spell;
    this.#spell = undefined;
    if (spell && !spell.afterStop && this.#answered > 0) this.#lastSpent = this.#answered;
    if (!budgetLike) {
      this.#lengthMs = undefined;
      this.#units = undefined;
      this.#reference = undefined;
      this.#begin(now, false);
      return;
    }
    const start = this.#start;
    const known = this.#lengthMs;
    // A window spent to its `429` says what it gives, if it began when this one thinks (about one window ago).
    if (spell && !spell.afterStop && start !== undefined && !this.#guessedStart && this.#answered > 0) {
      const sample = now - start;
      if (known === undefined || Math.abs(sample - known) <= SAMPLE_TOLERANCE * known)
        this.#units = this.#answered;
    }
    this.#learnLength(now);
    this.#begin(now, false);
  }

  /**
   * Each spell's end is a window boundary, give or take how far its last hold overshot the reset (a second or two
   * with `Retry-After` in whole seconds): the length is the distance from the first end of a run of them over the
   * whole windows between, so the error shrinks with every window. An end out of step with the length (the
   * service's own `429`s, a grid that moved, a first span that held two windows) starts a new run, and the length
   * is learned again from the next end.
   */
  #learnLength(end: number): void {
    const reference = this.#reference;
    const known = this.#lengthMs;
    if (reference === undefined) {
      this.#reference = end;
      return;
    }
    const span = end - reference;
    if (known === undefined) {
      this.#lengthMs = span;
      return;
    }
    const windows = Math.round(span / known);
    if (windows >= 1 && Math.abs(span / windows - known) <= SAMPLE_TOLERANCE * known) {
      this.#lengthMs = span / windows;
      return;
    }
    // Out of step: the length may be wrong (a first span of two windows), so it is learned again from here.
    this.#reference = end;
    this.#lengthMs = undefined;
  }

  #moveOn(now: number, lengthMs: number): void {
    const start = this.#start!;
    this.#begin(start + Math.floor((now - start) / lengthMs) * lengthMs, true);
  }

  #begin(at: number, guessed: boolean): void {
    this.#start = at;
    this.#guessedStart = guessed;
    this.#granted = 0;
    this.#answered = 0;
    this.#stopped = false;
    this.#probeAt = undefined;
  }
}
