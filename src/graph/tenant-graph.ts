import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import type { TokenCredential } from '@azure/identity';
import type { GraphErrorCode } from '../errors';
import { GraphError } from '../errors';
import { tokenClaims } from '../identity/tenant-credentials';
import type { DriveSkip } from './drive-answer';
import { classifyDriveAnswer, failingSkip } from './drive-answer';
import { graphErrorCode, headerBag } from './graph-error-body';
import type { BodyChunkListener } from './node-http-handler';
import { isForeignOrigin, isHeldBack, NodeHttpMessageHandler } from './node-http-handler';
import type { GraphCounters, GraphDriveItem, GraphUser, RequestPacer } from './graph-types';
import { DRIVE_ITEM_FIELDS, UNITS, USER_FIELDS, newGraphCounters } from './graph-types';

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

/** A user's drive root: its children, or no OneDrive provisioned (a normal outcome, not an error). */
export type DriveRootListing = { kind: 'items'; items: GraphDriveItem[] } | { kind: 'noDrive' };

/** One page of a user's drive root, or what the drive answered instead (docs/drive-answers.md). */
export type DrivePage =
  | { kind: 'page'; items: GraphDriveItem[]; nextLink: string | undefined }
  | { kind: 'noDrive' }
  | { kind: 'skip'; skip: DriveSkip };

interface Page<T> {
  value?: T[];
  '@odata.nextLink'?: string;
  '@odata.count'?: number;
}

interface BatchAnswer {
  id: string;
  status: number;
  headers?: Record<string, unknown>;
  body?: unknown;
}

const LICENSED_FILTER = 'assignedLicenses/$count ne 0';
const MAX_BATCH = 20;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_ATTEMPTS = 8;
const DEFAULT_BACKOFF_MS = 500;

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

function codeForStatus(status: number): GraphErrorCode {
  if (status === 404) return 'graph_not_found';
  if (status === 403) return 'graph_forbidden';
  if (status === 401) return 'graph_unauthorized';
  if (status === 429) return 'graph_throttled';
  if (status === 503 || status === 504) return 'graph_unavailable';
  if (status >= 400 && status < 500) return 'graph_bad_request';
  return 'graph_failed';
}

const isThrottle = (status: number): boolean => status === 429 || status === 503;
const isRetryable = (status: number): boolean => status === 0 || status === 429 || status >= 500;

/** One HTTP round trip's outcome; status 0 when no answer came (a reset, a timeout, a body that is not JSON). */
interface SendResult {
  status: number;
  headers: { get(name: string): string | null };
  body: unknown;
  /** False when the request never left (the wait for a hold or the token lookup failed). */
  sent: boolean;
}

/**
 * Every Microsoft Graph call the product makes for one tenant. Requests go through the tenant's pacer (which
 * holds them after a 429/503) and are retried here, never by the Graph client's own middleware, so every
 * attempt is paced and counted. Paging follows `@odata.nextLink` verbatim, but only on the Graph origin: a
 * token is never sent anywhere else.
 */
