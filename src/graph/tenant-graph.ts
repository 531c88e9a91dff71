import { GraphError } from '../errors';
import { tokenClaims } from '../identity/tenant-credentials';
import type { DriveSkip } from './drive-answer';
import { classifyDriveAnswer, failingSkip } from './drive-answer';
import { graphErrorCode } from './graph-error-body';
import type { TenantGraphOptions } from './graph-transport';
import { GraphTransport } from './graph-transport';
import type { GraphCounters, GraphDriveItem, GraphUser } from './graph-types';
import { DELTA_FIELDS, DRIVE_ITEM_FIELDS, USER_FIELDS, newGraphCounters } from './graph-types';
import { RESOURCE_UNITS } from './resource-costs';

export type { TenantGraphOptions } from './graph-transport';

/** A user's drive root: its children, or no OneDrive provisioned (a normal outcome, not an error). */
export type DriveRootListing = { kind: 'items'; items: GraphDriveItem[] } | { kind: 'noDrive' };

/** What a drive request answered, once throttling was waited out and failures retried (docs/drive-answers.md). */
export type DriveAnswer =
  | { kind: 'ok'; body: unknown }
  | { kind: 'noDrive' }
  | { kind: 'skip'; skip: DriveSkip }
  | { kind: 'resync' };

/**
 * One page of a drive listing or delta, or what the drive answered instead: a delta's last page carries its
 * `deltaLink`, a `resync` is a delta's `410` (docs/delta.md).
 */
export type DrivePage =
  | { kind: 'page'; items: GraphDriveItem[]; nextLink: string | undefined; deltaLink: string | undefined }
  | Exclude<DriveAnswer, { kind: 'ok' }>;

/** A user's drive as its root item names it: the drive's ID and the root's (docs/delta.md). */
export type DriveRoot =
  { kind: 'drive'; driveId: string; rootId: string } | Exclude<DriveAnswer, { kind: 'ok' | 'resync' }>;

/** One GET of a `$batch` round: whose it is, its path under `/v1.0`, and its price in resource units. */
export interface DriveGet {
  key: string;
  path: string;
  units: number;
}

interface Page<T> {
  value?: T[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
  '@odata.count'?: number;
}

const LICENSED_FILTER = 'assignedLicenses/$count ne 0';
const MAX_BATCH = 20;

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
  readonly #http: GraphTransport;

  constructor(options: TenantGraphOptions) {
    this.tenantId = options.tenantId;
    this.counters = options.counters ?? newGraphCounters();
    this.#http = new GraphTransport(options, this.counters);
    this.#origin = this.#http.origin;
  }

