/** The most a learned stretch lengthens a `Retry-After`. */
const MAX_STRETCH = 4;

/**
 * The holds after budget `429`s that carry no `RateLimit-*` (docs/throttling.md, "A throttled probe waits"). Graph's
 * `Retry-After` may be a share of the time to the window's reset (docs/graph-facts.md, "Throttling"), and a spell of
 * such `429`s lasts until an answer gets through:
 * - a `429` again within the spell (the probe met a window still spent) waits at least the last hold again, since
 *   each `Retry-After` would be shorter than the last;
 * - a spell whose `Retry-After`s shrank that way says how much longer than its first `Retry-After` the reset really
 *   was (the holds it took, over that first one); the next spell's first hold is stretched by as much, so a server
 *   whose `Retry-After` is a steady share of the reset costs one probe a spell, not two. A spell whose `Retry-After`s
 *   did not shrink (the service's own `429`s) teaches nothing and resets the stretch.
 */
export class UnheadedHolds {
  #lastMs = 0;
  #stretch = 1;
  /** The spell in progress: its first `Retry-After`, the holds waited, and whether a later one was shorter. */
  #spell: { firstRetryMs: number; waitedMs: number; holds: number; shrank: boolean } | undefined;

  /** Whether a spell is on: a budget `429` without `RateLimit-*`, and no answer through since. */
  get inSpell(): boolean {
    return this.#spell !== undefined;
  }

  /** What the next spell's first `Retry-After` is multiplied by. */
  get stretch(): number {
    return this.#stretch;
  }

  /**
   * The hold (ms) for a budget `429` without `RateLimit-*` whose `Retry-After` asks for `retryMs`. `stretch: false`
   * when the reset is known to be near (the probe for a window that is due): the `Retry-After` as it is.
   */
  hold(retryMs: number, stretch = true): number {
    const spell = this.#spell;
    let ms: number;
    if (spell === undefined) {
      ms = stretch ? retryMs * this.#stretch : retryMs;
      this.#spell = { firstRetryMs: retryMs, waitedMs: ms, holds: 1, shrank: false };
    } else {
      ms = Math.max(retryMs, this.#lastMs);
      spell.waitedMs += ms;
      spell.holds += 1;
      spell.shrank ||= retryMs < spell.firstRetryMs;
    }
    this.#lastMs = ms;
    return ms;
  }

  /** An answer got through after the holds: the window has reset, and the spell is over. */
  through(): void {
    const spell = this.#spell;
    this.#spell = undefined;
    this.#lastMs = 0;
    if (!spell || spell.holds === 1) return;
    this.#stretch =
      spell.shrank && spell.firstRetryMs > 0
        ? Math.min(MAX_STRETCH, Math.max(1, spell.waitedMs / spell.firstRetryMs))
        : 1;
  }
}
