import type { SimClient } from '../../dev/sim/sim-client';
import type { TenantSpec } from '../../dev/sim/types';
import type { AppContext } from '../../src/app-context';
import type { TenantCrawlMessage, UserBatchMessage } from '../../src/crawl/messages';
import { driveItemPartition } from '../../src/crawl/drive-item-store';
import { TABLES } from '../../src/storage/storage-clients';
import { uniqueSeed } from '../support/test-app';

/** Creates a simulated tenant, consents the app in it and records it as the consent flow would. */
export async function onboardTenant(
  cloud: SimClient,
  context: AppContext,
  clientId: string,
  spec: Partial<TenantSpec> & { users: number },
) {
  const tenant = await cloud.createTenant({ seed: uniqueSeed(), ...spec });
  await cloud.consent(tenant.tenantId, clientId);
  await context.registry.recordConsent(tenant.tenantId, 'active', new Date(), tenant.domain);
  return tenant;
}

/** Crawl deps whose queues are arrays: the tenant messages and user batches the crawl queued, to be run by hand. */
export function queueingDeps(context: AppContext) {
  const tenantMessages: TenantCrawlMessage[] = [];
  const batches: UserBatchMessage[] = [];
  const deps = context.crawlDeps({
    enqueueTenant: (message) => {
      tenantMessages.push(message);
      return Promise.resolve();
    },
    enqueueBatch: (message) => {
      batches.push(message);
      return Promise.resolve();
    },
  });
  return { deps, tenantMessages, batches };
}

export interface StoredRow {
  partitionKey: string;
  rowKey: string;
  name: string;
  size: unknown;
  isFolder: boolean;
  runId: string;
  userPrincipalName: string;
  childCount?: number;
  mimeType?: string;
  parentId?: string;
}

/** Every `DriveItems` row of the tenant (the test's own storage account holds only its tenants). */
export async function storedRows(context: AppContext, tenantId: string): Promise<StoredRow[]> {
  const rows: StoredRow[] = [];
  try {
    for await (const row of context.storage.table(TABLES.driveItems).listEntities<StoredRow>()) {
      if (row.partitionKey.startsWith(`${tenantId}_`)) rows.push(row);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return rows;
}

/** Asserts that the `DriveItems` rows of the tenant are exactly the simulator's drives, field by field. */
export async function expectTableEqualsDrives(
  cloud: SimClient,
  context: AppContext,
  tenantId: string,
): Promise<number> {
  const drives = await cloud.drives(tenantId);
  const rows = await storedRows(context, tenantId);
  const byKey = new Map(rows.map((row) => [`${row.partitionKey}/${row.rowKey}`, row]));
  let expected = 0;
  for (const [userId, items] of Object.entries(drives)) {
    for (const item of items) {
      expected += 1;
      const row = byKey.get(`${driveItemPartition(tenantId, userId)}/${item.id}`);
      expect(row).toBeDefined();
      expect(row?.name).toBe(item.name);
      expect(row?.isFolder).toBe(item.folder !== undefined);
      expect(Number(row?.size)).toBe(item.size);
    }
  }
  expect(rows).toHaveLength(expected);
  return expected;
}
