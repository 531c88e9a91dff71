/** What a spend attempt against a budget answered. */
export type SpendResult =
  | { granted: true; used: number; resetMs: number }
  | { granted: false; used: number; resetMs: number; retryAfterMs: number };

/**
 * SharePoint-style resource-unit budget for one app in one tenant, modelled as fixed windows: the first charged
 * request starts a grid of back-to-back windows of `windowMs` real milliseconds, and the units granted inside one
 * window never exceed the budget (a request that would cross it is refused whole). A refused request is told to
 * come back when the current window ends, which is also what `RateLimit-Reset` reports, so `Retry-After` and
 * `RateLimit-Reset` agree and a client that honours either gets exactly the budget per window. (A boundary can
 * see one window's tail and the next window's head close together; that is the fixed-window trade-off, and it is
 * what makes the reported reset time exact.)
 */
export class ResourceUnitWindow {
  private origin: number | undefined;
  private index = -1;
  private used = 0;

  /** Charges `units` at real time `now` if they fit in the current window's `budget`. */
  spend(now: number, units: number, budget: number, windowMs: number): SpendResult {
    const endsAt = this.advance(now, windowMs);
    const resetMs = endsAt - now;
    if (this.used + units > budget)
      return { granted: false, used: this.used, resetMs, retryAfterMs: resetMs };
    this.used += units;
    return { granted: true, used: this.used, resetMs };
  }

  /** Units used in the window that holds `now`, and real ms until it ends. */
  usage(now: number, windowMs: number): { used: number; resetMs: number } {
    const endsAt = this.advance(now, windowMs);
    return { used: this.used, resetMs: endsAt - now };
  }

  /** Forgets the grid (after the window length or time scale changed). */
  reset(): void {
    this.origin = undefined;
    this.index = -1;
    this.used = 0;
  }

  private advance(now: number, windowMs: number): number {
    this.origin ??= now;
    const index = Math.floor((now - this.origin) / windowMs);
    if (index !== this.index) {
      this.index = index;
      this.used = 0;
    }
    return this.origin + (index + 1) * windowMs;
  }
}
