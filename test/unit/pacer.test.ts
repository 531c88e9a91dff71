import type { PacerOutcome } from '../../src/graph/pacer';
import { tierForLicensedUsers } from '../../src/graph/budget-tiers';
import { TenantPacer } from '../../src/graph/pacer';
import { systemClock } from '../../src/graph/pacer-clock';
import type { SharedPacerState } from '../../src/graph/shared-pacer-state';
import { InMemoryPacerState } from '../../src/graph/shared-pacer-state';
import { FakeClock } from '../support/fake-clock';

/** A small seeded generator (mulberry32): the same latencies and faults on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- budget shapes: how a server counts units (none of them is one of docs/graph-facts.md's tiers) ----

interface Charge {
  ok: boolean;
  /** Units left after this request. */
  remaining: number;
  /** Ms until the budget resets, in the shape's own sense (sent as `RateLimit-Reset` in seconds). */
  resetMs: number;
  /** When refused: how long until the request would fit. */
  retryAfterMs: number;
}

interface BudgetShape {
  readonly name: string;
  readonly limit: number;
  /** The sustainable rate, units per second. */
  readonly unitsPerSecond: number;
  charge(now: number, units: number): Charge;
}

/** `limit` units per window; windows follow each other from `origin`. Reset: time to the window's end. */
function fixedWindow(limit: number, windowMs: number, origin: number): BudgetShape {
  let index = -1;
  let used = 0;
  return {
    name: `fixed window ${limit}/${windowMs}ms`,
    limit,
    unitsPerSecond: (limit / windowMs) * 1000,
    charge(now, units) {
      const current = Math.floor((now - origin) / windowMs);
      if (current !== index) {
        index = current;
        used = 0;
      }
      const resetMs = origin + (current + 1) * windowMs - now;
      if (used + units > limit) return { ok: false, remaining: limit - used, resetMs, retryAfterMs: resetMs };
      used += units;
      return { ok: true, remaining: limit - used, resetMs, retryAfterMs: 0 };
    },
  };
}

/** At most `limit` units in any `windowMs`. Reset: time until the oldest counted units leave the window. */
function slidingWindow(limit: number, windowMs: number): BudgetShape {
  const charges: Array<{ at: number; units: number }> = [];
  let used = 0;
  return {
    name: `sliding window ${limit}/${windowMs}ms`,
    limit,
    unitsPerSecond: (limit / windowMs) * 1000,
    charge(now, units) {
      while (charges.length > 0 && charges[0]!.at <= now - windowMs) used -= charges.shift()!.units;
      if (used + units > limit) {
        let freed = 0;
        let retryAfterMs = windowMs;
        for (const entry of charges) {
          freed += entry.units;
          if (used - freed + units <= limit) {
            retryAfterMs = entry.at + windowMs - now;
            break;
          }
        }
        return { ok: false, remaining: limit - used, resetMs: charges[0]!.at + windowMs - now, retryAfterMs };
      }
      charges.push({ at: now, units });
      used += units;
      return { ok: true, remaining: limit - used, resetMs: charges[0]!.at + windowMs - now, retryAfterMs: 0 };
    },
  };
}

/** A bucket of `capacity` refilled at `perSecond`. Reset: time until it is full again. */
function tokenBucket(capacity: number, perSecond: number, start: number): BudgetShape {
  let tokens = capacity;
  let at = start;
  return {
    name: `token bucket ${capacity} at ${perSecond}/s`,
    limit: capacity,
    unitsPerSecond: perSecond,
    charge(now, units) {
      tokens = Math.min(capacity, tokens + ((now - at) / 1000) * perSecond);
      at = now;
      const resetOf = (left: number): number => ((capacity - left) / perSecond) * 1000;
      if (tokens < units) {
        return {
          ok: false,
          remaining: tokens,
          resetMs: resetOf(tokens),
          retryAfterMs: ((units - tokens) / perSecond) * 1000,
        };
      }
      tokens -= units;
      return { ok: true, remaining: tokens, resetMs: resetOf(tokens), retryAfterMs: 0 };
    },
  };
}

// ---- a server that answers like Graph ----

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

function headerBag(values: Record<string, string>): PacerOutcome['headers'] {
  const lower = new Map(Object.entries(values).map(([key, value]) => [key.toLowerCase(), value]));
  return { get: (name) => lower.get(name.toLowerCase()) ?? null };
}

/**
 * Answers 429 with `Retry-After` when the budget is spent, adds `RateLimit-*` once 80% of it is used, and
 * refuses (with a fresh wait) any call that arrives before a `Retry-After` it gave has passed.
 */
class GraphLikeServer {
  requests = 0;
  throttled = 0;
  /** Calls that arrived before a Retry-After had passed (whether or not the client could know yet). */
  earlyArrivals = 0;
  readonly charges: Array<{ at: number; units: number }> = [];
  #blockedUntil = Number.NEGATIVE_INFINITY;
  #lastRetryAfterMs = 0;
  readonly #faults: { share: number; status: number; retryAfterMs: number; rand: () => number } | undefined;

  readonly #headers: boolean;
  readonly #retryAfterShare: number | undefined;

