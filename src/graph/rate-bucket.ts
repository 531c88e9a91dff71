/** A sanity bound on any rate, units per second. */
const MAX_RATE = 1e7;
/**
 * The bucket holds this much time's worth of the rate, or one `$batch` (Graph's limit of 20 requests, of the
 * largest size asked for), whichever is more: a batch's requests reach the server together however they were
 * paced, so pacing them one by one only delays them.
 */
const BURST_MS = 100;
const BATCH_REQUESTS = 20;
/**
 * Slow start doubles the rate every this many latencies. That bounds the overshoot: when the server's warning
 * comes (at 80% of the budget), what is already on its way is about ln 2 / 8 of 80%, some 7% of the budget.
 */
const SLOW_START_LATENCIES = 8;
/**
 * Slow start stops doubling while this many `$batch`es' worth of requests are in flight. A server that never sends
 * `RateLimit-*` shows its budget only with a `429`, and that throttles everything in flight with it: past two
 * batches, a faster pace only spends the window sooner (docs/throttling.md).
 */
const SLOW_START_BATCHES_IN_FLIGHT = 2;
/** After slow start, probing upward adds this fraction of the rate per probe period. */
const PROBE_GAIN = 0.1;

/**
 * The pacer's token bucket at the tenant's rate (units per second, all instances together) divided by the
 * instances sharing it. The rate starts from the tier, doubles in slow start, grows slowly while the rate alone
 * holds requests back, and is cut multiplicatively on bad news; it never falls below a hundredth of its start.
 */
export class RateBucket {
  #tenantRate: number;
  readonly #minRate: number;
  #share = 1;
  #tokens = 0;
  /** The most units one request has asked for (for the bucket's size). */
  #largestUnits = 1;
  #refilledAt: number;
  #slowStart = true;
  #decreasedAt = Number.NEGATIVE_INFINITY;
  #loweredAt = Number.NEGATIVE_INFINITY;

  constructor(tenantRate: number, now: number) {
    this.#tenantRate = tenantRate;
    this.#minRate = tenantRate / 100;
    this.#refilledAt = now;
    this.#tokens = this.#capacity();
  }

  /** The whole tenant's rate, units per second. */
  get tenantRate(): number {
    return this.#tenantRate;
  }

  /** Instances sharing the tenant's budget, this one included. */
  get share(): number {
    return this.#share;
  }

  /** When the rate last came down. */
  get loweredAt(): number {
    return this.#loweredAt;
  }

  /** This instance's rate: its share of the tenant's. */
  localRate(): number {
    return this.#tenantRate / this.#share;
  }

  /** The first sign of the budget: no more doubling. */
  endSlowStart(): void {
    this.#slowStart = false;
  }

  /** Makes room for a request of `units`: a bigger bucket, as full as it was. */
  makeRoomFor(units: number, now: number): void {
    if (units <= this.#largestUnits) return;
    this.#refill(now);
    const before = this.#capacity();
    this.#largestUnits = units;
    this.#tokens += this.#capacity() - before;
  }

  setShare(share: number, now: number): void {
    this.#refill(now);
    this.#share = Math.max(1, share);
    this.#tokens = Math.min(this.#tokens, this.#capacity());
  }

  setTenantRate(rate: number, now: number): void {
    this.#refill(now);
    const next = Math.max(this.#minRate, Math.min(rate, MAX_RATE));
    if (next < this.#tenantRate) this.#loweredAt = now;
    this.#tenantRate = next;
    this.#tokens = Math.min(this.#tokens, this.#capacity());
  }

  /** How long a request of `units` must wait for tokens (0: it may go now). */
  waitMs(units: number, now: number): number {
    this.#refill(now);
    const needed = Math.min(units, this.#capacity());
    if (this.#tokens + 1e-9 >= needed) return 0;
    return Math.max(1, ((needed - this.#tokens) / this.localRate()) * 1000);
  }

  take(units: number): void {
    this.#tokens -= units;
  }

  /**
   * The rate held requests back for `elapsedMs`: try a little more (twice as much per 8 latencies in slow start,
   * 10% per period after it), up to `ceiling` (the budget's rate as last known) unless already above it. Slow
   * start does not grow while `inFlightRequests` fill two `$batch`es.
   */
  grow(
    elapsedMs: number,
    now: number,
    periodMs: number,
    latencyMs: number,
    ceiling: number,
    inFlightRequests: number,
  ): void {
    if (this.#slowStart && inFlightRequests >= SLOW_START_BATCHES_IN_FLIGHT * BATCH_REQUESTS) return;
    const dt = Math.min(elapsedMs, periodMs / 4);
    const rate = this.#tenantRate;
    const grown = this.#slowStart
      ? rate * 2 ** (dt / (SLOW_START_LATENCIES * latencyMs))
      : rate * (1 + (PROBE_GAIN * dt) / periodMs);
    this.setTenantRate(Math.min(grown, Math.max(rate, ceiling)), now);
  }

  /** Cuts the rate by `factor`, once per burst of bad news (the 20 answers of one `$batch` arrive together). */
  decrease(factor: number, now: number, latencyMs: number): void {
    this.#slowStart = false;
    if (now - this.#decreasedAt < 2 * latencyMs) return;
    this.#decreasedAt = now;
    this.setTenantRate(this.#tenantRate * factor, now);
  }

  #capacity(): number {
    return Math.max((this.localRate() * BURST_MS) / 1000, BATCH_REQUESTS * this.#largestUnits);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#refilledAt = now;
    this.#tokens = Math.min(this.#capacity(), this.#tokens + (elapsed / 1000) * this.localRate());
  }
}
