/**
 * The benchmark's `steady` scenario (docs/delta.md, "What it costs"): 1,000 users with nested drives, crawled once in
 * each scope, then 1% of the items changed (files renamed, moved, added and deleted; no folder renamed), then crawled
 * again. It reports the second crawl's Graph units per drive and its table transactions against the changes, and the
 * first crawl's cost in `drive` scope against what a recursive children walk of the same drives would cost.
 */
import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import type { CrawlScope } from '../../src/crawl/drive-cursors';
import { CRAWL_SCOPES } from '../../src/crawl/drive-cursors';
import { driveItemPartition } from '../../src/crawl/drive-item-rows';
import { RESOURCE_UNITS } from '../../src/graph/resource-costs';
import type { RunningAzurite } from '../azurite';
import { createRandom, randomInt } from '../sim/seeded-random';
import type { SimClient } from '../sim/sim-client';
import type { SimDriveTree, TenantInfo, TenantSpec } from '../sim/types';
import type { BenchTenant, CrawlRunFigures, CrawlerJob } from './protocol';

export const STEADY_USERS = 1_000;
/** Share of a tenant's items the scenario changes between the two crawls. */
export const STEADY_CHANGE_SHARE = 0.01;
/** Children a page of a listing holds at most (the product asks for 1,000; so would a walk). */
const PAGE_ITEMS = 1_000;

/** What the scenario needs from the benchmark's harness. */
export interface SteadyHarness {
  sim: SimClient;
  clientId: string;
  createTenant(spec: TenantSpec): Promise<TenantInfo>;
  tenantSpec(seed: number, users: number, tenantId: string): TenantSpec;
  job(label: string, azurite: RunningAzurite, tenants: BenchTenant[], scope: CrawlScope): CrawlerJob;
  runCrawler(job: CrawlerJob, azurite: RunningAzurite): Promise<CrawlRunFigures>;
  withAzurite<T>(work: (azurite: RunningAzurite) => Promise<T>): Promise<T>;
  table(azurite: RunningAzurite, name: string): TableClient;
  say(text: string): void;
}

/** One crawl's figures, from the simulator's own log and the crawler process's own counts. */
export interface CrawlCost {
  /** Drive units the simulator charged (its throttle statistics, drive bucket). */
  units: number;
  unitsPerDrive: number;
  /** Table transactions the crawler submitted, over every table, and the entities they held. */
  transactions: number;
  transactionEntities: number;
  /** Single-entity reads (cursors, index rows). */
  pointReads: number;
  itemsRead: number;
  itemsStored: number;
  itemsDeleted: number;
  wallSeconds: number;
}

export interface SteadyScope {
  scope: CrawlScope;
  drives: number;
  items: number;
  itemsChanged: number;
  first: CrawlCost;
  second: CrawlCost;
  /** The second crawl's drive units per drive: the issue's `steadyStateUnitsPerDrive` (target at most 1.1). */
  steadyStateUnitsPerDrive: number;
  /** The second crawl's table transactions per changed item. */
  transactionsPerChange: number;
  /** `drive` scope: what listing every folder's children (2 units a page) would cost for the same drives. */
  recursiveWalkUnits?: number;
  exact: boolean;
}

export interface SteadyFigures {
  scopes: Record<CrawlScope, SteadyScope>;
  steadyStateUnitsPerDrive: Record<CrawlScope, number>;
}

/** Every licensed user's drive tree. */
async function driveTrees(sim: SimClient, tenantId: string): Promise<Map<string, SimDriveTree>> {
  const trees = new Map<string, SimDriveTree>();
  for (const userId of Object.keys(await sim.drives(tenantId))) {
    trees.set(userId, await sim.driveTree(tenantId, userId));
  }
  return trees;
}

/** What a recursive walk costs: every folder's children (the root's included) at 2 units a page of 1,000. */
function recursiveWalkUnits(trees: ReadonlyMap<string, SimDriveTree>): number {
  let units = 0;
  for (const tree of trees.values()) {
    const children = new Map<string, number>([[tree.rootId, 0]]);
    for (const item of tree.items) {
      if (item.folder) children.set(item.id, children.get(item.id) ?? 0);
      children.set(item.parentId, (children.get(item.parentId) ?? 0) + 1);
    }
    for (const count of children.values()) {
      units += RESOURCE_UNITS.driveListing * Math.max(1, Math.ceil(count / PAGE_ITEMS));
    }
  }
  return units;
}

/**
 * Changes `share` of the tenant's items, drawn from `seed` (the same draws in identical tenants): half the changes
 * rename a file, a fifth move a file to another folder, a fifth add a file, a tenth delete a file. Folders are never
 * renamed, moved or deleted. Returns how many items changed.
 */
