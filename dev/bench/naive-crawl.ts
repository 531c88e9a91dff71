/**
 * The usual crawl loop, as Microsoft's samples write it, for the benchmark's baseline: list the licensed users,
 * then one user after another, GET the drive root's children, sleep for `Retry-After` on 429/503 and try again,
 * and store the user's items in one table transaction. No pacing, no `$batch`, no concurrency.
 */
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { ClientSecretCredential } from '@azure/identity';
import { setTimeout as sleep } from 'node:timers/promises';
import { DRIVE_ITEM_FIELDS, USER_FIELDS } from '../../src/graph/graph-types';
import type { GraphDriveItem, GraphUser } from '../../src/graph/graph-types';
import type { NaiveOutcome } from './protocol';

export interface NaiveCrawlOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  authorityHost: string;
  graphEndpoint: string;
  userAgent: string;
  table: TableClient;
  onProgress?: (text: string) => void;
}

interface Page<T> {
  value?: T[];
  '@odata.nextLink'?: string;
}

const TRANSACTION_LIMIT = 100;

export async function naiveCrawl(options: NaiveCrawlOptions): Promise<NaiveOutcome> {
  const credential = new ClientSecretCredential(options.tenantId, options.clientId, options.clientSecret, {
    authorityHost: options.authorityHost,
    disableInstanceDiscovery: true,
  });
  const scope = `${options.graphEndpoint}/.default`;
  const outcome: NaiveOutcome = {
    tenantId: options.tenantId,
    users: 0,
    usersWithoutDrive: 0,
    itemsStored: 0,
    requests: 0,
    throttled: 0,
    transactions: 0,
  };

  /** One GET, repeated after `Retry-After` while Graph answers 429/503; the answer's status and body. */
  const get = async <T>(
    url: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> => {
    for (;;) {
      const token = await credential.getToken(scope);
      outcome.requests += 1;
      const response = await fetch(url, {
        headers: { ...headers, Authorization: `Bearer ${token.token}`, 'User-Agent': options.userAgent },
      });
      const text = await response.text();
      if (response.status === 429 || response.status === 503) {
        outcome.throttled += 1;
        const seconds = Number(response.headers.get('Retry-After') ?? '1');
        await sleep(Math.ceil((Number.isFinite(seconds) ? seconds : 1) * 1000));
        continue;
      }
      return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
    }
  };

  await options.table.createTable();
  const users: GraphUser[] = [];
  const query = new URLSearchParams({
    $select: USER_FIELDS,
    $filter: 'assignedLicenses/$count ne 0',
    $count: 'true',
    $top: '999',
  });
  let next: string | undefined = `${options.graphEndpoint}/v1.0/users?${query.toString()}`;
  while (next) {
    const page: { status: number; body: Page<GraphUser> } = await get<Page<GraphUser>>(next, {
      ConsistencyLevel: 'eventual',
    });
    if (page.status !== 200) throw new Error(`listing users answered ${page.status}`);
    users.push(...(page.body.value ?? []));
    next = page.body['@odata.nextLink'];
  }

  const started = Date.now();
  let reported = started;
  const childrenQuery = new URLSearchParams({ $select: DRIVE_ITEM_FIELDS, $top: '1000' }).toString();
  for (const user of users) {
    outcome.users += 1;
    const items: GraphDriveItem[] = [];
    let url: string | undefined =
      `${options.graphEndpoint}/v1.0/users/${encodeURIComponent(user.id)}/drive/root/children?${childrenQuery}`;
    let noDrive = false;
    while (url) {
      const page: { status: number; body: Page<GraphDriveItem> } = await get<Page<GraphDriveItem>>(url);
      if (page.status === 404) {
        noDrive = true;
        break;
      }
      if (page.status !== 200) throw new Error(`listing a drive answered ${page.status}`);
      items.push(...(page.body.value ?? []));
      url = page.body['@odata.nextLink'];
    }
    if (noDrive) outcome.usersWithoutDrive += 1;
    for (let start = 0; start < items.length; start += TRANSACTION_LIMIT) {
      const actions: TransactionAction[] = items.slice(start, start + TRANSACTION_LIMIT).map((item) => [
        'upsert',
        {
          partitionKey: `${options.tenantId}_${user.id}`,
          rowKey: item.id,
          userId: user.id,
          userPrincipalName: user.userPrincipalName,
          name: item.name ?? '',
          size: { value: String(Math.trunc(item.size ?? 0)), type: 'Int64' },
          isFolder: item.folder !== undefined,
          webUrl: item.webUrl ?? '',
          eTag: item.eTag ?? '',
          lastModifiedDateTime: item.lastModifiedDateTime ?? '',
          ...(item.folder ? { childCount: item.folder.childCount ?? 0 } : {}),
          ...(item.file?.mimeType ? { mimeType: item.file.mimeType } : {}),
        },
        'Replace',
      ]);
      await options.table.submitTransaction(actions);
      outcome.transactions += 1;
    }
    outcome.itemsStored += items.length;
    if (Date.now() - reported >= 5_000) {
      reported = Date.now();
      options.onProgress?.(
        `${((reported - started) / 1000).toFixed(0)} s: users ${outcome.users}/${users.length}, items ${outcome.itemsStored}, throttled ${outcome.throttled}`,
      );
    }
  }
  return outcome;
}
