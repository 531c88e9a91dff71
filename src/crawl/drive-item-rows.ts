/** The rows of `DriveItems` (docs/contract.md): a user's items checked against Table Storage's rules and serialized once. */
import type { GraphDriveItem } from '../graph/graph-types';
import { TABLE_BUDGET, TABLE_LIMITS, keyProblem } from '../storage/table-limits';
import type { PreparedEntity } from '../storage/table-batch';

/** A drive's owner as the crawl knows them. */
export interface DriveOwner {
  id: string;
  upn: string;
}

/** One item's row, serialized once, with an upper bound of its payload in bytes. */
export interface PreparedRow extends PreparedEntity {
  bytes: number;
}

/** A user's rows ready to write: every row checked against Table Storage's rules, each ID once. */
export interface PreparedUser {
  user: DriveOwner;
  rows: PreparedRow[];
  /**
   * A delta's changes: the IDs to remove, the user's other rows kept. Absent, `rows` is the whole listing and
   * every other row of the user goes.
   */
  removed?: readonly string[];
}

/** The partition of a user's rows in `DriveItems` (contract). */
export function driveItemPartition(tenantId: string, userId: string): string {
  return `${tenantId}_${userId}`;
}

/** Bytes the service counts for a string property named `name` (docs/table-limits.md). */
const stringBytes = (name: string, value: string): number => 12 + 2 * (name.length + value.length);

/**
 * Why an item's row cannot be stored, or undefined. Checks what can vary: the keys, each string against 64 KiB,
 * the entity against 1 MiB (the other properties are numbers and booleans of fixed size).
 */
function rowProblem(partitionKey: string, upn: string, item: GraphDriveItem): string | undefined {
  const key = keyProblem('RowKey', item.id);
  if (key) return `item ${JSON.stringify(item.id.slice(0, 64))}: ${key}`;
  const strings: Array<[string, string]> = [
    ['userPrincipalName', upn],
    ['name', item.name ?? ''],
    ['webUrl', item.webUrl ?? ''],
    ['eTag', item.eTag ?? ''],
    ['lastModifiedDateTime', item.lastModifiedDateTime ?? ''],
    ['mimeType', item.file?.mimeType ?? ''],
    ['parentId', item.parentReference?.id ?? ''],
  ];
  let bytes = 4 + 2 * (partitionKey.length + item.id.length) + 200;
  for (const [name, value] of strings) {
    if (value.length > TABLE_LIMITS.stringChars) {
      return `item ${item.id}: property ${name} is ${value.length} characters (Table Storage allows ${TABLE_LIMITS.stringChars})`;
    }
    bytes += stringBytes(name, value);
  }
  if (bytes > TABLE_BUDGET.entityBytes)
    return `item ${item.id}: the row is ${bytes} bytes (Table Storage allows 1 MiB)`;
  return undefined;
}

/**
 * One item's row in the Table service's JSON. A literal of one fixed shape (absent fields are `undefined`, which
 * `JSON.stringify` leaves out) keeps this monomorphic: it runs once per stored item.
 *
 * `name` goes last. V8 builds the string in pieces and, from the first character outside Latin-1 on, stores every
 * later piece at two bytes a character; a name is the value that most often has such a character, so with it last
 * the rest of the row stays one byte a character while it waits to be written: 1.6 KB a row of the benchmark's
 * tenants became 1.2 KB (docs/benchmark.md). The Table service reads an entity's members in any order.
 */
function driveItemJson(partitionKey: string, user: DriveOwner, runId: string, item: GraphDriveItem): string {
  return JSON.stringify({
    PartitionKey: partitionKey,
    RowKey: item.id,
    userId: user.id,
    userPrincipalName: user.upn,
    size: String(Math.trunc(item.size ?? 0)),
    'size@odata.type': 'Edm.Int64',
    isFolder: item.folder !== undefined,
    webUrl: item.webUrl ?? '',
    eTag: item.eTag ?? '',
    lastModifiedDateTime: item.lastModifiedDateTime ?? '',
    runId,
    parentId: item.parentReference?.id ?? '',
    childCount: item.folder ? (item.folder.childCount ?? 0) : undefined,
    mimeType: item.file?.mimeType || undefined,
    name: item.name ?? '',
  });
}

/**
 * Turns a page of a user's items into rows: each ID once (`seen` carries the IDs of the user's earlier pages; an
 * item repeated across a page boundary is stored once), every row checked against Table Storage's rules before
 * any is written. Returns the first rule broken instead, so the caller can skip the user with nothing written.
 */
export function prepareRows(
  tenantId: string,
  user: DriveOwner,
  items: readonly GraphDriveItem[],
  runId: string,
  seen: Set<string>,
): { rows: PreparedRow[] } | { problem: string } {
  const partitionKey = driveItemPartition(tenantId, user.id);
  const partition = keyProblem('PartitionKey', partitionKey);
  if (partition) return { problem: `user ${JSON.stringify(user.id.slice(0, 64))}: ${partition}` };
  const rows: PreparedRow[] = [];
  for (const item of items) {
    if (seen.has(item.id)) continue;
    const problem = rowProblem(partitionKey, user.upn, item);
    if (problem) return { problem };
    seen.add(item.id);
    const json = driveItemJson(partitionKey, user, runId, item);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a bound that needs no pass over the string.
    rows.push({ partitionKey, rowKey: item.id, json, bytes: 3 * json.length });
  }
  return { rows };
}