async function changeItems(sim: SimClient, tenantId: string, seed: number, share: number): Promise<number> {
  const trees = await driveTrees(sim, tenantId);
  const users = [...trees.keys()].sort();
  const total = [...trees.values()].reduce((sum, tree) => sum + tree.items.length, 0);
  const changes = Math.max(1, Math.round(total * share));
  const random = createRandom(seed);
  let done = 0;
  const touched = new Set<string>();
  for (let attempt = 0; done < changes && attempt < changes * 20; attempt += 1) {
    const userId = users[randomInt(random, 0, users.length - 1)]!;
    const tree = trees.get(userId)!;
    const folders = [tree.rootId, ...tree.items.filter((item) => item.folder).map((item) => item.id)];
    const files = tree.items.filter((item) => !item.folder && !touched.has(item.id));
    const roll = random();
    if (roll < 0.2) {
      const parentId = folders[randomInt(random, 0, folders.length - 1)]!;
      await sim.addItem(tenantId, userId, { name: `steady-${done}.docx`, parentId });
      done += 1;
      continue;
    }
    if (files.length === 0) continue;
    const file = files[randomInt(random, 0, files.length - 1)]!;
    touched.add(file.id);
    if (roll < 0.7) await sim.renameItem(tenantId, userId, file.id, `renamed-${done}-${file.name}`);
    else if (roll < 0.9) {
      const parentId = folders[randomInt(random, 0, folders.length - 1)]!;
      if (parentId === file.parentId) continue;
      await sim.moveItem(tenantId, userId, file.id, parentId);
    } else await sim.deleteItem(tenantId, userId, file.id);
    done += 1;
  }
  return done;
}

/** Whether the table holds exactly what the scope keeps of each drive: keys, names and parents. */
async function exactRows(
  table: TableClient,
  tenantId: string,
  trees: ReadonlyMap<string, SimDriveTree>,
  scope: CrawlScope,
): Promise<boolean> {
  for (const [userId, tree] of trees) {
    const expected = new Map<string, string>();
    for (const item of tree.items) {
      if (scope === 'root' && item.parentId !== tree.rootId) continue;
      expected.set(item.id, `${item.name}\n${item.parentId}`);
    }
    let rows = 0;
    for await (const row of table.listEntities<{ name?: string; parentId?: string }>({
      queryOptions: {
        filter: odata`PartitionKey eq ${driveItemPartition(tenantId, userId)}`,
        select: ['RowKey', 'name', 'parentId'],
      },
    })) {
      rows += 1;
      if (expected.get(row.rowKey ?? '') !== `${row.name ?? ''}\n${row.parentId ?? ''}`) return false;
    }
    if (rows !== expected.size) return false;
  }
  return true;
}

function costOf(figures: CrawlRunFigures, units: number, drives: number): CrawlCost {
  const run = figures.result.tenants[0]?.run;
  return {
    units,
    unitsPerDrive: drives > 0 ? units / drives : 0,
    transactions: figures.result.allTransactions,
    transactionEntities: figures.result.allTransactionEntities,
    pointReads: figures.result.leanTableCalls.reads,
    itemsRead: run?.itemsRead ?? 0,
    itemsStored: run?.itemsStored ?? 0,
    itemsDeleted: run?.itemsDeleted ?? 0,
    wallSeconds: figures.result.wallMs / 1000,
  };
}

/** Both scopes, each on its own copy of the same tenant, in one Azurite. */
export async function scenarioSteady(harness: SteadyHarness): Promise<SteadyFigures> {
  const sim = harness.sim;
  const say = (text: string): void => harness.say(text);
  say(
    `Scenario steady: ${STEADY_USERS} users with nested drives, crawled, ${STEADY_CHANGE_SHARE * 100}% changed, crawled`,
  );
  return harness.withAzurite(async (azurite) => {
    const scopes = {} as Record<CrawlScope, SteadyScope>;
    for (const [index, scope] of CRAWL_SCOPES.entries()) {
      const tenantId = `5ea00000-0000-4000-8000-00000000000${index + 1}`;
      const info = await harness.createTenant(harness.tenantSpec(5_001, STEADY_USERS, tenantId));
      const tenant: BenchTenant = { tenantId: info.tenantId, domain: info.domain };
      const unitsSoFar = async (): Promise<number> =>
        (await sim.throttleStats(info.tenantId, harness.clientId)).unitsSpent;
      const trees = await driveTrees(sim, info.tenantId);
      const drives = trees.size;
      const items = [...trees.values()].reduce((sum, tree) => sum + tree.items.length, 0);

      const first = await harness.runCrawler(
        harness.job(`steady ${scope} 1`, azurite, [tenant], scope),
        azurite,
      );
      const unitsFirst = await unitsSoFar();
      const itemsChanged = await changeItems(sim, info.tenantId, 5_101, STEADY_CHANGE_SHARE);
      const second = await harness.runCrawler(
        harness.job(`steady ${scope} 2`, azurite, [tenant], scope),
        azurite,
      );
      const unitsSecond = (await unitsSoFar()) - unitsFirst;
      const after = await driveTrees(sim, info.tenantId);
      const exact = await exactRows(harness.table(azurite, 'DriveItems'), info.tenantId, after, scope);
      const secondCost = costOf(second, unitsSecond, drives);
      scopes[scope] = {
        scope,
        drives,
        items,
        itemsChanged,
        first: costOf(first, unitsFirst, drives),
        second: secondCost,
        steadyStateUnitsPerDrive: secondCost.unitsPerDrive,
        transactionsPerChange: itemsChanged > 0 ? secondCost.transactions / itemsChanged : 0,
        ...(scope === 'drive' ? { recursiveWalkUnits: recursiveWalkUnits(trees) } : {}),
        exact,
      };
      say(
        `  ${scope}: ${drives} drives, ${items} items; first ${unitsFirst} units, then ${itemsChanged} changed: ` +
          `${unitsSecond} units (${secondCost.unitsPerDrive.toFixed(3)} a drive), ${secondCost.transactions} ` +
          `transactions, exact ${exact}`,
      );
    }
    return {
      scopes,
      steadyStateUnitsPerDrive: {
        root: scopes.root.steadyStateUnitsPerDrive,
        drive: scopes.drive.steadyStateUnitsPerDrive,
      },
    };
  });
}
