import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import type { TokenCredential } from '@azure/identity';
import type { GraphErrorCode } from '../errors';
import { GraphError } from '../errors';
import { graphErrorCode, headerBag } from './graph-error-body';
import type { BodyChunkListener } from './node-http-handler';
import { isForeignOrigin, isHeldBack, NodeHttpMessageHandler } from './node-http-handler';
import type { GraphCounters, RequestPacer } from './graph-types';

export interface TenantGraphOptions {
  tenantId: string;
  /** Graph root, e.g. `https://graph.microsoft.com`; tokens go to this origin only. */
  graphEndpoint: string;
  /** App-only credential for this tenant. */
  credential: TokenCredential;
  pacer: RequestPacer;
  /** `ISV|<name>|DriveCrawler/<version>` (Microsoft's traffic decoration). */
  userAgent: string;
  /** Counters that every request, retry and throttled answer is added to. */
  counters?: GraphCounters;
  /** Give up on an answer after this long (then retry). */
  requestTimeoutMs?: number;
  /** Attempts per request before it fails (throttled answers and transient failures alike). */
  maxAttempts?: number;
  /** Pause before retrying a 5xx or network failure (doubles each time, capped at 30 s). */
  backoffMs?: number;
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface BatchAnswer {
  id: string;
  status: number;
  headers?: Record<string, unknown>;
  body?: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_ATTEMPTS = 8;
export const DEFAULT_BACKOFF_MS = 500;

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function codeForStatus(status: number): GraphErrorCode {
  if (status === 404) return 'graph_not_found';
  if (status === 403) return 'graph_forbidden';
  if (status === 401) return 'graph_unauthorized';
  if (status === 429) return 'graph_throttled';
  if (status === 503 || status === 504) return 'graph_unavailable';
  if (status >= 400 && status < 500) return 'graph_bad_request';
  return 'graph_failed';
}

export const isThrottle = (status: number): boolean => status === 429 || status === 503;
export const isRetryable = (status: number): boolean => status === 0 || status === 429 || status >= 500;

/** A `$batch` whose grants a hold made stale before it left: its caller gives them back and acquires again. */
class StaleGrant extends Error {
  constructor() {
    super('granted before a hold began');
    this.name = 'StaleGrant';
  }
}

/** One HTTP round trip's outcome; status 0 when no answer came (a reset, a timeout, a body that is not JSON). */
export interface SendResult {
  status: number;
  headers: { get(name: string): string | null };
  body: unknown;
  /** False when the request never left (the wait for a hold or the token lookup failed). */
  sent: boolean;
}

/**
 * The HTTP side of one tenant's Graph access: every request is paced (acquired before, settled with its answer),
 * waits out the tenant's hold, carries the token only to the Graph origin (added at the wire), is counted, and is
 * retried here, never by the Graph client's own middleware. `TenantGraph` builds Graph's operations on it.
 */
export class GraphTransport {
  readonly tenantId: string;
  readonly counters: GraphCounters;
  readonly origin: string;
  readonly #scope: string;
  readonly #client: Client;
  readonly #options: TenantGraphOptions;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: TenantGraphOptions, counters: GraphCounters) {
    this.tenantId = options.tenantId;
    this.#options = options;
    this.counters = counters;
    this.origin = new URL(options.graphEndpoint).origin;
    this.#scope = `${this.origin}/.default`;
    this.sleep = options.sleep ?? defaultSleep;
    // Only the transport of the Graph client: no RetryHandler (its retries would bypass the pacer and the
    // counters) and no AuthenticationHandler (token failures must surface as typed errors, see #send).
    this.#client = Client.initWithMiddleware({
      baseUrl: `${this.origin}/`,
      defaultVersion: 'v1.0',
      customHosts: new Set([new URL(this.origin).hostname]),
      // The last check of the hold is at the wire: right before a request's first byte (docs/throttling.md).
      // The token is added there too, only for the Graph origin (docs/throttling.md and the contract).
      middleware: new NodeHttpMessageHandler(
        {
          holdUntil: () => options.pacer.holdUntil?.() ?? 0,
          reading: () => options.pacer.readingBody?.() ?? (() => undefined),
          whenRead: () => options.pacer.bodiesRead?.(),
        },
        { origin: this.origin },
      ),
    });
  }

  /** Attempts per request before it fails, and the first pause before retrying a 5xx or network failure. */
  get retries(): { maxAttempts: number; backoffMs: number; signal: AbortSignal | undefined } {
    return {
      maxAttempts: this.#options.maxAttempts ?? DEFAULT_ATTEMPTS,
      backoffMs: this.#options.backoffMs ?? DEFAULT_BACKOFF_MS,
      signal: this.#options.signal,
    };
  }

  /** A nextLink to another host would carry our token there: refuse. */
  assertGraphOrigin(url: string): void {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    // Compared again at the wire on the URL actually sent (NodeHttpMessageHandler): this is the early, clear error.
    if (!parsed || parsed.origin !== this.origin || parsed.username || parsed.password) {
      throw new GraphError('graph_bad_request', this.tenantId, 0, 'ForeignNextLink');
    }
  }

  #held(): boolean {
    return (this.#options.pacer.holdUntil?.() ?? 0) > Date.now();
  }

  async #waitOutHold(): Promise<void> {
    const pacer = this.#options.pacer;
    for (;;) {
      const wait = (pacer.holdUntil?.() ?? 0) - Date.now();
      if (wait <= 0) return;
      await this.sleep(wait, this.#options.signal);
    }
  }

  async token(): Promise<string> {
    // Throws TokenError (typed) straight to the caller; the credential caches the token until near expiry.
    const token = await this.#options.credential.getToken(this.#scope, { abortSignal: this.#options.signal });
    if (!token) throw new GraphError('graph_unauthorized', this.tenantId, 401, 'NoToken');
    return token.token;
  }

  /** One paced, counted, retried GET of a Graph URL on the Graph origin. */
  async getJson<T>(url: string, units: number, headers: Record<string, string> = {}): Promise<T> {
    this.assertGraphOrigin(url);
    const maxAttempts = this.#options.maxAttempts ?? DEFAULT_ATTEMPTS;
    let backoff = this.#options.backoffMs ?? DEFAULT_BACKOFF_MS;
    // Throttled answers wait (the pacer holds the tenant) and spend no attempt: only the caller's deadline ends
    // that wait (docs/throttling.md). Other failures have `maxAttempts`.
    for (let attempt = 1; ;) {
      const { status, body } = await this.send('GET', url, units, headers);
      if (status >= 200 && status < 300) return body as T;
      if (isThrottle(status)) continue;
      if (!isRetryable(status) || attempt >= maxAttempts) {
        throw new GraphError(codeForStatus(status), this.tenantId, status, graphErrorCode(body));
      }
      attempt += 1;
      await this.sleep(backoff, this.#options.signal);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }

  /**
   * Sends `gets` as one `$batch`, each paced and charged at its own price in units; answers come back in the order
   * of `gets`. While the pacer probes (after a hold that named no reset), the requests granted so far leave at once
   * and the rest follow in another `$batch`: a probe that meets a window still spent costs one request, not a
   * `$batch` of them (docs/throttling.md).
   */
  async batch(gets: ReadonlyArray<{ path: string; units: number }>): Promise<BatchAnswer[]> {
    const answers = Array.from<BatchAnswer | undefined>({ length: gets.length });
    let pending = gets.map((_, index) => index);
    while (pending.length > 0) {
      for (const [index, answer] of await this.#batchPart(gets, pending)) answers[index] = answer;
      pending = pending.filter((index) => answers[index] === undefined);
    }
    return answers as BatchAnswer[];
  }

  /**
   * Acquires the `pending` of `gets`, in order, and sends those granted as one `$batch` (all of them, or those
   * granted before the pacer began to probe); answers by index in `gets`. Grants a hold made stale go back: those
   * requests stay pending for a later part.
   */
  async #batchPart(
    gets: ReadonlyArray<{ path: string; units: number }>,
    pending: readonly number[],
  ): Promise<Map<number, BatchAnswer>> {
    const pacer = this.#options.pacer;
    let granted: number[] = [];
    const giveBack = (): void => {
      for (const index of granted) pacer.returnGrant!(gets[index]!.units);
      granted = [];
    };
    let outer: SendResult;
    // An inner 429/503 is known only once the whole body is parsed; from the moment its bytes arrive the tenant
    // is held (pinned), so that nothing leaves before its `Retry-After` is read (docs/throttling.md).
    let unpin: (() => void) | undefined;
    const watch = throttleScanner(() => {
      unpin ??= pacer.pinHold?.();
    });
    try {
      for (;;) {
        let lastGrantAt = 0;
        for (const index of pending) {
          await pacer.acquire(gets[index]!.units, this.#options.signal);
          // A hold began while this request waited for its grant: those granted before it belong to a window that
          // is gone. They go back and stay pending; this one, granted after the hold (the probe, if the pacer
          // sends one), goes on.
          if (granted.length > 0 && pacer.returnGrant && (pacer.holdBeganAt?.() ?? 0) >= lastGrantAt)
            giveBack();
          granted.push(index);
          lastGrantAt = Date.now();
          if (pacer.probing?.()) break;
        }
        const requests = granted.map((index) => ({
          id: String(index + 1),
          method: 'GET',
          url: gets[index]!.path,
        }));
        try {
          outer = await this.send('POST', `${this.origin}/v1.0/$batch`, 0, {}, { requests }, true, watch);
          break;
        } catch (error) {
          if (!(error instanceof StaleGrant)) throw error;
          // A hold began before the `$batch` left: its grants go back, and it is gathered again after the hold.
          giveBack();
        }
      }
    } catch (error) {
      unpin?.();
      // No answer (no token, an abort): the units granted so far go back, or the tenant's pacer would keep
      // counting them in flight.
      for (const index of granted) pacer.settle(gets[index]!.units, { status: 0, headers: headerBag({}) });
      throw error;
    }
    if (outer.sent) this.counters.requests += granted.length;
    const byId = new Map<string, BatchAnswer>();
    if (outer.status >= 200 && outer.status < 300) {
      for (const answer of (outer.body as { responses?: BatchAnswer[] }).responses ?? [])
        byId.set(answer.id, answer);
    }
    // Released in the same tick as the settling below, which declares the real holds.
    unpin?.();
    const answers = new Map<number, BatchAnswer>();
    for (const index of granted) {
      const id = String(index + 1);
      const { units } = gets[index]!;
      const answer = byId.get(id) ?? { id, status: outer.status === 200 ? 0 : outer.status };
      const status = answer.status;
      if (isThrottle(status)) this.counters.throttled += 1;
      // Only an inner answer proves Graph took the request (and charged it).
      if (byId.has(id)) this.counters.unitsSpent += units;
      pacer.settle(units, { status, headers: headerBag(answer.headers) });
      answers.set(index, answer);
    }
    return answers;
  }

  /**
   * One HTTP round trip. For a plain request it acquires the units from the pacer and settles them with the
   * answer; for `$batch` (`prepaid`) the caller does that per inner request.
   */
  async send(
    method: 'GET' | 'POST',
    url: string,
    units: number,
    headers: Record<string, string>,
    body?: unknown,
    prepaid = false,
    onBodyChunk?: BodyChunkListener,
  ): Promise<SendResult> {
    const signal = this.#options.signal;
    if (!prepaid) {
      await this.#options.pacer.acquire(units, signal);
    }
    let status = 0;
    let answerHeaders: { get(name: string): string | null } = headerBag({});
    let parsed: unknown;
    let sent = false;
    // The request's own timeout, and the caller's signal passed on: one controller whose timer is cleared when the
    // answer is in (`AbortSignal.timeout` + `AbortSignal.any` cost ~1 µs per stored item on the benchmark's large
    // tenant, and left a pending timer per request until it fired).
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const forward = (): void => controller.abort(signal?.reason);
    if (signal?.aborted) forward();
    else signal?.addEventListener('abort', forward, { once: true });
    // A plain request is settled with its answer's head, before the body is read: a 429 holds the tenant at once.
    let settled = prepaid;
    const settle = (answerStatus: number, head: { get(name: string): string | null }): void => {
      if (settled) return;
      settled = true;
      if (isThrottle(answerStatus)) this.counters.throttled += 1;
      if (answerStatus > 0) this.counters.unitsSpent += units;
      this.#options.pacer.settle(units, { status: answerStatus, headers: head });
    };
    try {
      const token = await this.token();
      for (;;) {
        // A 429 may have arrived for another request since this one was granted (the token lookup above can
        // yield), or it was taken back at the wire (below): the grant belongs to a window that is gone. It goes
        // back and the request queues again, so that the hold's end lets out what the pacer says (a probe first
        // after a hold that named no reset), not everything granted before the hold (docs/throttling.md). A
        // `$batch` does that for each inner request (`StaleGrant`). The handler reads the hold once more right
        // before the first byte.
        if (this.#held()) {
          const pacer = this.#options.pacer;
          if (!pacer.returnGrant) await this.#waitOutHold();
          else if (prepaid) throw new StaleGrant();
          else {
            pacer.returnGrant(units);
            settled = true;
            await pacer.acquire(units, signal);
            settled = false;
            continue;
          }
        }
        // Counted once it leaves: an attempt that got no token (Entra ID or Key Vault failing) sent nothing.
        if (!sent && !prepaid) this.counters.requests += 1;
        sent = true;
        // The timeout runs from when the request leaves, not while it waited for a token or a hold.
        timer = setTimeout(
          () => controller.abort(new DOMException('The Graph request timed out', 'TimeoutError')),
          this.#options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
        );
        const request = this.#client
          .api(url)
          .headers({
            ...headers,
            'User-Agent': this.#options.userAgent,
            Accept: 'application/json',
          })
          .option('signal', controller.signal)
          .option('bearer', token)
          .option('onAnswerHead', settle)
          .option('onBodyChunk', onBodyChunk)
          .responseType(ResponseType.RAW);
        try {
          const response = (await (method === 'GET' ? request.get() : request.post(body))) as Response;
          status = response.status;
          answerHeaders = response.headers;
          const text = await response.text();
          parsed = text ? (JSON.parse(text) as unknown) : undefined;
          break;
        } catch (error) {
          if (isForeignOrigin(error)) {
            // Refused before anything left: not a request.
            if (!prepaid) this.counters.requests -= 1;
            throw new GraphError('graph_bad_request', this.tenantId, 0, 'ForeignNextLink');
          }
          // Taken back unwritten: a hold began while it waited for its socket (not an attempt, not a request).
          if (!isHeldBack(error) || signal?.aborted) throw error;
          clearTimeout(timer);
        }
      }
    } catch (error) {
      if (error instanceof StaleGrant) throw error;
      if (signal?.aborted) {
        settle(0, answerHeaders);
        throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      }
      if ((error as { name?: string }).name === 'TokenError' || error instanceof GraphError) {
        settle(0, answerHeaders);
        throw error;
      }
      // A reset, a timeout or a body that is not JSON: status 0, retried like a 5xx.
      status = 0;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', forward);
    }
    // An answer whose body failed settles here with what its head said; no answer at all, as status 0.
    settle(status, answerHeaders);
    return { status, headers: answerHeaders, body: parsed, sent };
  }
}

const STATUS_KEY = Buffer.from('"status"', 'latin1');
/** What follows an inner answer's `"status"` key when it is 429 or 503 (a key never occurs inside a string: quotes
 * there are escaped). */
const THROTTLED_VALUE = /^\s*:\s*(?:429|503)\b/;
/** Bytes kept from the end of one chunk, so that a status split across two chunks is seen. */
const SCAN_OVERLAP = 32;

function hasThrottledStatus(bytes: Buffer): boolean {
  for (let at = bytes.indexOf(STATUS_KEY); at !== -1; at = bytes.indexOf(STATUS_KEY, at + 1)) {
    const start = at + STATUS_KEY.length;
    if (THROTTLED_VALUE.test(bytes.toString('latin1', start, start + 16))) return true;
  }
  return false;
}

/** Calls `found` once a body's chunks show a throttled inner answer, without decoding the body. */
function throttleScanner(found: () => void): BodyChunkListener {
  let tail = Buffer.alloc(0);
  let seen = false;
  return (chunk) => {
    if (seen) return;
    const seam = Buffer.concat([tail, chunk.subarray(0, SCAN_OVERLAP)]);
    if (hasThrottledStatus(seam) || hasThrottledStatus(chunk)) {
      seen = true;
      found();
      return;
    }
    tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - SCAN_OVERLAP)));
  };
}
