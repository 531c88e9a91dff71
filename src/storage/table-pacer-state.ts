import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { tableCreatedOnce } from './storage-clients';

/** RowKey of a tenant's hold row (PartitionKey is the tenant ID). */
const HOLD_ROW = 'hold';
/** RowKeys of heartbeat rows start with this, followed by the instance ID. */
const INSTANCE_PREFIX = 'instance_';
/** ETag races lost in a row before `extendHold` gives up: each round one writer wins, so this is generous. */
const MAX_HOLD_ATTEMPTS = 50;

interface HoldRow {
  holdUntil?: unknown;
}

interface PartitionRow {
  expiresAt?: unknown;
  holdUntil?: unknown;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function msOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/**
 * The pacers' shared state in Azure Table Storage, one partition per tenant: the row `hold` keeps when the
 * tenant's hold ends (`holdUntil`, ms since the epoch) and the rows `instance_<id>` say until when each instance
 * works on the tenant (`expiresAt`). The table is created on first use. Times come from the instances' wall
 * clocks, so holds are as exact as those clocks agree. It has the shape of the graph room's `SharedPacerState`
 * (storage sits below graph, so it names no type of graph's).
 */
export class TablePacerState {
  readonly #table: TableClient;
  readonly #now: () => number;
  readonly #ensureTable: () => Promise<void>;

  /** `table` names the table (e.g. "PacerState"); `now` gives ms since the epoch. */
  constructor(table: TableClient, options: { now?: () => number } = {}) {
    this.#table = table;
    this.#now = options.now ?? Date.now;
    this.#ensureTable = tableCreatedOnce(table);
  }

  async readHold(tenantId: string): Promise<number> {
    await this.#ensureTable();
    try {
      const row = await this.#table.getEntity<HoldRow>(tenantId, HOLD_ROW);
      return msOf(row.holdUntil);
    } catch (error) {
      if (statusOf(error) === 404) return 0;
      throw error;
    }
  }

  /** Read, compare, then write with the row's ETag; a lost race (412, or 409 on the first insert) reads again. */
  async extendHold(tenantId: string, untilMs: number): Promise<void> {
    await this.#ensureTable();
    const holdUntil = Math.ceil(untilMs);
    const row = { partitionKey: tenantId, rowKey: HOLD_ROW, holdUntil };
    for (let attempt = 0; attempt < MAX_HOLD_ATTEMPTS; attempt += 1) {
      let current: { holdUntil?: unknown; etag: string } | undefined;
      try {
        current = await this.#table.getEntity<HoldRow>(tenantId, HOLD_ROW);
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      try {
        if (!current) {
          await this.#table.createEntity(row);
          return;
        }
        if (msOf(current.holdUntil) >= holdUntil) return;
        await this.#table.updateEntity(row, 'Replace', { etag: current.etag });
        return;
      } catch (error) {
        const status = statusOf(error);
        if (status !== 409 && status !== 412) throw error;
      }
    }
    throw new Error(`Could not extend the pacer hold of tenant ${tenantId}: too many concurrent writers`);
  }

  /**
   * Upserts this instance's row, then reads the tenant's partition once: counts the instance rows that have not
   * expired and reads the hold row on the way (the partition holds it too). Expired rows are deleted (with their
   * ETag, so a row refreshed meanwhile stays).
   */
  async heartbeat(
    tenantId: string,
    instanceId: string,
    ttlMs: number,
  ): Promise<{ instances: number; holdUntil: number }> {
    await this.#ensureTable();
    const now = this.#now();
    const ownKey = `${INSTANCE_PREFIX}${instanceId}`;
    await this.#table.upsertEntity(
      { partitionKey: tenantId, rowKey: ownKey, expiresAt: now + ttlMs },
      'Replace',
    );
    let active = 0;
    let holdUntil = 0;
    const expired: Array<{ rowKey: string; etag: string }> = [];
    const rows = this.#table.listEntities<PartitionRow>({
      queryOptions: { filter: odata`PartitionKey eq ${tenantId}` },
    });
    for await (const row of rows) {
      if (row.rowKey === HOLD_ROW) holdUntil = msOf(row.holdUntil);
      if (!row.rowKey?.startsWith(INSTANCE_PREFIX)) continue;
      if (msOf(row.expiresAt) > now || row.rowKey === ownKey) active += 1;
      else expired.push({ rowKey: row.rowKey, etag: row.etag });
    }
    // Best effort: a row another instance refreshed (412) or already deleted (404) is fine as it is.
    await Promise.allSettled(
      expired.map((row) => this.#table.deleteEntity(tenantId, row.rowKey, { etag: row.etag })),
    );
    return { instances: Math.max(1, active), holdUntil };
  }
}