  /**
   * `faults`: that share of calls answers `status` with a `Retry-After` and no `RateLimit-*` (not charged).
   * `headers: false`: no answer carries `RateLimit-*` (a budget 429 has its `Retry-After` only).
   * `retryAfterShare`: a budget 429's `Retry-After` is that share of the time until the request would fit, in
   * whole seconds rounded up (as the simulator's weather has it, docs/graph-facts.md).
   */
  constructor(
    readonly shape: BudgetShape,
    faults?: { share: number; status: number; retryAfterMs: number },
    options: { headers?: boolean; retryAfterShare?: number } = {},
  ) {
    this.#faults = faults && { ...faults, rand: random(7) };
    this.#headers = options.headers ?? true;
    this.#retryAfterShare = options.retryAfterShare;
  }

  call(now: number, units: number): { outcome: PacerOutcome; retryUntil: number | undefined } {
    this.requests += 1;
    const faults = this.#faults;
    if (faults && now >= this.#blockedUntil && faults.rand() < faults.share) {
      this.throttled += 1;
      this.#lastRetryAfterMs = faults.retryAfterMs;
      this.#blockedUntil = now + faults.retryAfterMs;
      const headers = headerBag({ 'Retry-After': seconds(faults.retryAfterMs) });
      return { outcome: { status: faults.status, headers }, retryUntil: this.#blockedUntil };
    }
    if (now < this.#blockedUntil) {
      this.earlyArrivals += 1;
      this.throttled += 1;
      this.#blockedUntil = now + this.#lastRetryAfterMs;
      return {
        outcome: { status: 429, headers: headerBag({ 'Retry-After': seconds(this.#lastRetryAfterMs) }) },
        retryUntil: this.#blockedUntil,
      };
    }
    const charge = this.shape.charge(now, units);
    const rateLimit: Record<string, string> = this.#headers
      ? {
          'RateLimit-Limit': String(this.shape.limit),
          'RateLimit-Remaining': String(Math.max(0, Math.floor(charge.remaining))),
          'RateLimit-Reset': seconds(charge.resetMs),
        }
      : {};
    if (!charge.ok) {
      this.throttled += 1;
      const share = this.#retryAfterShare;
      if (share !== undefined) charge.retryAfterMs = Math.ceil((share * charge.retryAfterMs) / 1000) * 1000;
      this.#lastRetryAfterMs = charge.retryAfterMs;
      this.#blockedUntil = now + charge.retryAfterMs;
      return {
        outcome: {
          status: 429,
          headers: headerBag({ 'Retry-After': seconds(charge.retryAfterMs), ...rateLimit }),
        },
        retryUntil: this.#blockedUntil,
      };
    }
    this.charges.push({ at: now, units });
    const near = charge.remaining <= 0.2 * this.shape.limit;
    return { outcome: { status: 200, headers: headerBag(near ? rateLimit : {}) }, retryUntil: undefined };
  }

  unitsBetween(from: number, to: number): number {
    return this.charges.filter((c) => c.at >= from && c.at < to).reduce((sum, c) => sum + c.units, 0);
  }
}

// ---- a crawl: workers that always have work, each request through its instance's pacer ----

interface Send {
  pacer: number;
  sentAt: number;
  arrivedAt: number;
  status: number;
}

interface CrawlResult {
  /**
   * Requests sent after their instance could know of a 429/503 that arrived before its Retry-After had passed:
   * its own answers at once, another instance's after `shareDelayMs` (the shared state's staleness).
   */
  violations: number;
  sends: Send[];
}

interface CrawlOptions {
  clock: FakeClock;
  server: GraphLikeServer;
  pacers: TenantPacer[];
  /** Callers per pacer, each always with another request to make. */
  workers: number;
  latencyMs: number;
  durationMs: number;
  /** Inner requests per `$batch` round trip, acquired one by one before it leaves; 1 = plain requests. */
  batch?: number;
  shareDelayMs?: number;
}

const UNITS = 2;

async function crawl(options: CrawlOptions): Promise<CrawlResult> {
  const { clock, server, pacers, latencyMs } = options;
  const batch = options.batch ?? 1;
  const rand = random(1);
  const stop = new AbortController();
  const end = clock.now() + options.durationMs;
  const result: CrawlResult = { violations: 0, sends: [] };
  const known = pacers.map(() => [] as Array<{ from: number; until: number }>);
  const oneWay = (): number => (latencyMs / 2) * (0.6 + 0.8 * rand());

  const worker = async (index: number): Promise<void> => {
    const pacer = pacers[index]!;
    for (;;) {
      // As `GraphTransport.batch` does: while the pacer probes, what is granted leaves without waiting to fill.
      let granted = 0;
      try {
        while (granted < batch) {
          await pacer.acquire(UNITS, stop.signal);
          granted += 1;
          if (pacer.probing()) break;
        }
      } catch {
        return;
      }
      const sentAt = clock.now();
      await clock.sleep(oneWay());
      const arrivedAt = clock.now();
      const answers = Array.from({ length: granted }, () => server.call(arrivedAt, UNITS));
      for (const answer of answers) {
        if (known[index]!.some((hold) => hold.from <= sentAt && arrivedAt < hold.until))
          result.violations += 1;
        result.sends.push({ pacer: index, sentAt, arrivedAt, status: answer.outcome.status });
      }
      await clock.sleep(oneWay());
      for (const answer of answers) {
        if (answer.retryUntil !== undefined) {
          for (const [other, holds] of known.entries()) {
            const from = clock.now() + (other === index ? 0 : (options.shareDelayMs ?? 0));
            holds.push({ from, until: answer.retryUntil });
          }
        }
        pacer.settle(UNITS, answer.outcome);
      }
    }
  };

  const running = pacers.flatMap((_, index) => Array.from({ length: options.workers }, () => worker(index)));
  await clock.runUntil(end);
  stop.abort();
  await clock.advance(latencyMs * 4);
  await Promise.all(running);
  return result;
}

/**
 * A server that shows its budget by `429`s alone, and a pacer started at the smallest tier with six callers, each
 * sending `$batch`es of 20.
 */
async function headerlessBatchCrawl(
  shape: BudgetShape,
  options: { latencyMs: number; durationMs: number; retryAfterShare?: number },
): Promise<{ server: GraphLikeServer; result: CrawlResult }> {
  const clock = new FakeClock(START);
  const server = new GraphLikeServer(shape, undefined, {
    headers: false,
    retryAfterShare: options.retryAfterShare,
  });
  const pacer = new TenantPacer({ tenantId: 't', unitsPerMinute: tierForLicensedUsers(300), clock });
  const result = await crawl({
    clock,
    server,
    pacers: [pacer],
    workers: 6,
    batch: 20,
    latencyMs: options.latencyMs,
    durationMs: options.durationMs,
  });
  return { server, result };
}

/** Share of the sustainable budget that went through from `from` to `to`. */
function utilisation(server: GraphLikeServer, from: number, to: number): number {
  return server.unitsBetween(from, to) / ((server.shape.unitsPerSecond * (to - from)) / 1000);
}

function throttledShare(result: CrawlResult, from: number): number {
  const sends = result.sends.filter((send) => send.arrivedAt >= from);
  return sends.filter((send) => send.status === 429).length / Math.max(1, sends.length);
}

const perMinute = (shape: BudgetShape): number => shape.unitsPerSecond * 60;
const START = 1_700_000_000_000;

function answer(status: number, headers: Record<string, string> = {}): PacerOutcome {
  return { status, headers: headerBag(headers) };
}

/** Records when each promise settles, in fake time. */
function track(clock: FakeClock, promise: Promise<void>): { at: number | undefined; error: unknown } {
  const state: { at: number | undefined; error: unknown } = { at: undefined, error: undefined };
  promise.then(
    () => {
      state.at = clock.now();
    },
    (error: unknown) => {
      state.at = clock.now();
      state.error = error;
    },
  );
  return state;
}

/** A pacer fast enough that only holds make anyone wait. */
function fastPacer(
  clock: FakeClock,
  extra: Partial<ConstructorParameters<typeof TenantPacer>[0]> = {},
): TenantPacer {
  return new TenantPacer({ tenantId: 'tenant-a', unitsPerMinute: 600_000, clock, ...extra });
}

async function acquireNow(clock: FakeClock, pacer: TenantPacer): Promise<void> {
  const granted = track(clock, pacer.acquire(UNITS));
  await clock.advance(0);
  expect(granted.at).toBe(clock.now());
}

/**
 * One window of a 6,000-unit budget as its answers show it: an answer `before` ms ahead of `boundary` for each entry,
 * with `RateLimit-Reset` rounded up to whole seconds, then a plain answer just after the boundary (it reset).
 */
async function answerWholeSecondWindow(
  clock: FakeClock,
  pacer: TenantPacer,
  boundary: number,
  befores: readonly number[],
): Promise<void> {
  for (const before of befores) {
    await clock.advance(boundary - before - clock.now());
    await acquireNow(clock, pacer);
    pacer.settle(
      UNITS,
      answer(200, {
        'RateLimit-Limit': '6000',
        'RateLimit-Remaining': '1000',
        'RateLimit-Reset': String(Math.ceil(before / 1000)),
      }),
    );
  }
  await clock.advance(boundary + 10 - clock.now());
  await acquireNow(clock, pacer);
  pacer.settle(UNITS, answer(200));
}

// ---- the tests ----

describe('tierForLicensedUsers', () => {
  it.each([
    [0, 1_250],
    [1, 1_250],
    [1_000, 1_250],
    [1_001, 2_500],
    [5_000, 2_500],
    [5_001, 3_750],
    [15_000, 3_750],
    [15_001, 5_000],
    [50_000, 5_000],
    [50_001, 6_250],
    [2_000_000, 6_250],
    [Number.NaN, 1_250],
    [-5, 1_250],
  ])('gives %p licensed users %p units per minute', (users, units) => {
    expect(tierForLicensedUsers(users)).toBe(units);
  });
});

describe('TenantPacer started at the right budget', () => {
  const LIMIT = 1_000;
  const WINDOW_MS = 2_000;
  const LATENCY_MS = 40; // 10 requests in flight at the budget's rate
  const WINDOWS = 8;
  // The fixed window's first boundary after the start; measured over whole windows from the second one.
  const ORIGIN = START - 700;
  const from = ORIGIN + 2 * WINDOW_MS;
  const to = ORIGIN + WINDOWS * WINDOW_MS;

  it.each([
    ['a fixed window', () => fixedWindow(LIMIT, WINDOW_MS, ORIGIN)],
    ['a sliding window', () => slidingWindow(LIMIT, WINDOW_MS)],
    ['a token bucket', () => tokenBucket(LIMIT, (LIMIT / WINDOW_MS) * 1000, START)],
  ])(
    'spends at least 90%% of %s with at most 1%% throttled and no call during a hold',
    async (_name, shape) => {
      const clock = new FakeClock(START);
      const server = new GraphLikeServer(shape());
      const pacer = new TenantPacer({ tenantId: 't', unitsPerMinute: perMinute(server.shape), clock });
      const result = await crawl({
        clock,
        server,
        pacers: [pacer],
        workers: 20,
        latencyMs: LATENCY_MS,
        durationMs: to - START,
      });

      expect(result.violations).toBe(0);
      expect(throttledShare(result, START)).toBeLessThanOrEqual(0.01);
      expect(utilisation(server, from, to)).toBeGreaterThanOrEqual(0.9);
    },
  );

  it('spends the budget when callers acquire the 20 inner requests of a $batch before sending it', async () => {
    const clock = new FakeClock(START);
    const server = new GraphLikeServer(fixedWindow(LIMIT, WINDOW_MS, ORIGIN));
    const pacer = new TenantPacer({ tenantId: 't', unitsPerMinute: perMinute(server.shape), clock });
    const result = await crawl({
      clock,
      server,
      pacers: [pacer],
      workers: 6,
      batch: 20,
      latencyMs: LATENCY_MS,
      durationMs: to - START,
    });

    expect(result.violations).toBe(0);
    expect(throttledShare(result, START)).toBeLessThanOrEqual(0.01);
    expect(utilisation(server, from, to)).toBeGreaterThanOrEqual(0.9);
  });
});

describe('TenantPacer facing a budget and window unlike any tier', () => {
  // Each starts at the smallest tier of docs/graph-facts.md (1,250 units per minute, about 21 per second) and is measured
  // over whole windows once it has had three to learn.
  it.each([
    ['a fixed window 24 times larger', () => fixedWindow(1_000, 2_000, START), 20, 2_000],
    ['a fixed window half as large', () => fixedWindow(60, 6_000, START), 50, 6_000],
    ['a sliding window 20 times larger', () => slidingWindow(1_000, 2_400), 20, 2_400],
    ['a token bucket 3 times smaller', () => tokenBucket(40, 7, START), 50, 6_000],
  ])('learns %s and stays under it', async (_name, shape, latencyMs, windowMs) => {
    const clock = new FakeClock(START);
    const server = new GraphLikeServer(shape());
    const pacer = new TenantPacer({ tenantId: 't', unitsPerMinute: tierForLicensedUsers(300), clock });
    const learned = START + 3 * windowMs;
    const end = START + 9 * windowMs;
    const result = await crawl({
      clock,
      server,
      pacers: [pacer],
      workers: 20,
      latencyMs,
      durationMs: end - START,
    });

    expect(result.violations).toBe(0);
    expect(throttledShare(result, START)).toBeLessThanOrEqual(0.01);
    expect(throttledShare(result, learned)).toBeLessThanOrEqual(0.005);
    expect(utilisation(server, learned, end)).toBeGreaterThanOrEqual(0.85);
    expect(pacer.stats().limit).toBe(server.shape.limit);
  });

  it('keeps two $batches in flight at most in slow start, so a first 429 without RateLimit headers costs little', async () => {
    // A budget 25 times the start, shown by nothing but a 429.
    const windowMs = 2_000;
    const { server, result } = await headerlessBatchCrawl(fixedWindow(1_000, windowMs, START), {
      latencyMs: 40,
      durationMs: windowMs,
    });

    expect(result.violations).toBe(0);
    // The first window is spent (slow start found the budget), and its 429 met two $batches or less.
    expect(server.unitsBetween(START, START + windowMs)).toBeGreaterThanOrEqual(900);
    expect(result.sends.filter((send) => send.status === 429).length).toBeLessThanOrEqual(40);
  });

  it('spends each window to a share of what the last gave when only 429s show the budget', async () => {
    // Graph's weather in the simulator: no RateLimit-*, and a Retry-After that is half the time to the reset in
    // whole seconds. 15 s windows on the wall clock's grid, not the crawl's.
    const windowMs = 15_000;
    const origin = START - 1_700;
    const { server, result } = await headerlessBatchCrawl(fixedWindow(3_000, windowMs, origin), {
      latencyMs: 150,
      durationMs: 10 * windowMs,
      retryAfterShare: 0.5,
    });
    const learned = origin + 4 * windowMs;
    const end = origin + 10 * windowMs;

    expect(result.violations).toBe(0);
    // Two spells show the window (by the third window's end); from then on, each window stops at 95% of what the
    // last gave, and only a few end in a 429 (a length learned short at first, a budget probed upward). Without
    // this, 81 here: every other window met its end with 20 to 40 requests in flight.
    const late429s = result.sends.filter((send) => send.status === 429 && send.arrivedAt >= learned);
    expect(late429s.length).toBeLessThanOrEqual(50);
    expect(utilisation(server, learned, end)).toBeGreaterThanOrEqual(0.9);
  });

  it('learns the length of a fixed window from its reset times and paces at its budget', async () => {
    const clock = new FakeClock(START);
    const server = new GraphLikeServer(fixedWindow(600, 1_500, START - 100));
    const pacer = new TenantPacer({ tenantId: 't', unitsPerMinute: 1_250, clock });
    await crawl({ clock, server, pacers: [pacer], workers: 10, latencyMs: 15, durationMs: 6 * 1_500 });

    expect(pacer.stats().windowMs).toBeGreaterThan(1_500 * 0.98);
    expect(pacer.stats().windowMs).toBeLessThan(1_500 * 1.02);
    expect(pacer.stats().rateUnitsPerSecond / 400).toBeGreaterThan(0.9);
    expect(pacer.stats().rateUnitsPerSecond / 400).toBeLessThan(0.97);
  });

  it.each([
    ['a window passes without RateLimit headers', [1, 2, 4, 6, 7]],
    ['the first boundaries it sees are two windows apart', [1, 3, 5, 6]],
  ])('learns the window, not a multiple of it, when %s', async (_name, windows) => {
    const windowMs = 1_500;
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    // Three answers late in each listed window agree on its reset; a plain answer after it shows it reset.
    for (const k of windows) {
      const boundary = START + k * windowMs;
      await clock.advance(boundary - 300 - clock.now());
      for (let i = 0; i < 3; i++) {
        await acquireNow(clock, pacer);
        pacer.settle(
          UNITS,
          answer(200, {
            'RateLimit-Limit': '600',
            'RateLimit-Remaining': '100',
            'RateLimit-Reset': ((boundary - clock.now()) / 1000).toFixed(3),
          }),
        );
      }
      await clock.advance(boundary + 10 - clock.now());
      await acquireNow(clock, pacer);
      pacer.settle(UNITS, answer(200));
    }

    expect(pacer.stats().windowMs).toBeGreaterThan(windowMs * 0.98);
    expect(pacer.stats().windowMs).toBeLessThan(windowMs * 1.02);
  });

  it('learns a window from whole-second resets as the mean of the distances, not the last one', async () => {
    const windowMs = 15_000;
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    // Each window's answers come a different time before its end; `RateLimit-Reset` rounds up to whole seconds,
    // so each boundary is seen up to a second late, and two in a row may be 14.4 to 15.8 s apart.
    const before = [2_300, 2_900, 2_100, 2_700, 2_500, 2_200, 2_800, 2_400];
    for (const [index, early] of before.entries()) {
      await answerWholeSecondWindow(clock, pacer, START + (index + 1) * windowMs, [early, early, early]);
    }

    expect(pacer.stats().windowMs).toBeGreaterThan(windowMs * 0.98);
    expect(pacer.stats().windowMs).toBeLessThan(windowMs * 1.02);
  });

  it('learns a window from whole-second resets by the earliest each window names, within its first boundaries', async () => {
    const windowMs = 15_000;
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    // Answers every 100 ms over each window's last seconds, `RateLimit-Reset` rounded up to whole seconds. The
    // first answer of the second window names its boundary 0.9 s late and the others' 0.1 s: from first answers
    // the distances would read 15.8 and 14.2 s, and the window 14.2 (a pace 5% over the budget).
    const firstBefore = [2_900, 2_100, 2_900];
    for (const [index, early] of firstBefore.entries()) {
      const everyTenth = Array.from({ length: (early - 200) / 100 + 1 }, (_, step) => early - 100 * step);
      await answerWholeSecondWindow(clock, pacer, START + (index + 1) * windowMs, everyTenth);
    }

    expect(pacer.stats().windowMs).toBeGreaterThan(windowMs * 0.995);
    expect(pacer.stats().windowMs).toBeLessThan(windowMs * 1.005);
  });

  it('holds through injected 503s without lowering its rate', async () => {
    const clock = new FakeClock(START);
    const shape = fixedWindow(600, 2_000, START);
    const server = new GraphLikeServer(shape, { share: 0.005, status: 503, retryAfterMs: 100 });
    const pacer = new TenantPacer({ tenantId: 't', unitsPerMinute: perMinute(shape), clock });
    const result = await crawl({
      clock,
      server,
      pacers: [pacer],
      workers: 20,
      latencyMs: 40,
      durationMs: 8 * 2_000,
    });

    expect(result.violations).toBe(0);
    expect(pacer.stats().holds).toBeGreaterThan(3);
    expect(utilisation(server, START + 2_000, START + 16_000)).toBeGreaterThanOrEqual(0.85);
  });
});

describe('TenantPacer after a 429 or 503', () => {
  it.each([
    [
      'Retry-After when RateLimit-Reset is shorter',
      429,
      { 'Retry-After': '0.8', 'RateLimit-Reset': '0.3' },
      800,
    ],
    [
      'RateLimit-Reset when Retry-After is shorter',
      429,
      {
        'Retry-After': '0.35',
        'RateLimit-Reset': '0.6',
        'RateLimit-Remaining': '0',
        'RateLimit-Limit': '50',
      },
      600,
    ],
    ['Retry-After of a 503', 503, { 'Retry-After': '0.5' }, 500],
    ['Retry-After given as a date', 429, { 'Retry-After': new Date(START + 3_000).toUTCString() }, 2_950],
    ['one second when no wait is given', 429, {}, 1_000],
  ])('holds every waiting request until %s has passed', async (_name, status, headers, waitMs) => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    await acquireNow(clock, pacer);
    await acquireNow(clock, pacer);
    // A short hold first, so that all ten are waiting when the answer under test comes.
    pacer.settle(UNITS, answer(503, { 'Retry-After': '0.1' }));
    const waiting = Array.from({ length: 10 }, () => track(clock, pacer.acquire(UNITS)));
    await clock.advance(50);
    pacer.settle(UNITS, answer(status, headers));
    const throttledAt = clock.now();
    // The hold itself (what other instances read) covers the whole wait.
    expect(pacer.holdUntil()).toBeGreaterThanOrEqual(throttledAt + waitMs);

    await clock.advance(waitMs - 1);
    expect(waiting.filter((w) => w.at !== undefined)).toHaveLength(0);
    // (After a 429 that said the budget is spent, the pacer probes with one request before opening again.)
    await clock.advance(5_000);
    for (const w of waiting) {
      expect(w.error).toBeUndefined();
      expect(w.at).toBeGreaterThanOrEqual(throttledAt + waitMs);
    }
  });

  it('after a budget 429 without RateLimit headers, lets a probe go first, then the rest once it is answered', async () => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    await acquireNow(clock, pacer);
    await acquireNow(clock, pacer);
    // No RateLimit-Reset: the Retry-After may end before the window does.
    pacer.settle(UNITS, answer(429, { 'Retry-After': '1' }));
    const throttledAt = clock.now();
    const waiting = Array.from({ length: 30 }, () => track(clock, pacer.acquire(UNITS)));

    await clock.advance(1_040);
    const first = waiting.filter((w) => w.at !== undefined);
    // The probe: one request (2 units), however long the rest has waited; a $batch would send it alone.
    expect(first).toHaveLength(1);
    expect(pacer.probing()).toBe(true);
    for (const w of first) expect(w.at).toBeGreaterThanOrEqual(throttledAt + 1_000);
    pacer.settle(UNITS, answer(200));
    expect(pacer.probing()).toBe(false);
    await clock.advance(2_000);
    expect(waiting.every((w) => w.at !== undefined && w.error === undefined)).toBe(true);
  });

  it('after a probe is throttled again without RateLimit headers, waits at least the last hold again', async () => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    await acquireNow(clock, pacer);
    // Graph's Retry-After may be a share of the time to the window's reset (here half of 8 s, then half of the
    // 4 s left): waiting only the newer, shorter one would send probe after probe into a window still spent.
    pacer.settle(UNITS, answer(429, { 'Retry-After': '4' }));
    await clock.advance(4_100);
    await acquireNow(clock, pacer);
    const probeThrottledAt = clock.now();
    pacer.settle(UNITS, answer(429, { 'Retry-After': '2' }));
    expect(pacer.holdUntil() - probeThrottledAt).toBeGreaterThanOrEqual(4_000);
    // Once an answer gets through, the window has reset; the reset came twice the first Retry-After after the
    // 429, so the next such 429 holds twice its Retry-After, and its first probe gets through.
    await clock.advance(4_100);
    await acquireNow(clock, pacer);
    pacer.settle(UNITS, answer(200));
    await acquireNow(clock, pacer);
    const laterAt = clock.now();
    pacer.settle(UNITS, answer(429, { 'Retry-After': '1' }));
    expect(pacer.holdUntil() - laterAt).toBeGreaterThanOrEqual(2_000);
    expect(pacer.holdUntil() - laterAt).toBeLessThan(2_100);
  });

  it('extends the hold when a later answer asks for longer', async () => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    await acquireNow(clock, pacer);
    await acquireNow(clock, pacer);
    pacer.settle(UNITS, answer(429, { 'Retry-After': '1' }));
    await clock.advance(500);
    pacer.settle(UNITS, answer(429, { 'Retry-After': '1' }));
    const waiting = track(clock, pacer.acquire(UNITS));

    await clock.advance(990);
    expect(waiting.at).toBeUndefined();
    await clock.advance(100);
    expect(waiting.at).toBeGreaterThanOrEqual(START + 1_500);
  });

  it('doubles the default hold while throttled answers without a wait keep coming', async () => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    for (const expectedMs of [1_000, 2_000, 4_000]) {
      await acquireNow(clock, pacer);
      const at = clock.now();
      pacer.settle(UNITS, answer(503));
      expect(pacer.holdUntil() - at).toBeGreaterThanOrEqual(expectedMs);
      expect(pacer.holdUntil() - at).toBeLessThan(expectedMs * 1.05 + 50);
      await clock.advance(pacer.holdUntil() - at);
    }
  });

  it('lowers its rate on a budget 429 but not on a 503', async () => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    const rate = pacer.stats().rateUnitsPerSecond;
    await acquireNow(clock, pacer);
    pacer.settle(UNITS, answer(503, { 'Retry-After': '0.1' }));
    expect(pacer.stats().rateUnitsPerSecond).toBe(rate);
    await clock.advance(200);
    await acquireNow(clock, pacer);
    pacer.settle(
      UNITS,
      answer(429, {
        'Retry-After': '0.1',
        'RateLimit-Limit': '20000',
        'RateLimit-Remaining': '0',
        'RateLimit-Reset': '0.1',
      }),
    );
    expect(pacer.stats().rateUnitsPerSecond).toBeLessThan(rate * 0.75);
    expect(pacer.stats().throttled).toBe(2);
    expect(pacer.stats().holds).toBe(2);
  });

