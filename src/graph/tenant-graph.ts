import { GraphError } from '../errors';
import { tokenClaims } from '../identity/tenant-credentials';
import type { DriveSkip } from './drive-answer';
import { classifyDriveAnswer, failingSkip } from './drive-answer';
import { graphErrorCode } from './graph-error-body';
import type { TenantGraphOptions } from './graph-transport';
import { GraphTransport } from './graph-transport';
import type { GraphCounters, GraphDriveItem, GraphUser } from './graph-types';
import { DRIVE_ITEM_FIELDS, USER_FIELDS, newGraphCounters } from './graph-types';
import { RESOURCE_UNITS } from './resource-costs';

export type { TenantGraphOptions } from './graph-transport';

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
    const { maxAttempts, backoffMs, signal } = this.#http.retries;
    let backoff = backoffMs;

    while (pending.length > 0) {
      const retry: string[] = [];
      let failedWithoutHold = false;
      for (let start = 0; start < pending.length; start += MAX_BATCH) {
        const chunk = pending.slice(start, start + MAX_BATCH);
        const answers = await this.#http.batch(chunk.map((userId) => this.#childrenPath(userId, top)));
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
        await this.#http.sleep(backoff, signal);
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
    this.#http.assertGraphOrigin(url);
    const { maxAttempts, backoffMs, signal } = this.#http.retries;
    let backoff = backoffMs;
    for (let attempt = 1; ;) {
      const { status, body } = await this.#http.send('GET', url, RESOURCE_UNITS.driveListing, {});
      const outcome = this.#drivePage(status, body);
      if (outcome === 'throttled') continue;
      if (outcome === 'retry') {
        if (attempt >= maxAttempts) return { kind: 'skip', skip: failingSkip(status, body) };
        attempt += 1;
        await this.#http.sleep(backoff, signal);
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

  #childrenPath(userId: string, top: number): string {
    const query = new URLSearchParams({ $select: DRIVE_ITEM_FIELDS, $top: String(top) });
    return `/users/${encodeURIComponent(userId)}/drive/root/children?${query.toString()}`;
  }

  #childrenUrl(userId: string, top: number): string {
    return `${this.#origin}/v1.0${this.#childrenPath(userId, top)}`;
  }
}

/** `User-Agent` that Microsoft asks ISVs to send: `ISV|<company>|<app>/<version>`. */
export function graphUserAgent(isvName: string, version: string): string {
  return `ISV|${isvName}|DriveCrawler/${version}`;
}
