import { HttpRequest, InvocationContext } from '@azure/functions';
import type { TableClient } from '@azure/data-tables';
import type { SimClient } from '../../dev/sim/sim-client';
import type { AppContext } from '../../src/app-context';
import { crawlUserBatch } from '../../src/crawl/crawl-user-batch';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { listTenantUsers } from '../../src/crawl/list-tenant-users';
import { planCrawl, queueTenantCrawl } from '../../src/crawl/plan-crawl';
import { tenantHandlers } from '../../src/functions/handlers/tenant-handlers';
import { TABLES } from '../../src/storage/storage-clients';
import type { OffboardingStores } from '../../src/crawl/offboard-tenant';
import { offboardTenant, offboardingTables } from '../../src/crawl/offboard-tenant';
import { createLogger } from '../../src/logging/logger';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { onboardTenant, queueingDeps } from './crawl-helpers';

const SETTINGS = { userPageSize: 10, usersPerBatch: 5, childrenPageSize: 4, graphBackoffMs: 10 };

/** Every table a tenant's rows live in, with how its partitions name the tenant. */
const TENANT_TABLES = [
  TABLES.driveItems,
  TABLES.userIndex,
  TABLES.driveCursors,
  TABLES.crawlSkips,
  TABLES.crawlRuns,
  TABLES.runProgress,
  TABLES.pacerState,
] as const;

/** Rows of the tenant in each table (a partition is the tenant, or starts with `<tenant>_`). */
async function rowsOf(context: AppContext, tenantId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const name of TENANT_TABLES) {
    counts[name] = 0;
    try {
      for await (const row of context.storage.table(name).listEntities()) {
        const partition = row.partitionKey ?? '';
        if (partition === tenantId || partition.startsWith(`${tenantId}_`)) counts[name] += 1;
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }
  return counts;
}

const nothing = Object.fromEntries(TENANT_TABLES.map((name) => [name, 0]));

describe('offboarding a tenant (DELETE /api/tenants/{tenantId})', () => {
  let cloud: SimClient;
  let app: TestApp;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ crawlSettings: SETTINGS });
  });

  const remove = (id: string) =>
    tenantHandlers(() => app.context).offboard(
      new HttpRequest({
        method: 'DELETE',
        url: `http://127.0.0.1/api/tenants/${id}`,
        params: { tenantId: id },
      }),
      new InvocationContext({ functionName: 'tenantOffboard' }),
    );

  /** A tenant crawled once (rows in every table: items, index, cursors, a skip, runs, progress, pacer state). */
  const crawledTenant = async () => {
    const tenant = await onboardTenant(cloud, app.context, app.clientId, {
      users: 14,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: [2, 9],
    });
    const users = Object.keys(await cloud.drives(tenant.tenantId));
    await cloud.setDriveAnomaly(tenant.tenantId, users[0]!, 'locked');
    const [result] = await crawlInline(app.context.crawlDeps(), {
      tenants: [(await app.context.registry.get(tenant.tenantId))!],
    });
    expect(result?.run).toMatchObject({ status: 'succeeded', usersSkipped: 1 });
    const before = await rowsOf(app.context, tenant.tenantId);
    for (const name of TENANT_TABLES) expect({ [name]: before[name]! > 0 }).toEqual({ [name]: true });
    return tenant;
  };

  it('stops a run whose batches are queued, deletes every row, and those batches write nothing', async () => {
    const tenant = await crawledTenant();
    const { deps, tenantMessages, batches } = queueingDeps(app.context);
    const { runId } = await queueTenantCrawl(deps, tenant.tenantId, { full: true });
    await listTenantUsers(deps, tenantMessages[0]!);
    expect(batches.length).toBeGreaterThan(1);
    // One batch runs before the operator offboards; the others are still queued.
    await crawlUserBatch(deps, batches[0]!);

    const answer = await remove(tenant.tenantId);
    expect(answer.status).toBe(202);
    expect(JSON.parse(answer.body as string)).toEqual({
      tenantId: tenant.tenantId,
      status: 'offboarded',
      rowsRemaining: false,
    });
    expect(await rowsOf(app.context, tenant.tenantId)).toEqual(nothing);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('offboarded');

    // The queued batches are delivered after it: they write nothing, the run stays as offboarding left it.
    for (const batch of batches.slice(1)) await crawlUserBatch(deps, batch);
    expect(await rowsOf(app.context, tenant.tenantId)).toEqual(nothing);
    expect(await app.context.runs.get(tenant.tenantId, runId)).toBeUndefined();

    // Never crawled again: no plan opens a run, and "crawl now" is refused.
    const planned = await planCrawl(deps);
    expect(planned.planned.some((run) => run.tenantId === tenant.tenantId)).toBe(false);
    await expect(queueTenantCrawl(deps, tenantMessages[0]!.tenantId)).rejects.toMatchObject({
      code: 'tenant_not_crawlable',
    });
    // Safe to repeat: the same answer, nothing left.
    expect(JSON.parse((await remove(tenant.tenantId)).body as string)).toMatchObject({
      rowsRemaining: false,
    });
  });

  it('carries on after a crash in the middle, and answers 202 while rows remain', async () => {
    const tenant = await crawledTenant();
    const ctx = app.context;
    const table = (name: string) => ctx.storage.table(name);
    // The item table dies after its first transaction (and its row-by-row fallback), as a worker killed mid-way.
    const items = table(TABLES.driveItems);
    let transactions = 0;
    const dying = Object.create(items) as TableClient;
    dying.submitTransaction = async (...args: Parameters<TableClient['submitTransaction']>) => {
      transactions += 1;
      if (transactions > 1) throw new Error('worker killed');
      return items.submitTransaction(...args);
    };
    dying.deleteEntity = () => Promise.reject(new Error('worker killed'));
    const stores = (driveItems: TableClient): OffboardingStores => ({
      registry: ctx.registry,
      runs: ctx.runs,
      tables: { ...offboardingTables(table), driveItems },
      logger: createLogger(() => undefined),
      now: () => new Date(),
    });
    await expect(offboardTenant(stores(dying), tenant.tenantId, Date.now() + 60_000)).rejects.toThrow(
      'worker killed',
    );
    const left = await rowsOf(ctx, tenant.tenantId);
    expect(left[TABLES.driveItems]).toBeGreaterThan(0);
    expect((await ctx.registry.get(tenant.tenantId))?.status).toBe('offboarded');

    // A deadline already past: marked, nothing more deleted, and the answer says rows remain.
    expect(await offboardTenant(stores(items), tenant.tenantId, Date.now() - 1)).toEqual({
      kind: 'offboarded',
      rowsRemaining: true,
    });
    const repeated = await remove(tenant.tenantId);
    expect(repeated.status).toBe(202);
    expect(JSON.parse(repeated.body as string)).toMatchObject({ rowsRemaining: false });
    expect(await rowsOf(ctx, tenant.tenantId)).toEqual(nothing);
  });

  it('answers 404 for an unknown tenant or an ID that is not a GUID', async () => {
    expect((await remove('00000000-0000-0000-0000-00000000dead')).status).toBe(404);
    expect((await remove('not-a-guid')).status).toBe(404);
  });
});
