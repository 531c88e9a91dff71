/**
 * Graph's directory throttle for one app in one tenant: a token bucket of `capacity` units that refills completely
 * over `periodMs` real milliseconds. Listing users costs about one unit a page, so in practice it only bites a
 * client that loops on `/users` far too fast.
 */
export class TokenBucket {
  private tokens: number | undefined;
  private last = 0;

  /** Takes `units` if the bucket holds them; otherwise says how long until it will. */
  take(
    now: number,
    units: number,
    capacity: number,
    periodMs: number,
  ): { granted: true } | { granted: false; retryAfterMs: number } {
    const rate = capacity / periodMs;
    const tokens = Math.min(capacity, (this.tokens ?? capacity) + (now - this.last) * rate);
    this.last = now;
    if (tokens >= units) {
      this.tokens = tokens - units;
      return { granted: true };
    }
    this.tokens = tokens;
    return { granted: false, retryAfterMs: (units - tokens) / rate };
  }

  /** Refills the bucket (after the time scale changed). */
  reset(): void {
    this.tokens = undefined;
  }
}
