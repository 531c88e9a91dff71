/** What a spend attempt against a budget answered. */
export type SpendResult =
  | { granted: true; used: number; resetMs: number }
  | { granted: false; used: number; resetMs: number; retryAfterMs: number };

/** Where windows start (`ThrottleRules.windowAnchor`). */
export type WindowAnchor = 'firstRequest' | 'wallClock' | 'sliding';

/**
 * A resource-unit budget for one app in one tenant (or the whole tenant). Fixed windows by default: the first
 * charged request starts a grid of back-to-back windows of `windowMs` real milliseconds (`firstRequest`), or the grid
 * is aligned to the wall clock (`wallClock`: windows start at whole minutes, whoever called first); the units inside
 * one window never exceed the budget, and a refused request is told to come back when the window ends. `sliding`
 * counts the units of the last `windowMs` instead, and a refused request is told when enough of them will have aged
 * out. With `chargeRefused`, a refused request's units count too (Microsoft: throttled requests count).
 */
export class ResourceUnitWindow {
  private origin: number | undefined;
  private index = -1;
  private used = 0;
  /** Sliding: charges of the last window, oldest first. */
  private readonly charges: Array<{ at: number; units: number }> = [];

  constructor(private readonly anchor: WindowAnchor = 'firstRequest') {}

  /**
   * Charges `units` at monotonic real time `now` if they fit in `budget`. `wallNow` (ms since the epoch) places
   * wall-clock windows.
   */
  spend(
    now: number,
    units: number,
    budget: number,
    windowMs: number,
    options: { wallNow?: number; chargeRefused?: boolean } = {},
  ): SpendResult {
    if (this.anchor === 'sliding')
      return this.spendSliding(now, units, budget, windowMs, options.chargeRefused);
    const endsAt = this.advance(now, windowMs, options.wallNow);
    const resetMs = endsAt - now;
    if (this.used + units > budget) {
      if (options.chargeRefused) this.used += units;
      return { granted: false, used: this.used, resetMs, retryAfterMs: resetMs };
    }
    this.used += units;
    return { granted: true, used: this.used, resetMs };
  }

  /** Units used in the window that holds `now`, and real ms until it ends (sliding: until the oldest ages out). */
  usage(now: number, windowMs: number, wallNow?: number): { used: number; resetMs: number } {
    if (this.anchor === 'sliding') {
      this.age(now, windowMs);
      const oldest = this.charges[0];
      return { used: this.used, resetMs: oldest ? oldest.at + windowMs - now : windowMs };
    }
    const endsAt = this.advance(now, windowMs, wallNow);
    return { used: this.used, resetMs: endsAt - now };
  }

  /** Forgets the grid (after the window length or time scale changed). */
  reset(): void {
    this.origin = undefined;
    this.index = -1;
    this.used = 0;
    this.charges.length = 0;
  }

  private spendSliding(
    now: number,
    units: number,
    budget: number,
    windowMs: number,
    chargeRefused: boolean | undefined,
  ): SpendResult {
    this.age(now, windowMs);
    if (this.used + units <= budget) {
      this.charges.push({ at: now, units });
      this.used += units;
      const oldest = this.charges[0]!;
      return { granted: true, used: this.used, resetMs: oldest.at + windowMs - now };
    }
    // When enough of the oldest charges will have aged out for these units to fit.
    let freed = 0;
    let retryAt = now + windowMs;
    for (const charge of this.charges) {
      freed += charge.units;
      if (this.used - freed + units <= budget) {
        retryAt = charge.at + windowMs;
        break;
      }
    }
    if (chargeRefused) {
      this.charges.push({ at: now, units });
      this.used += units;
    }
    const resetMs = Math.max(1, retryAt - now);
    return { granted: false, used: this.used, resetMs, retryAfterMs: resetMs };
  }

  private age(now: number, windowMs: number): void {
    while (this.charges.length > 0 && this.charges[0]!.at + windowMs <= now) {
      this.used -= this.charges.shift()!.units;
    }
  }

  private advance(now: number, windowMs: number, wallNow: number | undefined): number {
    // Wall-clock windows: the grid's origin is the last wall-clock multiple of the window before the first call.
    this.origin ??= this.anchor === 'wallClock' && wallNow !== undefined ? now - (wallNow % windowMs) : now;
    const index = Math.floor((now - this.origin) / windowMs);
    if (index !== this.index) {
      this.index = index;
      this.used = 0;
    }
    return this.origin + (index + 1) * windowMs;
  }
}
