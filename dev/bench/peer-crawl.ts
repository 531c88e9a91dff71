/**
 * The benchmark's peers beside the naive loop: crawls the way a competent user writes them without the product, on
 * the same simulated tenants, storing the same rows (`store-items.ts`).
 *
 * - `sdkPool`: `@microsoft/microsoft-graph-client` as shipped. `Client.initWithMiddleware` with the default
 *   middleware chain (authentication, the RetryHandler with its default options, redirects, telemetry, HTTP), the
 *   users and each drive's pages through `PageIterator`, 16 users at a time (p-limit). The RetryHandler retries a
 *   429/503/504 after its `Retry-After`, per request, while the other requests carry on; when it gives up and the
 *   SDK throws a 429/503, the user goes back to the end of the work. Requests and 429/503s are counted at the HTTP
 *   handler, under the RetryHandler, so its retries count.
 * - `fixedRate`: plain `fetch` (as `naive-crawl.ts`) through a token bucket at the tenant's documented budget (a
 *   children page costs 2 units, the users listing nothing in that budget; capacity one second of budget), and a
 *   global pause: after a 429/503 no request leaves before its `Retry-After` has passed from the moment the answer
 *   arrived; then the throttled request is sent again. 16 users at a time. The best a fixed limiter can do knowing
 *   the tier (corso's design).
 */
import {
  Client,
  GraphError,
  HTTPMessageHandler,
  MiddlewareFactory,
  PageIterator,
} from '@microsoft/microsoft-graph-client';
import type { Context, PageCollection } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GraphDriveItem, GraphUser } from '../../src/graph/graph-types';
import { RESOURCE_UNITS } from '../../src/graph/resource-costs';
import type { NaiveCrawlOptions, Pacing } from './naive-crawl';
import {
  appCredential,
  CHILDREN_QUERY,
  crawlUserPool,
  fetchCrawl,
  LICENSED_USERS_QUERY,
  naiveCrawl,
  newOutcome,
} from './naive-crawl';
import type { NaiveOutcome, PeerMode } from './protocol';
import { storeUserItems } from './store-items';

/** Users crawled at once by both peers. */
export const PEER_CONCURRENCY = 16;

export type PeerKind = 'sdkPool' | 'fixedRate';

export type PeerCrawlOptions = NaiveCrawlOptions & { concurrency?: number } & (
    | { kind: 'sdkPool' }
    | {
        kind: 'fixedRate';
        /** The tenant's drive budget per real second: `budgetPerWindow / (windowSeconds / timeScale)`. */
        unitsPerSecond: number;
      }
  );

export async function peerCrawl(options: PeerCrawlOptions): Promise<NaiveOutcome> {
  const outcome = newOutcome(options.tenantId);
  await options.table.createTable();
  const concurrency = options.concurrency ?? PEER_CONCURRENCY;
  if (options.kind === 'sdkPool') await sdkPoolCrawl(options, outcome, concurrency);
  else await fetchCrawl(options, outcome, fixedRatePacing(options.unitsPerSecond), concurrency);
  return outcome;
}

/** Runs the peer a crawler job's mode names (`naive`, `sdkPool` or `fixedRate`). */
export function crawlAsPeer(
  mode: PeerMode,
  options: NaiveCrawlOptions & { unitsPerSecond?: number },
): Promise<NaiveOutcome> {
  if (mode === 'naive') return naiveCrawl(options);
  if (mode === 'sdkPool') return peerCrawl({ ...options, kind: 'sdkPool' });
  const { unitsPerSecond } = options;
  if (unitsPerSecond === undefined || !(unitsPerSecond > 0)) {
    throw new Error('a fixedRate crawl needs the tenant budget in units per second (unitsPerSecond)');
  }
  return peerCrawl({ ...options, kind: 'fixedRate', unitsPerSecond });
}

// --- sdkPool -------------------------------------------------------------------------------------------------

/** The SDK's own HTTP handler, counting every request it sends and the 429/503 answers. */
class CountingHttpMessageHandler extends HTTPMessageHandler {
  readonly #outcome: NaiveOutcome;

  constructor(outcome: NaiveOutcome) {
    super();
    this.#outcome = outcome;
  }

  override async execute(context: Context): Promise<void> {
    this.#outcome.requests += 1;
    await super.execute(context);
    const status = context.response?.status;
    if (status === 429 || status === 503) this.#outcome.throttled += 1;
  }
}

/** The Graph client as a user builds it: the default middleware chain, its HTTP handler counting. */
function sdkClient(options: NaiveCrawlOptions, outcome: NaiveOutcome): Client {
  const authProvider = new TokenCredentialAuthenticationProvider(appCredential(options), {
    scopes: [`${options.graphEndpoint}/.default`],
  });
  const chain = MiddlewareFactory.getDefaultMiddlewareChain(authProvider);
  if (!(chain.at(-1) instanceof HTTPMessageHandler)) {
    throw new Error('the SDK default middleware chain no longer ends with its HTTPMessageHandler');
  }
  chain[chain.length - 1] = new CountingHttpMessageHandler(outcome);
  return Client.initWithMiddleware({
    middleware: chain,
    baseUrl: `${options.graphEndpoint}/`,
    defaultVersion: 'v1.0',
    customHosts: new Set([new URL(options.graphEndpoint).hostname]),
    fetchOptions: { headers: { 'User-Agent': options.userAgent } },
  });
}