  /**
   * The application roles the tenant's current token claims: a hint only, for when no Graph call can decide
   * (docs/permissions.md). Takes (or reuses) the token.
   */
  async tokenRoles(): Promise<Set<string>> {
    return new Set(tokenClaims(await this.#http.token()).roles ?? []);
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
      const page: Page<GraphUser> = await this.#http.getJson<Page<GraphUser>>(
        url,
        RESOURCE_UNITS.directoryPage,
        {
          ConsistencyLevel: 'eventual',
        },
      );
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
    const page = await this.#http.getJson<Page<GraphUser>>(
      `${this.#origin}/v1.0/users?${query.toString()}`,
      RESOURCE_UNITS.directoryPage,
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
    if (answer.kind === 'resync') return 'other';
    return answer.skip.reason === 'accessDenied' ? 'forbidden' : 'other';
  }

  /** Every child of one user's drive root, every page; `noDrive` when the user has no OneDrive. */
  async rootChildren(userId: string, top = 1000): Promise<DriveRootListing> {
    const path = this.#childrenPath(`/users/${encodeURIComponent(userId)}/drive`, top);
    return this.#followPages(`${this.#origin}/v1.0${path}`, []);
  }

  /**
   * The first page of many users' drive roots through `$batch` (up to 20 per round trip, each inner request paced,
   * charged and retried on its own). Each user ends as a page, no drive, or a skip (docs/drive-answers.md).
   */
  async firstDrivePages(userIds: readonly string[], top = 1000): Promise<Map<string, DrivePage>> {
    return this.drivePages(
      [...new Set(userIds)].map((userId) => ({
        key: userId,
        path: this.#childrenPath(`/users/${encodeURIComponent(userId)}/drive`, top),
        units: RESOURCE_UNITS.driveListing,
      })),
    );
  }

  /** `driveGets` whose answers are pages (children listings and deltas). */
  async drivePages(gets: readonly DriveGet[]): Promise<Map<string, DrivePage>> {
    const pages = new Map<string, DrivePage>();
    for (const [key, answer] of await this.driveGets(gets)) {
      pages.set(key, answer.kind === 'ok' ? pageOf(answer.body) : answer);
    }
    return pages;
  }

  /**
   * Each user's drive and root IDs, from the root item (1 unit each, through `$batch`): the IDs a delta cursor is
   * pinned to, or no drive, or a skip.
   */
  async driveRoots(userIds: readonly string[]): Promise<Map<string, DriveRoot>> {
    const gets = [...new Set(userIds)].map((userId) => ({
      key: userId,
      path: `/users/${encodeURIComponent(userId)}/drive/root?$select=id,parentReference`,
      units: RESOURCE_UNITS.driveItem,
    }));
    const roots = new Map<string, DriveRoot>();
    for (const [userId, answer] of await this.driveGets(gets)) {
      if (answer.kind === 'resync') continue;
      if (answer.kind !== 'ok') {
        roots.set(userId, answer);
        continue;
      }
      const root = (answer.body ?? {}) as GraphDriveItem;
      const driveId = root.parentReference?.driveId;
      roots.set(
        userId,
        typeof root.id === 'string' && typeof driveId === 'string' && driveId !== ''
          ? { kind: 'drive', driveId, rootId: root.id }
          : {
              kind: 'skip',
              skip: {
                reason: 'failing',
                status: 200,
                graphCode: undefined,
                message: 'The root item named no drive',
              },
            },
      );
    }
    return roots;
  }

  /**
   * Many GETs through `$batch` (up to 20 per round trip, each inner request paced, charged at its price and
   * retried on its own). Each ends as an answer, no drive, a skip or a resync (docs/drive-answers.md): throttled
   * answers are waited out, other transient failures retried `maxAttempts` times before the request ends as a
   * `failing` skip. Only a refused token (thrown) or the caller's signal ends it for everyone.
   */
  async driveGets(gets: readonly DriveGet[]): Promise<Map<string, DriveAnswer>> {
    const results = new Map<string, DriveAnswer>();
    let pending = [...gets];
    const attempts = new Map<string, number>();
    const { maxAttempts, backoffMs, signal } = this.#http.retries;
    let backoff = backoffMs;

    while (pending.length > 0) {
      const retry: DriveGet[] = [];
      let failedWithoutHold = false;
      for (let start = 0; start < pending.length; start += MAX_BATCH) {
        const chunk = pending.slice(start, start + MAX_BATCH);
        const answers = await this.#http.batch(chunk);
        chunk.forEach((get, index) => {
          const answer = answers[index];
          const status = answer?.status ?? 0;
          const outcome = this.#driveAnswer(status, answer?.body);
          if (outcome !== 'throttled' && outcome !== 'retry') {
            results.set(get.key, outcome);
            return;
          }
          if (outcome === 'retry') {
            const tried = (attempts.get(get.key) ?? 0) + 1;
            attempts.set(get.key, tried);
            if (tried >= maxAttempts) {
              results.set(get.key, { kind: 'skip', skip: failingSkip(status, answer?.body) });
              return;
            }
            failedWithoutHold = true;
          }
          retry.push(get);
        });
      }
      if (failedWithoutHold) {
        // The pacer already holds throttled requests; a plain failure waits a backoff.
        await this.#http.sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
      pending = retry;
    }
    return results;
  }

  /**
   * The next page of a drive listing or delta, by its `@odata.nextLink` (followed verbatim, on the Graph origin
   * only), at `units` a page. A drive that answers `404` or stops answering mid-listing is a skip: a listing cut
   * short proves nothing. A delta's `410` is a resync.
   */
  async nextDrivePage(url: string, units: number = RESOURCE_UNITS.driveListing): Promise<DrivePage> {
    this.#http.assertGraphOrigin(url);
    const { maxAttempts, backoffMs, signal } = this.#http.retries;
    let backoff = backoffMs;
    for (let attempt = 1; ;) {
      const { status, body } = await this.#http.send('GET', url, units, {});
      const outcome = this.#driveAnswer(status, body);
      if (outcome === 'throttled') continue;
      if (outcome === 'retry') {
        if (attempt >= maxAttempts) return { kind: 'skip', skip: failingSkip(status, body) };
        attempt += 1;
        await this.#http.sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      if (outcome.kind === 'noDrive') return { kind: 'skip', skip: failingSkip(status, body) };
      return outcome.kind === 'ok' ? pageOf(outcome.body) : outcome;
    }
  }

  /** A Graph URL of this tenant's origin as a `$batch` path (under `/v1.0`), or undefined if it is not one. */
  batchPath(url: string): string | undefined {
    const base = `${this.#origin}/v1.0/`;
    return url.startsWith(base) ? url.slice(base.length - 1) : undefined;
  }

  /** The path of a drive's root children (`drive`: `/users/{id}/drive` or `/drives/{id}`), stored fields selected. */
  #childrenPath(drive: string, top: number): string {
    const query = new URLSearchParams({ $select: DRIVE_ITEM_FIELDS, $top: String(top) });
    return `${drive}/root/children?${query.toString()}`;
  }

  /** The root children of a drive by its ID. */
  childrenGet(key: string, driveId: string, top: number): DriveGet {
    return {
      key,
      path: this.#childrenPath(`/drives/${encodeURIComponent(driveId)}`, top),
      units: RESOURCE_UNITS.driveListing,
    };
  }

  /**
   * A drive's delta by its ID (docs/delta.md): `latest` asks for a cursor at now without items (1 unit), without it
   * the whole drive is enumerated (2 units a page).
   */
  deltaGet(key: string, driveId: string, top: number, from: 'start' | 'latest'): DriveGet {
    const query = new URLSearchParams({ $select: DELTA_FIELDS, $top: String(top) });
    if (from === 'latest') query.set('token', 'latest');
    return {
      key,
      path: `/drives/${encodeURIComponent(driveId)}/root/delta?${query.toString()}`,
      units: from === 'latest' ? RESOURCE_UNITS.deltaWithToken : RESOURCE_UNITS.deltaWithoutToken,
    };
  }

  /** One drive answer as its body, no drive, a skip or a resync; `throttled` and `retry` go round again. */
  #driveAnswer(status: number, body: unknown): DriveAnswer | 'throttled' | 'retry' {
    const answer = classifyDriveAnswer(status, body);
    switch (answer.kind) {
      case 'page':
        return { kind: 'ok', body };
      case 'noDrive':
      case 'skip':
      case 'resync':
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
        page = await this.#http.getJson<Page<GraphDriveItem>>(url, RESOURCE_UNITS.driveListing);
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
}

/** A listing or delta page's items (those with an ID) and its links. */
function pageOf(body: unknown): DrivePage {
  const page = (body ?? {}) as Page<GraphDriveItem>;
  return {
    kind: 'page',
    items: (page.value ?? []).filter((item) => typeof item.id === 'string'),
    nextLink: page['@odata.nextLink'],
    deltaLink: page['@odata.deltaLink'],
  };
}

/** `User-Agent` that Microsoft asks ISVs to send: `ISV|<company>|<app>/<version>`. */
export function graphUserAgent(isvName: string, version: string): string {
  return `ISV|${isvName}|DriveCrawler/${version}`;
}