  it('sends no more than RateLimit-Remaining before RateLimit-Reset, however fast its rate', async () => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    await acquireNow(clock, pacer);
    pacer.settle(
      UNITS,
      answer(200, { 'RateLimit-Limit': '1000', 'RateLimit-Remaining': '10', 'RateLimit-Reset': '2' }),
    );
    const waiting = Array.from({ length: 8 }, () => track(clock, pacer.acquire(UNITS)));

    await clock.advance(1_990);
    expect(waiting.filter((w) => w.at !== undefined)).toHaveLength(5);
    await clock.advance(200);
    expect(waiting.filter((w) => w.at !== undefined).length).toBeGreaterThan(5);
  });
});

describe('TenantPacer on several instances', () => {
  it('stops when another instance got a 429, through the shared state', async () => {
    const clock = new FakeClock(START);
    const shared = new InMemoryPacerState(() => clock.now());
    const a = fastPacer(clock, { shared, instanceId: 'a' });
    const b = fastPacer(clock, { shared, instanceId: 'b' });
    await acquireNow(clock, a);
    await acquireNow(clock, b);
    a.settle(UNITS, answer(429, { 'Retry-After': '3' }));
    const throttledAt = clock.now();

    // Within the shared state's staleness (at most two refresh periods), then never before the hold ends.
    await clock.advance(500);
    const waiting = track(clock, b.acquire(UNITS));
    await clock.advance(3_000 - 500 - 1);
    expect(waiting.at).toBeUndefined();
    await clock.advance(200);
    expect(waiting.at).toBeGreaterThanOrEqual(throttledAt + 3_000);
    expect(b.stats().holds).toBe(1);
  });

  it('reads the shared state only with its heartbeat while alone, and every refresh period once others join', async () => {
    const clock = new FakeClock(START);
    const inner = new InMemoryPacerState(() => clock.now());
    const calls = { reads: 0, heartbeats: 0 };
    const shared: SharedPacerState = {
      readHold: (tenantId) => ((calls.reads += 1), inner.readHold(tenantId)),
      extendHold: (tenantId, untilMs) => inner.extendHold(tenantId, untilMs),
      heartbeat: (tenantId, instanceId, ttlMs) => (
        (calls.heartbeats += 1),
        inner.heartbeat(tenantId, instanceId, ttlMs)
      ),
    };
    const a = fastPacer(clock, { shared, instanceId: 'a' });
    const grants: number[] = [];
    const stop = new AbortController();
    const flow = (async () => {
      for (;;) {
        try {
          await a.acquire(UNITS, stop.signal);
        } catch {
          return;
        }
        grants.push(clock.now());
        a.settle(UNITS, answer(200));
        await clock.sleep(20);
      }
    })();

    // Alone for 5 s of flowing requests: one heartbeat a second (250 ms refresh), no separate read.
    await clock.advance(5_000);
    expect(calls.reads).toBe(0);
    expect(calls.heartbeats).toBeGreaterThanOrEqual(5);
    expect(calls.heartbeats).toBeLessThanOrEqual(6);

    // Another instance joins and is throttled at once: A learns of it at its next heartbeat, reads the hold
    // there, and sends nothing until the hold ends.
    const b = fastPacer(clock, { shared, instanceId: 'b' });
    await acquireNow(clock, b);
    b.settle(UNITS, answer(429, { 'Retry-After': '3' }));
    const throttledAt = clock.now();
    await clock.advance(3_500);
    const late = grants.filter((at) => at > throttledAt + 1_050 && at < throttledAt + 3_000);
    expect(late).toEqual([]);
    expect(grants.some((at) => at >= throttledAt + 3_000)).toBe(true);

    // Not alone any more: the hold is read every refresh period between heartbeats.
    const readsBefore = calls.reads;
    await acquireNow(clock, b); // B stays registered
    await clock.advance(2_000);
    expect(calls.reads - readsBefore).toBeGreaterThanOrEqual(4);
    stop.abort();
    await clock.advance(100);
    await flow;
  });

  it('reads the shared hold before sending after a pause', async () => {
    const clock = new FakeClock(START);
    const shared = new InMemoryPacerState(() => clock.now());
    const a = fastPacer(clock, { shared, instanceId: 'a' });
    const b = fastPacer(clock, { shared, instanceId: 'b' });
    await acquireNow(clock, b);
    await clock.advance(10_000);
    await acquireNow(clock, a);
    a.settle(UNITS, answer(429, { 'Retry-After': '2' }));

    const waiting = track(clock, b.acquire(UNITS));
    await clock.advance(1_990);
    expect(waiting.at).toBeUndefined();
    await clock.advance(100);
    expect(waiting.at).toBeGreaterThanOrEqual(START + 12_000);
  });

  it('splits one budget between two instances and stays under it together', async () => {
    const clock = new FakeClock(START);
    const shared = new InMemoryPacerState(() => clock.now());
    const server = new GraphLikeServer(fixedWindow(1_000, 2_000, START));
    const pacers = ['a', 'b'].map(
      (instanceId) =>
        new TenantPacer({
          tenantId: 't',
          unitsPerMinute: perMinute(server.shape),
          clock,
          shared,
          instanceId,
        }),
    );
    const result = await crawl({
      clock,
      server,
      pacers,
      workers: 15,
      latencyMs: 40,
      durationMs: 8 * 2_000,
      shareDelayMs: 500,
    });

    expect(result.violations).toBe(0);
    expect(throttledShare(result, START)).toBeLessThanOrEqual(0.01);
    expect(utilisation(server, START + 4_000, START + 16_000)).toBeGreaterThanOrEqual(0.85);
    for (const [index, pacer] of pacers.entries()) {
      expect(pacer.stats().share).toBe(2);
      expect(pacer.stats().rateUnitsPerSecond).toBeLessThanOrEqual(0.55 * server.shape.unitsPerSecond);
      const mine = result.sends.filter((send) => send.pacer === index && send.status === 200).length;
      expect(mine / result.sends.filter((send) => send.status === 200).length).toBeGreaterThan(0.3);
    }
  });

  it('keeps granting at its rate while the shared storage is slow to answer', async () => {
    const grantedWith = async (shared: SharedPacerState | undefined): Promise<number> => {
      const clock = new FakeClock(START);
      const pacer = new TenantPacer({
        tenantId: 't',
        unitsPerMinute: 6_000,
        clock,
        shared: shared && slow(shared, clock),
      });
      const stop = new AbortController();
      let granted = 0;
      const caller = async (): Promise<void> => {
        for (;;) {
          try {
            await pacer.acquire(UNITS, stop.signal);
          } catch {
            return;
          }
          granted += UNITS;
          await clock.sleep(20);
          pacer.settle(
            UNITS,
            answer(200, {
              'RateLimit-Limit': '100000',
              'RateLimit-Remaining': '90000',
              'RateLimit-Reset': '60',
            }),
          );
        }
      };
      const callers = Array.from({ length: 4 }, caller);
      await clock.advance(10_000);
      stop.abort();
      await clock.advance(1_000);
      await Promise.all(callers);
      return granted;
    };
    // Every storage call takes 1.5 s.
    const slow = (inner: SharedPacerState, clock: FakeClock): SharedPacerState => ({
      readHold: async (tenantId) => (await clock.sleep(1_500), inner.readHold(tenantId)),
      extendHold: (tenantId, untilMs) => inner.extendHold(tenantId, untilMs),
      heartbeat: async (tenantId, instanceId, ttlMs) => (
        await clock.sleep(600),
        inner.heartbeat(tenantId, instanceId, ttlMs)
      ),
    });

    const alone = await grantedWith(undefined);
    const shared = await grantedWith(new InMemoryPacerState());
    // Only the first grant waits for a read (1.5 s at about 95 units a second); the rest flows meanwhile.
    expect(alone - shared).toBeLessThanOrEqual(1.5 * 100);
  });

  it('counts instances by heartbeat and forgets those that stopped', async () => {
    const clock = new FakeClock(START);
    const shared = new InMemoryPacerState(() => clock.now());
    const instances = async (tenantId: string, instanceId: string): Promise<number> =>
      (await shared.heartbeat(tenantId, instanceId, 1_000)).instances;
    expect(await instances('t', 'a')).toBe(1);
    expect(await instances('t', 'b')).toBe(2);
    expect(await instances('other', 'c')).toBe(1);
    await clock.advance(600);
    expect(await instances('t', 'b')).toBe(2);
    await clock.advance(600);
    expect(await instances('t', 'b')).toBe(1);
    expect(await shared.readHold('t')).toBe(0);
    await shared.extendHold('t', 5_000);
    await shared.extendHold('t', 4_000);
    expect(await shared.readHold('t')).toBe(5_000);
    expect(await shared.heartbeat('t', 'b', 1_000)).toEqual({ instances: 1, holdUntil: 5_000 });
    expect((await shared.heartbeat('other', 'c', 1_000)).holdUntil).toBe(0);
  });
});

