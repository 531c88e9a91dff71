/**
 * Azure Table Storage's limits (docs/table-limits.md), and the checks the crawl runs on a row before it writes
 * any row of that user, so a row the service would refuse is found while nothing of the user is written yet.
 */
export const TABLE_LIMITS = {
  /** A string property holds 64 KiB of UTF-16: 32,768 characters. */
  stringChars: 32_768,
  /** An entity, keys and property names included, as the service sizes it. */
  entityBytes: 1024 * 1024,
  /** Properties of an entity besides PartitionKey, RowKey and Timestamp. */
  properties: 252,
  /** A key is at most 1 KiB (UTF-16: 512 characters). */
  keyChars: 512,
  /** Operations in one transaction, all in one partition. */
  transactionEntities: 100,
  /** A transaction's payload. */
  transactionBytes: 4 * 1024 * 1024,
} as const;

/**
 * What the crawl aims under, leaving room for the transaction's own framing (boundaries and sub-request
 * headers, a few hundred bytes an operation) and for the service's bookkeeping in an entity.
 */
export const TABLE_BUDGET = {
  transactionBytes: 3.5 * 1024 * 1024,
  entityBytes: 960 * 1024,
} as const;

/** Characters a key may not hold: `/ \ # ?` and the control characters U+0000-U+001F and U+007F-U+009F. */
const FORBIDDEN_KEY_CHARACTER = /[/\\#?\u0000-\u001f\u007f-\u009f]/;

/** Why a value cannot be a PartitionKey or RowKey, or undefined when it can. */
export function keyProblem(name: 'PartitionKey' | 'RowKey', value: string): string | undefined {
  if (value.length === 0) return `${name} is empty`;
  if (value.length > TABLE_LIMITS.keyChars)
    return `${name} is ${value.length} characters (Table Storage allows ${TABLE_LIMITS.keyChars})`;
  const bad = FORBIDDEN_KEY_CHARACTER.exec(value);
  if (bad) {
    const code = bad[0].codePointAt(0) ?? 0;
    return `${name} holds the character U+${code.toString(16).toUpperCase().padStart(4, '0')}, which Table Storage refuses in keys`;
  }
  return undefined;
}

/** A property's value as the crawl writes it. */
export type TableValue = string | number | boolean | undefined;

/**
 * The size the service counts for an entity: 4 bytes, the keys in UTF-16, and for each
 * property 8 bytes plus its name in UTF-16 and its value (a string in UTF-16 plus 4 bytes, a number 8, a boolean 1).
 */
export function entityBytes(
  partitionKey: string,
  rowKey: string,
  properties: Record<string, TableValue>,
): number {
  let bytes = 4 + 2 * (partitionKey.length + rowKey.length);
  for (const [name, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    bytes += 8 + 2 * name.length;
    bytes += typeof value === 'string' ? 4 + 2 * value.length : typeof value === 'number' ? 8 : 1;
  }
  return bytes;
}

/** Why an entity would be refused (keys, a string past 64 KiB, too many properties, too large), or undefined. */
export function entityProblem(
  partitionKey: string,
  rowKey: string,
  properties: Record<string, TableValue>,
): string | undefined {
  const key = keyProblem('PartitionKey', partitionKey) ?? keyProblem('RowKey', rowKey);
  if (key) return key;
  let count = 0;
  for (const [name, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    count += 1;
    if (typeof value === 'string' && value.length > TABLE_LIMITS.stringChars) {
      return `property ${name} is ${value.length} characters (Table Storage allows ${TABLE_LIMITS.stringChars})`;
    }
  }
  if (count > TABLE_LIMITS.properties)
    return `${count} properties (Table Storage allows ${TABLE_LIMITS.properties})`;
  const bytes = entityBytes(partitionKey, rowKey, properties);
  if (bytes > TABLE_BUDGET.entityBytes) return `the entity is ${bytes} bytes (Table Storage allows 1 MiB)`;
  return undefined;
}

/**
 * Splits rows into transactions of at most 100 rows and `TABLE_BUDGET.transactionBytes` of payload, in order.
 * `size` is a row's payload in bytes (its JSON's UTF-8 length is a fair measure).
 */
export function* transactionChunks<T>(rows: readonly T[], size: (row: T) => number): Generator<T[]> {
  let chunk: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const rowBytes = size(row) + 512;
    if (
      chunk.length > 0 &&
      (chunk.length >= TABLE_LIMITS.transactionEntities || bytes + rowBytes > TABLE_BUDGET.transactionBytes)
    ) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += rowBytes;
  }
  if (chunk.length > 0) yield chunk;
}
