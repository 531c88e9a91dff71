import type { SimControl, TenantInfo, TenantSpec } from '../../../dev/sim/types';
import type { AppContext } from '../../../src/app-context';
import type { CrawlRun } from '../../../src/crawl/crawl-runs';
import { driveItemPartition } from '../../../src/crawl/drive-item-store';
import { TABLES } from '../../../src/storage/storage-clients';
import { uniqueSeed } from '../../support/test-app';
import { isBatchEnvelope } from '../../support/request-log';

interface ItemRow {
  partitionKey: string;
  rowKey: string;
  userId: string;
  userPrincipalName: string;
  name: string;
  size: unknown;
  isFolder: boolean;
  eTag: string;
  webUrl: string;
  runId: string;
}

/** Every `DriveItems` row of the tenant, as stored (the test's storage account holds only its own tenants). */
export async function itemRows(context: AppContext, tenantId: string): Promise<ItemRow[]> {
  const rows: ItemRow[] = [];
  try {
    for await (const row of context.storage.table(TABLES.driveItems).listEntities<ItemRow>()) {
      if (row.partitionKey.startsWith(`${tenantId}_`)) rows.push(row);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return rows;
}

/** Every `CrawlRuns` row of the tenant, newest first. */
export async function runsOf(context: AppContext, tenantId: string): Promise<CrawlRun[]> {
  const runs: CrawlRun[] = [];
  for await (const row of context.storage
    .table(TABLES.crawlRuns)
    .listEntities<{ rowKey: string }>({ queryOptions: { filter: `PartitionKey eq '${tenantId}'` } })) {
    const run = await context.runs.get(tenantId, row.rowKey);
    if (run) runs.push(run);
  }
  return runs;
}

/** What the simulator says a complete crawl of the tenant must find now. */
export async function expectedCrawl(cloud: SimControl, tenantId: string) {
  const [users, drives] = await Promise.all([cloud.listUsers(tenantId), cloud.drives(tenantId)]);
  const licensed = users.filter((user) => user.licensed);
  const withDrive = licensed.filter((user) => user.hasDrive);
  const items = Object.values(drives).reduce((sum, list) => sum + list.length, 0);
  return { users, drives, licensed: licensed.length, withDrive: withDrive.length, items };
}

/**
 * Asserts that a crawl ended exact: the run succeeded with the contract's counters, and the tenant's
 * `DriveItems` rows are exactly the simulator's drive roots (every item once, field by field, stamped with the
 * run), with no row left over and none twice.
 */
export async function expectExactCrawl(
  cloud: SimControl,
  context: AppContext,
  tenantId: string,
  runId: string,
): Promise<{ run: CrawlRun; items: number }> {
  const expected = await expectedCrawl(cloud, tenantId);
  const run = await context.runs.get(tenantId, runId);
  expect(run?.status).toBe('succeeded');
  expect(run?.error).toBeUndefined();
  expect(run).toMatchObject({
    usersSeen: expected.licensed,
    usersCrawled: expected.withDrive,
    usersWithoutDrive: expected.licensed - expected.withDrive,
    itemsStored: expected.items,
  });

  const rows = await itemRows(context, tenantId);
  const keys = rows.map((row) => `${row.partitionKey}/${row.rowKey}`);
  expect(new Set(keys).size).toBe(keys.length);
  const byKey = new Map(rows.map((row) => [`${row.partitionKey}/${row.rowKey}`, row]));
  const upn = new Map(expected.users.map((user) => [user.id, user.userPrincipalName]));
  const mismatches: string[] = [];
  for (const [userId, items] of Object.entries(expected.drives)) {
    for (const item of items) {
      const key = `${driveItemPartition(tenantId, userId)}/${item.id}`;
      const row = byKey.get(key);
      byKey.delete(key);
      if (
        !row ||
        row.name !== item.name ||
        Number(row.size) !== item.size ||
        row.isFolder !== (item.folder !== undefined) ||
        row.eTag !== item.eTag ||
        row.webUrl !== item.webUrl ||
        row.userId !== userId ||
        row.userPrincipalName !== upn.get(userId)
      ) {
        mismatches.push(key);
      }
    }
  }
  expect(mismatches).toEqual([]);
  // A row carries the run that last wrote it: this one, or an earlier run of the tenant whose delta cursor the
  // later runs followed (an item no delta reported since is not written again; docs/delta.md).
  const writers = [...new Set(rows.map((row) => row.runId))];
  expect(writers).toContain(runId);
  for (const writer of writers) expect(await context.runs.get(tenantId, writer)).toBeDefined();
  // Nothing beyond the drives: no row of a vanished item or of a user who is not crawled.
  expect([...byKey.keys()]).toEqual([]);
  return { run: run!, items: expected.items };
}

/** Creates a simulated tenant, consents the app in it and records it as the consent flow would. */
export async function onboard(
  cloud: SimControl,
  context: AppContext,
  clientId: string,
  spec: Partial<TenantSpec> & { users: number },
): Promise<TenantInfo> {
  const tenant = await cloud.createTenant({ seed: uniqueSeed(), ...spec });
  await cloud.consent(tenant.tenantId, clientId);
  await context.registry.recordConsent(tenant.tenantId, 'active', new Date(), tenant.domain);
  return tenant;
}

/**
 * The resource units the simulator charged the app in the tenant since `since`; those of them whose answers never
 * reached the crawler because the connection was reset under their `$batch` (the simulator answers a `$batch`'s
 * inner requests, logging each, then logs the `$batch` itself: status 0 when it reset the connection instead of
 * answering); and the answers it gave without charging (its injected faults), which the crawler counts at their
 * price (every answered request, docs/graph-facts.md).
 */
export async function graphUnitsSeen(
  cloud: SimControl,
  tenantId: string,
  clientId: string,
  since: number,
): Promise<{ charged: number; lostToResets: number; answeredUncharged: number }> {
  const log = await cloud.requestLog({ tenantId, clientId, service: 'graph', since });
  let charged = 0;
  let lostToResets = 0;
  let answeredUncharged = 0;
  let batchUnits = 0;
  for (const entry of log) {
    charged += entry.units;
    const outer = isBatchEnvelope(entry);
    if (!outer && entry.status > 0 && entry.units === 0) answeredUncharged += 1;
    if (entry.inBatch) {
      batchUnits += entry.units;
    } else if (outer) {
      if (entry.status === 0) lostToResets += batchUnits;
      batchUnits = 0;
    }
  }
  return { charged, lostToResets, answeredUncharged };
}

/**
 * The Graph requests the simulator received for the tenant from the app since `since` (each request inside a
 * `$batch` counts, the `$batch` envelope does not), and how many it answered 429 or 503.
 */
export async function graphRequestsSeen(
  cloud: SimControl,
  tenantId: string,
  clientId: string,
  since: number,
): Promise<{ requests: number; throttled: number }> {
  const log = await cloud.requestLog({ tenantId, clientId, service: 'graph', since });
  const requests = log.filter((entry) => !isBatchEnvelope(entry));
  return {
    requests: requests.length,
    throttled: requests.filter((entry) => entry.status === 429 || entry.status === 503).length,
  };
}
