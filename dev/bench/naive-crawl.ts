/**
 * The usual crawl loop, as Microsoft's samples write it, for the benchmark's baseline: list the licensed users,
 * then one user after another, GET the drive root's children, sleep for `Retry-After` on 429/503 and try again,
 * and store the user's items in table transactions. No pacing, no `$batch`, no concurrency.
 *
 * Its parts (plain `fetch` GETs with a pacing hook, the users and children listings, the pool of users with its
 * deadline and progress lines) are shared with the other peers of `peer-crawl.ts`.
 */
import type { TableClient } from '@azure/data-tables';
import { ClientSecretCredential } from '@azure/identity';
import pLimit from 'p-limit';
import { setTimeout as sleep } from 'node:timers/promises';
import { DRIVE_ITEM_FIELDS, USER_FIELDS } from '../../src/graph/graph-types';
import type { GraphDriveItem, GraphUser } from '../../src/graph/graph-types';
import { RESOURCE_UNITS } from '../../src/graph/resource-costs';
import type { NaiveOutcome } from './protocol';
import { storeUserItems } from './store-items';

export interface NaiveCrawlOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  authorityHost: string;
  graphEndpoint: string;
  userAgent: string;
  table: TableClient;
  onProgress?: (text: string) => void;
  /**
   * Real ms from the start of the drive phase (after the users listing) after which no new user is taken; the
   * users in flight are finished and the outcome says `stoppedAtDeadline`. Default: none.
   */
  deadlineMs?: number;
}

interface Page<T> {
  value?: T[];
  '@odata.nextLink'?: string;
}

/** The licensed users listing's query (it needs `ConsistencyLevel: eventual`), as every peer asks it. */
export const LICENSED_USERS_QUERY: Readonly<Record<string, string>> = {
  $select: USER_FIELDS,
  $filter: 'assignedLicenses/$count ne 0',
  $count: 'true',
  $top: '999',
};

/** A drive root's children listing query, as every peer asks it. */
export const CHILDREN_QUERY: Readonly<Record<string, string>> = { $select: DRIVE_ITEM_FIELDS, $top: '1000' };

const PROGRESS_INTERVAL_MS = 5_000;

export function newOutcome(tenantId: string): NaiveOutcome {
  return {
    tenantId,
    users: 0,
    usersTotal: 0,
    usersWithoutDrive: 0,
    itemsStored: 0,
    requests: 0,
    throttled: 0,
    transactions: 0,
    requeued: 0,
    stoppedAtDeadline: false,
    drivePhaseMs: 0,
  };
}

export function appCredential(options: NaiveCrawlOptions): ClientSecretCredential {
  return new ClientSecretCredential(options.tenantId, options.clientId, options.clientSecret, {
    authorityHost: options.authorityHost,
    disableInstanceDiscovery: true,
  });
}

/** How a plain-`fetch` crawl paces its GETs. */
export interface Pacing {
  /** Resolves when a request that costs `units` of the drive budget may leave. */
  beforeSend(units: number): Promise<void>;
  /**
   * A 429/503 arrived at `arrivedAt` (real ms) with this `Retry-After` (ms); the request is sent again once the
   * returned promise resolves (and `beforeSend` lets it).
   */
  throttled(retryAfterMs: number, arrivedAt: number): Promise<void>;
}

/** The naive loop's pacing: none, and a sleep for `Retry-After` after a 429/503. */
const SLEEP_ON_RETRY_AFTER: Pacing = {
  beforeSend: () => Promise.resolve(),
  throttled: (retryAfterMs) => sleep(retryAfterMs),
};

/** One GET of a Graph URL costing `units`; repeated while Graph answers 429/503. The answer's status and body. */
type PlainGet = <T>(
  url: string,
  units: number,
  headers?: Record<string, string>,
) => Promise<{ status: number; body: T }>;

/** GETs with `fetch` and the app's own tokens, counted in `outcome`, paced by `pacing`. */
function plainGet(options: NaiveCrawlOptions, outcome: NaiveOutcome, pacing: Pacing): PlainGet {
  const credential = appCredential(options);
  const scope = `${options.graphEndpoint}/.default`;
  return async <T>(url: string, units: number, headers: Record<string, string> = {}) => {
    for (;;) {
      const token = await credential.getToken(scope);
      // Nothing but microtasks between the pacing's last check and the request leaving.
      await pacing.beforeSend(units);
      outcome.requests += 1;
      const response = await fetch(url, {
        headers: { ...headers, Authorization: `Bearer ${token.token}`, 'User-Agent': options.userAgent },
      });
      if (response.status === 429 || response.status === 503) {
        outcome.throttled += 1;
        const seconds = Number(response.headers.get('Retry-After') ?? '1');
        // Told before the body is read: the wait counts from the moment the answer arrived.
        const wait = pacing.throttled(Math.ceil((Number.isFinite(seconds) ? seconds : 1) * 1000), Date.now());
        await response.arrayBuffer();
        await wait;
        continue;
      }
      const text = await response.text();
      return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
    }
  };
}