describe('TenantPacer and AbortSignal', () => {
  it('rejects a waiting acquire as soon as its signal aborts, and serves the others', async () => {
    const clock = new FakeClock(START);
    const pacer = fastPacer(clock);
    await acquireNow(clock, pacer);
    pacer.settle(UNITS, answer(429, { 'Retry-After': '5' }));
    const controller = new AbortController();
    const aborted = track(clock, pacer.acquire(UNITS, controller.signal));
    const other = track(clock, pacer.acquire(UNITS));
    await clock.advance(100);

    const reason = new Error('the batch deadline passed');
    controller.abort(reason);
    await clock.advance(0);
    expect(aborted.at).toBe(START + 100);
    expect(aborted.error).toBe(reason);
    await clock.advance(5_100);
    expect(other.error).toBeUndefined();
    expect(other.at).toBeGreaterThanOrEqual(START + 5_000);
    expect(pacer.stats().unitsAcquired).toBe(2 * UNITS);
  });

  it('rejects at once with a signal that is already aborted', async () => {
    const pacer = fastPacer(new FakeClock(START));
    await expect(pacer.acquire(UNITS, AbortSignal.abort(new Error('stopped')))).rejects.toThrow('stopped');
    expect(pacer.stats().unitsAcquired).toBe(0);
  });

  it('has a system clock whose sleep ends on time or with the abort reason', async () => {
    const started = Date.now();
    await systemClock.sleep(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(19);
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort(new Error('enough'));
    await expect(sleeping).rejects.toThrow('enough');
  });
});