export class TenantGraph {
  readonly tenantId: string;
  readonly counters: GraphCounters;
  readonly #origin: string;
  readonly #scope: string;
  readonly #client: Client;
  readonly #options: TenantGraphOptions;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: TenantGraphOptions) {
    this.tenantId = options.tenantId;
    this.#options = options;
    this.counters = options.counters ?? newGraphCounters();
    this.#origin = new URL(options.graphEndpoint).origin;
    this.#scope = `${this.#origin}/.default`;
    this.#sleep = options.sleep ?? defaultSleep;
    // Only the transport of the Graph client: no RetryHandler (its retries would bypass the pacer and the
    // counters) and no AuthenticationHandler (token failures must surface as typed errors, see #send).
    this.#client = Client.initWithMiddleware({
      baseUrl: `${this.#origin}/`,
      defaultVersion: 'v1.0',
      customHosts: new Set([new URL(this.#origin).hostname]),
      // The last check of the hold is at the wire: right before a request's first byte (docs/throttling.md).
      // The token is added there too, only for the Graph origin (docs/throttling.md and the contract).
      middleware: new NodeHttpMessageHandler(
        { holdUntil: () => options.pacer.holdUntil?.() ?? 0 },
        { origin: this.#origin },
      ),
    });
  }

  /**
   * Licensed users, a page at a time (`$filter` on licenses, which needs `$count` and eventual consistency);
   * `total` is Graph's `@odata.count` when it gave one (the first page does).
   */
  async *licensedUsers(pageSize = 999): AsyncGenerator<{ users: GraphUser[]; total: number | undefined }> {
    const query = new URLSearchParams({
      $select: USER_FIELDS,
      $filter: LICENSED_FILTER,
      $count: 'true',
      $top: String(pageSize),
    });
    let url: string | undefined = `${this.#origin}/v1.0/users?${query.toString()}`;
    while (url) {
      const page: Page<GraphUser> = await this.#getJson<Page<GraphUser>>(url, UNITS.directoryPage, {
        ConsistencyLevel: 'eventual',
      });
      const total = page['@odata.count'];
      yield {
        users: (page.value ?? []).filter((user) => typeof user.id === 'string'),
        total: typeof total === 'number' ? total : undefined,
      };
      url = page['@odata.nextLink'];
    }
  }

  /** One page of up to `top` users (any license), the cheapest call `User.Read.All` allows. */
  async someUsers(top: number, licensedOnly: boolean): Promise<GraphUser[]> {
    const query = new URLSearchParams({ $select: USER_FIELDS, $top: String(top) });
    if (licensedOnly) {
      query.set('$filter', LICENSED_FILTER);
      query.set('$count', 'true');
    }
    const page = await this.#getJson<Page<GraphUser>>(
      `${this.#origin}/v1.0/users?${query.toString()}`,
      UNITS.directoryPage,
      licensedOnly ? { ConsistencyLevel: 'eventual' } : {},
    );
    return page.value ?? [];
  }

  /**
   * What one user's drive root answers to a one-item listing: the cheapest proof of `Files.Read.All`. `other` is
   * a drive that proves nothing either way (locked, failing).
   */
  async probeDrive(userId: string): Promise<'ok' | 'noDrive' | 'forbidden' | 'other'> {
    const [answer] = (await this.firstDrivePages([userId], 1)).values();
    if (!answer || answer.kind === 'page') return 'ok';
    if (answer.kind === 'noDrive') return 'noDrive';
    return answer.skip.reason === 'accessDenied' ? 'forbidden' : 'other';
  }

  /** Every child of one user's drive root, every page; `noDrive` when the user has no OneDrive. */
  async rootChildren(userId: string, top = 1000): Promise<DriveRootListing> {
    return this.#followPages(this.#childrenUrl(userId, top), []);
  }

  /**
   * The first page of many users' drive roots through `$batch` (up to 20 per round trip, each inner request paced,
   * charged and retried on its own). Each user ends as a page, no drive, or a skip (docs/drive-answers.md):
   * throttled answers are waited out, other transient failures retried `maxAttempts` times before the user is
   * skipped as `failing`. Only a refused token (thrown) or the caller's signal ends it for everyone.
   */
  async firstDrivePages(userIds: readonly string[], top = 1000): Promise<Map<string, DrivePage>> {
    const results = new Map<string, DrivePage>();
    let pending = [...new Set(userIds)];
    const attempts = new Map<string, number>();
    const maxAttempts = this.#options.maxAttempts ?? DEFAULT_ATTEMPTS;
    let backoff = this.#options.backoffMs ?? DEFAULT_BACKOFF_MS;

    while (pending.length > 0) {
      const retry: string[] = [];
      let failedWithoutHold = false;
      for (let start = 0; start < pending.length; start += MAX_BATCH) {
        const chunk = pending.slice(start, start + MAX_BATCH);
        const answers = await this.#batch(chunk.map((userId) => this.#childrenPath(userId, top)));
        chunk.forEach((userId, index) => {
          const answer = answers[index];
          const status = answer?.status ?? 0;
          const outcome = this.#drivePage(status, answer?.body);
          if (outcome !== 'throttled' && outcome !== 'retry') {
            results.set(userId, outcome);
            return;
          }
          if (outcome === 'retry') {
            const tried = (attempts.get(userId) ?? 0) + 1;
            attempts.set(userId, tried);
            if (tried >= maxAttempts) {
              results.set(userId, { kind: 'skip', skip: failingSkip(status, answer?.body) });
              return;
            }
            failedWithoutHold = true;
          }
          retry.push(userId);
        });
      }
      if (failedWithoutHold) {
        // The pacer already holds throttled requests; a plain failure waits a backoff.
        await this.#sleep(backoff, this.#options.signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
      pending = retry;
    }
    return results;
  }

  /**
   * The next page of a drive root listing, by its `@odata.nextLink` (followed verbatim, on the Graph origin only).
   * A drive that answers `404` or stops answering mid-listing is a skip: a listing cut short proves nothing.
   */
  async nextDrivePage(url: string): Promise<DrivePage> {
    this.#assertGraphOrigin(url);
    const maxAttempts = this.#options.maxAttempts ?? DEFAULT_ATTEMPTS;
    let backoff = this.#options.backoffMs ?? DEFAULT_BACKOFF_MS;
    for (let attempt = 1; ;) {
      const { status, body } = await this.#send('GET', url, UNITS.driveListing, {});
      const outcome = this.#drivePage(status, body);
      if (outcome === 'throttled') continue;
      if (outcome === 'retry') {
        if (attempt >= maxAttempts) return { kind: 'skip', skip: failingSkip(status, body) };
        attempt += 1;
        await this.#sleep(backoff, this.#options.signal);
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      if (outcome.kind === 'noDrive') return { kind: 'skip', skip: failingSkip(status, body) };
      return outcome;
    }
  }

  /** One drive listing answer as a page, no drive or skip; `throttled` and `retry` go round again. */
  #drivePage(status: number, body: unknown): DrivePage | 'throttled' | 'retry' {
    const answer = classifyDriveAnswer(status, body);
    switch (answer.kind) {
      case 'page': {
        const page = (body ?? {}) as Page<GraphDriveItem>;
        return {
          kind: 'page',
          items: (page.value ?? []).filter((item) => typeof item.id === 'string'),
          nextLink: page['@odata.nextLink'],
        };
      }
      case 'noDrive':
      case 'skip':
        return answer;
      case 'throttled':
      case 'retry':
        return answer.kind;
      case 'tenant':
        throw new GraphError('graph_unauthorized', this.tenantId, status, graphErrorCode(body));
    }
  }

  async #followPages(firstUrl: string, items: GraphDriveItem[]): Promise<DriveRootListing> {
    let url: string | undefined = firstUrl;
    while (url) {
      let page: Page<GraphDriveItem>;
      try {
        page = await this.#getJson<Page<GraphDriveItem>>(url, UNITS.driveListing);
      } catch (error) {
        if (error instanceof GraphError && error.status === 404 && items.length === 0)
          return { kind: 'noDrive' };
        throw error;
      }
      for (const item of page.value ?? []) if (typeof item.id === 'string') items.push(item);
      url = page['@odata.nextLink'];
    }
    return { kind: 'items', items };
  }

  /** A nextLink to another host would carry our token there: refuse. */
  #assertGraphOrigin(url: string): void {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    // Compared again at the wire on the URL actually sent (NodeHttpMessageHandler): this is the early, clear error.
    if (!parsed || parsed.origin !== this.#origin || parsed.username || parsed.password) {
      throw new GraphError('graph_bad_request', this.tenantId, 0, 'ForeignNextLink');
    }
  }

  #childrenPath(userId: string, top: number): string {
    const query = new URLSearchParams({ $select: DRIVE_ITEM_FIELDS, $top: String(top) });
    return `/users/${encodeURIComponent(userId)}/drive/root/children?${query.toString()}`;
  }

  #childrenUrl(userId: string, top: number): string {
    return `${this.#origin}/v1.0${this.#childrenPath(userId, top)}`;
  }

  async #waitOutHold(): Promise<void> {
    const pacer = this.#options.pacer;
    for (;;) {
      const wait = (pacer.holdUntil?.() ?? 0) - Date.now();
      if (wait <= 0) return;
      await this.#sleep(wait, this.#options.signal);
    }
  }

  /**
   * The application roles the tenant's current token claims: a hint only, for when no Graph call can decide
   * (docs/permissions.md). Takes (or reuses) the token.
   */
  async tokenRoles(): Promise<Set<string>> {
    return new Set(tokenClaims(await this.#token()).roles ?? []);
  }

  async #token(): Promise<string> {
    // Throws TokenError (typed) straight to the caller; the credential caches the token until near expiry.
    const token = await this.#options.credential.getToken(this.#scope, { abortSignal: this.#options.signal });
    if (!token) throw new GraphError('graph_unauthorized', this.tenantId, 401, 'NoToken');
    return token.token;
  }

  /** One paced, counted, retried GET of a Graph URL on the Graph origin. */
  async #getJson<T>(url: string, units: number, headers: Record<string, string> = {}): Promise<T> {
    this.#assertGraphOrigin(url);
    const maxAttempts = this.#options.maxAttempts ?? DEFAULT_ATTEMPTS;
    let backoff = this.#options.backoffMs ?? DEFAULT_BACKOFF_MS;
    // Throttled answers wait (the pacer holds the tenant) and spend no attempt: only the caller's deadline ends
    // that wait (docs/throttling.md). Other failures have `maxAttempts`.
    for (let attempt = 1; ;) {
      const { status, body } = await this.#send('GET', url, units, headers);
      if (status >= 200 && status < 300) return body as T;
      if (isThrottle(status)) continue;
      if (!isRetryable(status) || attempt >= maxAttempts) {
        throw new GraphError(codeForStatus(status), this.tenantId, status, graphErrorCode(body));
      }
      attempt += 1;
      await this.#sleep(backoff, this.#options.signal);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }

  /** Sends `$batch` rounds of GETs; answers come back in the order of `paths`. */
  async #batch(paths: string[]): Promise<BatchAnswer[]> {
    const requests = paths.map((url, index) => ({ id: String(index + 1), method: 'GET', url }));
    const pacer = this.#options.pacer;
    let acquired = 0;
    let outer: SendResult;
    // An inner 429/503 is known only once the whole body is parsed; from the moment its bytes arrive the tenant
    // is held (pinned), so that nothing leaves before its `Retry-After` is read (docs/throttling.md).
    let unpin: (() => void) | undefined;
    const watch = throttleScanner(() => {
      unpin ??= pacer.pinHold?.();
    });
    try {
      for (; acquired < requests.length; acquired += 1) {
        await pacer.acquire(UNITS.driveListing, this.#options.signal);
      }
      outer = await this.#send('POST', `${this.#origin}/v1.0/$batch`, 0, {}, { requests }, true, watch);
    } catch (error) {
      unpin?.();
      // No answer (no token, an abort): the units granted so far go back, or the tenant's pacer would keep
      // counting them in flight.
      for (let i = 0; i < acquired; i += 1)
        pacer.settle(UNITS.driveListing, { status: 0, headers: headerBag({}) });
      throw error;
    }
    if (outer.sent) this.counters.requests += requests.length;
    const byId = new Map<string, BatchAnswer>();
    if (outer.status >= 200 && outer.status < 300) {
      for (const answer of (outer.body as { responses?: BatchAnswer[] }).responses ?? [])
        byId.set(answer.id, answer);
    }
    // Released in the same tick as the settling below, which declares the real holds.
    unpin?.();
    return requests.map((request) => {
      const answer = byId.get(request.id) ?? {
        id: request.id,
        status: outer.status === 200 ? 0 : outer.status,
      };
      const status = answer.status;
      if (isThrottle(status)) this.counters.throttled += 1;
      this.#options.pacer.settle(UNITS.driveListing, { status, headers: headerBag(answer.headers) });
      return answer;
    });
  }

  /**
   * One HTTP round trip. For a plain request it acquires the units from the pacer and settles them with the
   * answer; for `$batch` (`prepaid`) the caller does that per inner request.
   */
  async #send(
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
    this.counters.roundTrips += 1;
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
      this.#options.pacer.settle(units, { status: answerStatus, headers: head });
    };
    try {
      const token = await this.#token();
      for (;;) {
        // A 429 may have arrived for another request since this one was granted (the token lookup above can
        // yield): wait the hold out. The handler reads the hold once more right before the first byte.
        await this.#waitOutHold();
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

/** `User-Agent` that Microsoft asks ISVs to send: `ISV|<company>|<app>/<version>`. */
export function graphUserAgent(isvName: string, version: string): string {
  return `ISV|${isvName}|DriveCrawler/${version}`;
}
