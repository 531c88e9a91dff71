import type { TableClient } from '@azure/data-tables';
import {
  RestError,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';
import type { HttpClient } from '@azure/core-rest-pipeline';
import { randomUUID } from 'node:crypto';

/**
 * Lean versions of the two table calls the crawl makes per user: a point read and an upsert transaction. They go
 * through the `TableClient`'s own pipeline (so authentication, retries and the service version are the SDK's),
 * but build and read the request themselves: the SDK's `submitTransaction` runs its whole request pipeline once
 * per entity to assemble the body (about 100 µs of CPU per entity here), and `getEntity` throws an error with a
 * stack for every 404. Here a 60-entity transaction costs one request's overhead plus a `JSON.stringify` each.
 */

/**
 * An entity as the SDK takes it: `partitionKey`, `rowKey` and properties that are strings, numbers, booleans or
 * explicitly typed values (`{ value: '5', type: 'Int64' }`).
 */
export interface TableEntity {
  partitionKey: string;
  rowKey: string;
}

/** What this process sent through these calls, in all and by table, for benchmarks and logs. */
export const tableBatchStats = {
  transactions: 0,
  entities: 0,
  reads: 0,
  byTable: {} as Record<string, { transactions: number; entities: number }>,
};

let httpClient: HttpClient | undefined;

const CRLF = '\r\n';

function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** The account URL without a SAS query, and the query to append after the resource path. */
function splitAccountUrl(client: TableClient): { base: string; sas: string; insecure: boolean } {
  const [base = '', query] = client.url.split('?');
  return {
    base: base.replace(/\/+$/, ''),
    sas: query === undefined ? '' : `?${query}`,
    insecure: isLoopbackHttp(new URL(client.url)),
  };
}

/** One key in an OData key predicate: quotes doubled, then percent-encoded. */
function keyLiteral(value: string): string {
  return encodeURIComponent(value.replace(/'/g, "''"));
}

/** The OData key predicate of one entity. */
function entityPath(table: string, partitionKey: string, rowKey: string): string {
  return `${table}(PartitionKey='${keyLiteral(partitionKey)}',RowKey='${keyLiteral(rowKey)}')`;
}

/**
 * An entity already in the Table service's JSON (`PartitionKey`, `RowKey`, `@odata.type` annotations), for
 * callers that write many rows of one fixed shape: a literal of that shape stringifies several times faster
 * than the generic conversion below (measured: ~7 µs an item on the benchmark's large tenant went to ~2 µs).
 */
export interface PreparedEntity {
  partitionKey: string;
  rowKey: string;
  json: string;
}

/** The entity as the Table service's JSON: `PartitionKey`/`RowKey`, and an `@odata.type` for 64-bit integers. */
function entityJson(entity: TableEntity): string {
  const body: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity) as Array<[string, unknown]>) {
    if (value === undefined) continue;
    const property = name === 'partitionKey' ? 'PartitionKey' : name === 'rowKey' ? 'RowKey' : name;
    if (typeof value === 'object' && value !== null && 'type' in value && 'value' in value) {
      body[property] = value.value;
      body[`${property}@odata.type`] = `Edm.${String(value.type)}`;
    } else {
      body[property] = value;
    }
  }
  return JSON.stringify(body);
}

/** The error a failed request or sub-request becomes, shaped like the SDK's (`statusCode`, `code`). */
function failure(status: number, text: string): RestError {
  let code: string | undefined;
  let message = `Table request failed with status ${status}`;
  const json = /\{[\s\S]*\}/.exec(text)?.[0];
  if (json) {
    try {
      const parsed = JSON.parse(json) as { 'odata.error'?: { code?: string; message?: { value?: string } } };
      code = parsed['odata.error']?.code;
      message = parsed['odata.error']?.message?.value ?? message;
    } catch {
      // not JSON: keep the generic message
    }
  }
  return new RestError(message, { statusCode: status, ...(code === undefined ? {} : { code }) });
}

/**
 * Upserts entities of one partition in one transaction (at most 100; all or nothing). `Replace` replaces each
 * entity whole, `Merge` keeps the properties it does not name. Throws like `submitTransaction` when the
 * service refuses the transaction or any operation in it.
 */
export async function upsertTransaction(
  client: TableClient,
  entities: readonly TableEntity[],
  mode: 'Replace' | 'Merge',
): Promise<void> {
  await upsertPrepared(
    client,
    entities.map((entity) => ({
      partitionKey: entity.partitionKey,
      rowKey: entity.rowKey,
      json: entityJson(entity),
    })),
    mode,
  );
}

/**
 * The multipart body of a transaction, written straight into one buffer of its exact size. Joining the parts into
 * one string first cost about 7.6 µs of CPU an item on the benchmark's realistic tenant (docs/benchmark.md, "Where the
 * realistic crawl's CPU goes"): a name outside Latin-1 makes the whole string of 100 entities two-byte, some 220 KB, which V8
 * builds in its large-object space.
 */
function transactionBody(
  batch: string,
  changeset: string,
  head: string,
  tail: string,
  entities: readonly PreparedEntity[],
): Buffer {
  const opening = Buffer.from(`--${batch}${CRLF}Content-Type: multipart/mixed; boundary=${changeset}${CRLF}`);
  const headBytes = Buffer.from(`${CRLF}${head}`);
  const tailBytes = Buffer.from(tail);
  const closing = Buffer.from(`${CRLF}--${changeset}--${CRLF}--${batch}--${CRLF}`);
  // Percent-encoded, so ASCII: one byte a character.
  const rowKeys = entities.map((entity) => keyLiteral(entity.rowKey));
  let size = opening.length + closing.length;
  entities.forEach((entity, i) => {
    size += headBytes.length + rowKeys[i]!.length + tailBytes.length + Buffer.byteLength(entity.json);
  });
  const body = Buffer.allocUnsafe(size);
  let at = opening.copy(body, 0);
  entities.forEach((entity, i) => {
    at += headBytes.copy(body, at);
    at += body.write(rowKeys[i]!, at, 'latin1');
    at += tailBytes.copy(body, at);
    at += body.write(entity.json, at, 'utf8');
  });
  at += closing.copy(body, at);
  if (at !== size) throw new Error(`transaction body: wrote ${at} of ${size} bytes`);
  return body;
}

/** `upsertTransaction` for entities already serialized. */
export async function upsertPrepared(
  client: TableClient,
  entities: readonly PreparedEntity[],
  mode: 'Replace' | 'Merge',
): Promise<void> {
  const first = entities[0];
  if (!first) return;
  if (entities.some((entity) => entity.partitionKey !== first.partitionKey)) {
    throw new RangeError('A table transaction holds entities of one partition only');
  }
  const { base, sas, insecure } = splitAccountUrl(client);
  const batch = `batch_${randomUUID()}`;
  const changeset = `changeset_${randomUUID()}`;
  const method = mode === 'Replace' ? 'PUT' : 'PATCH';
  // Everything before an entity's row key is the same for the whole transaction (one partition).
  const head =
    `--${changeset}${CRLF}Content-Type: application/http${CRLF}Content-Transfer-Encoding: binary${CRLF}${CRLF}` +
    `${method} ${base}/${client.tableName}(PartitionKey='${keyLiteral(first.partitionKey)}',RowKey='`;
  const tail = `') HTTP/1.1${CRLF}Content-Type: application/json${CRLF}Accept: application/json;odata=nometadata${CRLF}DataServiceVersion: 3.0${CRLF}${CRLF}`;
  const request = createPipelineRequest({
    url: `${base}/$batch${sas}`,
    method: 'POST',
    // Bytes, encoded once: a string body is measured by the shared-key policy, measured again and encoded by
    // `http` (each a pass over ~30 KB), which cost ~7% of the crawl's CPU on the benchmark's large tenant.
    body: transactionBody(batch, changeset, head, tail, entities),
    headers: createHttpHeaders({
      Accept: 'application/json',
      'Content-Type': `multipart/mixed; boundary=${batch}`,
      DataServiceVersion: '3.0;',
      MaxDataServiceVersion: '3.0;NetFx',
    }),
    allowInsecureConnection: insecure,
  });
  httpClient ??= createDefaultHttpClient();
  tableBatchStats.transactions += 1;
  tableBatchStats.entities += entities.length;
  const byTable = (tableBatchStats.byTable[client.tableName] ??= { transactions: 0, entities: 0 });
  byTable.transactions += 1;
  byTable.entities += entities.length;
  const response = await client.pipeline.sendRequest(httpClient, request);
  const text = response.bodyAsText ?? '';
  if (response.status < 200 || response.status >= 300) throw failure(response.status, text);
  // A refused changeset answers 202 with one sub-response: the failing operation's status and error.
  for (const match of text.matchAll(/HTTP\/1\.1 (\d{3})/g)) {
    const status = Number(match[1]);
    if (status >= 300) throw failure(status, text);
  }
}

/** One entity by its keys, with its properties as plain JSON values; undefined when there is none (404). */
export async function readEntity(
  client: TableClient,
  partitionKey: string,
  rowKey: string,
): Promise<Record<string, unknown> | undefined> {
  const { base, sas, insecure } = splitAccountUrl(client);
  const request = createPipelineRequest({
    url: `${base}/${entityPath(client.tableName, partitionKey, rowKey)}${sas}`,
    method: 'GET',
    headers: createHttpHeaders({ Accept: 'application/json;odata=nometadata', DataServiceVersion: '3.0' }),
    allowInsecureConnection: insecure,
  });
  httpClient ??= createDefaultHttpClient();
  tableBatchStats.reads += 1;
  const response = await client.pipeline.sendRequest(httpClient, request);
  const text = response.bodyAsText ?? '';
  // 404 for the entity (`ResourceNotFound`); a missing table is an error like any other.
  if (response.status === 404 && !text.includes('TableNotFound')) return undefined;
  if (response.status < 200 || response.status >= 300) throw failure(response.status, text);
  const { PartitionKey, RowKey, ...properties } = JSON.parse(text) as Record<string, unknown>;
  return { partitionKey: PartitionKey, rowKey: RowKey, ...properties };
}
