/**
 * `itemsExact`: after a crawl, the `DriveItems` table must hold exactly the simulator's drives: one row per root
 * child of every licensed user with a drive, no other row, and every property as Graph gave it.
 */
import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import type { SimControl, SimDriveItem } from '../sim/types';

export interface ItemsCheck {
  exact: boolean;
  rowsRead: number;
  itemsExpected: number;
  missing: number;
  extra: number;
  different: number;
  /** A few mismatches, for the report. */
  examples: string[];
}

type Row = Record<string, unknown> & { partitionKey?: string; rowKey?: string };

/** A property value as text: typed values (`{ value, type }`) by their value, absent ones as `undefined`. */
function text(value: unknown): string {
  if (typeof value === 'object' && value !== null && 'value' in value) return text(value.value);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

function differences(row: Row, userId: string, item: SimDriveItem): string[] {
  const expected: Record<string, string> = {
    userId,
    name: item.name,
    size: String(item.size),
    isFolder: String(item.folder !== undefined),
    webUrl: item.webUrl,
    eTag: item.eTag,
    lastModifiedDateTime: item.lastModifiedDateTime,
    childCount: item.folder ? String(item.folder.childCount) : 'undefined',
    mimeType: item.file?.mimeType ? item.file.mimeType : 'undefined',
  };
  const actual: Record<string, string> = {
    userId: text(row.userId),
    name: text(row.name),
    size: text(row.size),
    isFolder: text(row.isFolder),
    webUrl: text(row.webUrl),
    eTag: text(row.eTag),
    lastModifiedDateTime: text(row.lastModifiedDateTime),
    childCount: text(row.childCount),
    mimeType: text(row.mimeType),
  };
  return Object.keys(expected).filter((key) => expected[key] !== actual[key]);
}

/**
 * Reads the whole `DriveItems` table once and compares it with the drives of `tenantIds` in the simulator; with
 * `tenantsOnly`, reads only those tenants' partitions (other tenants' rows are then not counted as extra).
 */
export async function checkItemsExact(
  table: TableClient,
  sim: SimControl,
  tenantIds: string[],
  options: { tenantsOnly?: boolean } = {},
): Promise<ItemsCheck> {
  const expected = new Map<string, Map<string, { userId: string; item: SimDriveItem }>>();
  let itemsExpected = 0;
  for (const tenantId of tenantIds) {
    for (const [userId, items] of Object.entries(await sim.drives(tenantId))) {
      const partition = new Map<string, { userId: string; item: SimDriveItem }>();
      for (const item of items) partition.set(item.id, { userId, item });
      itemsExpected += items.length;
      if (partition.size > 0) expected.set(`${tenantId}_${userId}`, partition);
    }
  }
  const check: ItemsCheck = {
    exact: true,
    rowsRead: 0,
    itemsExpected,
    missing: 0,
    extra: 0,
    different: 0,
    examples: [],
  };
  const note = (text: string): void => {
    check.exact = false;
    if (check.examples.length < 5) check.examples.push(text);
  };
  const seen = new Set<string>();
  // A tenant's partitions are `<tenantId>_<userId>`: from `<tenantId>_` up to the next character after `_`.
  const filters = options.tenantsOnly
    ? tenantIds.map((id) => odata`PartitionKey ge ${`${id}_`} and PartitionKey lt ${`${id}\u0060`}`)
    : [undefined];
  const rows = async function* (): AsyncGenerator<Row> {
    for (const filter of filters) {
      yield* table.listEntities<Row>(filter === undefined ? {} : { queryOptions: { filter } });
    }
  };
  for await (const row of rows()) {
    check.rowsRead += 1;
    const key = `${row.partitionKey ?? ''}/${row.rowKey ?? ''}`;
    const want = expected.get(row.partitionKey ?? '')?.get(row.rowKey ?? '');
    if (!want) {
      check.extra += 1;
      note(`extra row ${key}`);
      continue;
    }
    seen.add(key);
    const wrong = differences(row, want.userId, want.item);
    if (wrong.length > 0) {
      check.different += 1;
      note(`row ${key} differs in ${wrong.join(', ')}`);
    }
  }
  for (const [partition, items] of expected) {
    for (const id of items.keys()) {
      if (!seen.has(`${partition}/${id}`)) {
        check.missing += 1;
        note(`missing row ${partition}/${id}`);
      }
    }
  }
  return check;
}
