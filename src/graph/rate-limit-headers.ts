/** A Graph answer as the pacer needs it: status 0 for a request that got no answer (reset, timeout). */
export interface PacerOutcome {
  status: number;
  headers: { get(name: string): string | null };
}

/** What an answer's `RateLimit-*` headers say (docs/throttling.md). */
export interface RateLimitInfo {
  limit: number | undefined;
  remaining: number | undefined;
  resetMs: number | undefined;
  /** `RateLimit-Reset` without a fraction (see `BudgetLearner.resetTolerance`). */
  coarseReset: boolean;
  /** A window stated by the server (`w=` of the IETF draft's `RateLimit-Limit: 1250, 1250;w=60`). */
  windowMs: number | undefined;
}

function parseNumber(value: string | null): number | undefined {
  if (value === null) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)/.exec(value);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** `Retry-After` in ms: seconds (fractional allowed) or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const seconds = parseNumber(value);
  if (seconds !== undefined && /^\s*[\d.]+\s*$/.test(value)) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** Reads `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (each may be missing). */
export function readRateLimit(headers: PacerOutcome['headers']): RateLimitInfo {
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