/** Every licensed user of the tenant, page after page. */
async function listLicensedUsers(get: PlainGet, graphEndpoint: string): Promise<GraphUser[]> {
  const users: GraphUser[] = [];
  const query = new URLSearchParams(LICENSED_USERS_QUERY);
  let next: string | undefined = `${graphEndpoint}/v1.0/users?${query.toString()}`;
  while (next) {
    // The users listing is charged to the directory's budget, not to the drive budget.
    const page: { status: number; body: Page<GraphUser> } = await get<Page<GraphUser>>(next, 0, {
      ConsistencyLevel: 'eventual',
    });
    if (page.status !== 200) throw new Error(`listing users answered ${page.status}`);
    users.push(...(page.body.value ?? []));
    next = page.body['@odata.nextLink'];
  }
  return users;
}

/** The user's root children, every page; `undefined` when the user has no drive (404). */
async function listRootChildren(
  get: PlainGet,
  graphEndpoint: string,
  userId: string,
): Promise<GraphDriveItem[] | undefined> {
  const items: GraphDriveItem[] = [];
  const query = new URLSearchParams(CHILDREN_QUERY).toString();
  let url: string | undefined =
    `${graphEndpoint}/v1.0/users/${encodeURIComponent(userId)}/drive/root/children?${query}`;
  while (url) {
    const page: { status: number; body: Page<GraphDriveItem> } = await get<Page<GraphDriveItem>>(
      url,
      RESOURCE_UNITS.driveListing,
    );
    if (page.status === 404) return undefined;
    if (page.status !== 200) throw new Error(`listing a drive answered ${page.status}`);
    items.push(...(page.body.value ?? []));
    url = page.body['@odata.nextLink'];
  }
  return items;
}

export interface UserPoolOptions {
  users: readonly GraphUser[];
  /** Users crawled at once. */
  concurrency: number;
  outcome: NaiveOutcome;
  deadlineMs?: number;
  onProgress?: (text: string) => void;
  /**
   * Crawls one user to the end (stores its items, counts a missing drive): `true`; or `false` to put the user back
   * at the end of the work (counted in `requeued`). Any error fails the crawl, once the users in flight are done.
   */
  crawlUser(user: GraphUser): Promise<boolean>;
}

/**
 * The drive phase of a peer: the users through a pool of `concurrency` (p-limit, in listing order), no new user
 * once `deadlineMs` has passed, and a progress line every 5 s.
 */
export async function crawlUserPool(options: UserPoolOptions): Promise<void> {
  const { outcome } = options;
  outcome.usersTotal = options.users.length;
  const started = Date.now();
  const progress = setInterval(() => {
    const elapsed = ((Date.now() - started) / 1000).toFixed(0);
    options.onProgress?.(
      `${elapsed} s: users ${outcome.users}/${outcome.usersTotal}, items ${outcome.itemsStored}, ` +
        `requests ${outcome.requests}, throttled ${outcome.throttled}` +
        (outcome.requeued > 0 ? `, requeued ${outcome.requeued}` : ''),
    );
  }, PROGRESS_INTERVAL_MS);
  progress.unref();
  const limit = pLimit(options.concurrency);
  const pending = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const take = (user: GraphUser): void => {
    const task = limit(async () => {
      if (failure) return;
      if (options.deadlineMs !== undefined && Date.now() - started >= options.deadlineMs) {
        outcome.stoppedAtDeadline = true;
        return;
      }
      try {
        if (await options.crawlUser(user)) {
          outcome.users += 1;
        } else {
          outcome.requeued += 1;
          take(user);
        }
      } catch (error) {
        failure ??= { error };
      }
    });
    pending.add(task);
    void task.then(() => pending.delete(task));
  };
  try {
    for (const user of options.users) take(user);
    while (pending.size > 0) await Promise.all(pending);
  } finally {
    clearInterval(progress);
    outcome.drivePhaseMs = Date.now() - started;
  }
  if (failure) throw failure.error;
}

/**
 * A plain-`fetch` crawl of the tenant's licensed users into `options.table` (created beforehand), `concurrency`
 * users at a time, its requests paced by `pacing`.
 */
export async function fetchCrawl(
  options: NaiveCrawlOptions,
  outcome: NaiveOutcome,
  pacing: Pacing,
  concurrency: number,
): Promise<void> {
  const get = plainGet(options, outcome, pacing);
  const users = await listLicensedUsers(get, options.graphEndpoint);
  await crawlUserPool({
    users,
    concurrency,
    outcome,
    deadlineMs: options.deadlineMs,
    onProgress: options.onProgress,
    crawlUser: async (user) => {
      const items = await listRootChildren(get, options.graphEndpoint, user.id);
      if (items === undefined) outcome.usersWithoutDrive += 1;
      else await storeUserItems(options.table, outcome, user, items);
      return true;
    },
  });
}

export async function naiveCrawl(options: NaiveCrawlOptions): Promise<NaiveOutcome> {
  const outcome = newOutcome(options.tenantId);
  await options.table.createTable();
  await fetchCrawl(options, outcome, SLEEP_ON_RETRY_AFTER, 1);
  return outcome;
}