function statusOf(error: unknown): number | undefined {
  return error instanceof GraphError ? error.statusCode : undefined;
}

/** A 429/503 the SDK threw: its RetryHandler spent its retries on it. */
function isThrottledGiveUp(error: unknown): error is GraphError {
  const status = statusOf(error);
  return status === 429 || status === 503;
}

function describe(error: unknown): string {
  if (error instanceof GraphError) return `${error.statusCode} ${error.code ?? ''} ${error.message}`.trim();
  return error instanceof Error ? error.message : String(error);
}

/** The `Retry-After` of a 429/503 the SDK threw, ms (without one, the RetryHandler's default delay, 3 s). */
function retryAfterMs(error: GraphError): number {
  const seconds = Number(error.headers?.get('Retry-After') ?? '3');
  return Math.ceil((Number.isFinite(seconds) ? seconds : 3) * 1000);
}

/** Lists the licensed users with `PageIterator`; a page the SDK gave up on is asked again after `Retry-After`. */
async function listUsersWithSdk(client: Client, outcome: NaiveOutcome): Promise<GraphUser[]> {
  const headers = { ConsistencyLevel: 'eventual' };
  const users: GraphUser[] = [];
  const againWhileThrottled = async <T>(work: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await work();
      } catch (error) {
        if (!isThrottledGiveUp(error)) throw new Error(`sdkPool: listing users failed: ${describe(error)}`);
        outcome.requeued += 1;
        await sleep(retryAfterMs(error));
      }
    }
  };
  const first = await againWhileThrottled(
    () => client.api('/users').headers(headers).query(LICENSED_USERS_QUERY).get() as Promise<PageCollection>,
  );
  const iterator = new PageIterator(
    client,
    first,
    (user: GraphUser) => {
      users.push(user);
      return true;
    },
    { headers },
  );
  // `resume` asks the page that failed again (the iterator keeps its nextLink until a page arrives).
  await againWhileThrottled(() => iterator.resume());
  return users;
}

async function sdkPoolCrawl(
  options: NaiveCrawlOptions,
  outcome: NaiveOutcome,
  concurrency: number,
): Promise<void> {
  const client = sdkClient(options, outcome);
  const users = await listUsersWithSdk(client, outcome);
  await crawlUserPool({
    users,
    concurrency,
    outcome,
    deadlineMs: options.deadlineMs,
    onProgress: options.onProgress,
    crawlUser: async (user) => {
      const items: GraphDriveItem[] = [];
      try {
        const first = (await client
          .api(`/users/${encodeURIComponent(user.id)}/drive/root/children`)
          .query(CHILDREN_QUERY)
          .get()) as PageCollection;
        const iterator = new PageIterator(client, first, (item: GraphDriveItem) => {
          items.push(item);
          return true;
        });
        await iterator.iterate();
      } catch (error) {
        if (statusOf(error) === 404) {
          outcome.usersWithoutDrive += 1;
          return true;
        }
        // Back to the end of the work: its pages are asked again from the first.
        if (isThrottledGiveUp(error)) return false;
        throw new Error(`sdkPool: listing the drive of user ${user.id} failed: ${describe(error)}`);
      }
      await storeUserItems(options.table, outcome, user, items);
      return true;
    },
  });
}

// --- fixedRate -----------------------------------------------------------------------------------------------

/** Units refill at `rate` per second up to `capacity`; takers are served in order. */
class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #refilledAt = Date.now();
  #queue: Promise<void> = Promise.resolve();

  constructor(ratePerSecond: number, capacity: number) {
    this.#rate = ratePerSecond;
    this.#capacity = capacity;
    this.#tokens = capacity;
  }

  take(units: number): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(units));
    this.#queue = turn;
    return turn;
  }

  async #wait(units: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#rate);
      this.#refilledAt = now;
      if (this.#tokens >= units) {
        this.#tokens -= units;
        return;
      }
      await sleep(Math.ceil(((units - this.#tokens) / this.#rate) * 1000));
    }
  }
}

/** The token bucket and the global `Retry-After` pause. */
function fixedRatePacing(unitsPerSecond: number): Pacing {
  const bucket = new TokenBucket(unitsPerSecond, Math.max(unitsPerSecond, RESOURCE_UNITS.driveListing));
  let pausedUntil = 0;
  const waitOutPause = async (): Promise<void> => {
    for (let wait = pausedUntil - Date.now(); wait > 0; wait = pausedUntil - Date.now()) await sleep(wait);
  };
  return {
    beforeSend: async (units) => {
      await waitOutPause();
      if (units <= 0) return;
      await bucket.take(units);
      // A 429 may have come while this request waited for its units.
      await waitOutPause();
    },
    throttled: (ms, arrivedAt) => {
      pausedUntil = Math.max(pausedUntil, arrivedAt + ms);
      return Promise.resolve();
    },
  };
}
