import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { tableCreatedOnce, isConflict, isNotFound } from '../storage/storage-clients';

/** 256 random bits, base64url: 43 characters. */
export const STATE_PATTERN = /^[A-Za-z0-9_-]{43}/;
export const STATE_TTL_MS = 60 * 60_000;

interface StateEntity {
  partitionKey: string;
  rowKey: string;
  browser: string;
  expiresAt: number;
  /** The organization the admin named on the landing page (a domain or GUID; not a secret), if any. */
  hint?: string;
  /** Set when the state was used; the row stays until it expires so a replay is told apart from nonsense. */
  usedAt?: number;
  etag?: string;
}

/** Why a state was refused; each gets its own page. */
export type StateRefusal = 'unknown' | 'expired' | 'other_browser' | 'replayed';

const PARTITION = 'state';
const hash = (value: string): string => createHash('sha256').update(value).digest('base64url');

/** A fresh random value for a state or a browser binding. */
export function newRandomToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Pending consent flows. Only hashes are stored (a leaked table row can't be replayed); a state is bound to the
 * browser binding from its cookie, lives an hour, and is consumed exactly once: marking it used is conditional
 * on the row's ETag, so of many concurrent callbacks with the same state, exactly one wins.
 */
export class ConsentStateStore {
  readonly #table: TableClient;
  readonly #now: () => number;
  readonly #ensure: () => Promise<void>;

  constructor(table: TableClient, now: () => number = Date.now) {
    this.#table = table;
    this.#ensure = tableCreatedOnce(table);
    this.#now = now;
  }

  /** Remembers a new state for the browser holding `binding`. */
  async save(state: string, binding: string, hint?: string): Promise<void> {
    await this.#ensure();
    await this.#table.createEntity<StateEntity>({
      partitionKey: PARTITION,
      rowKey: hash(state),
      browser: hash(binding),
      expiresAt: this.#now() + STATE_TTL_MS,
      ...(hint ? { hint } : {}),
    });
  }

  /**
   * Consumes the state if it is known, fresh and bound to this browser. A state presented by another browser is
   * left in place (the admin who started it can still finish).
   */
  async consume(
    state: string,
    binding: string | undefined,
  ): Promise<{ ok: true; hint: string | undefined } | { ok: false; reason: StateRefusal }> {
    await this.#ensure();
    let entity: StateEntity;
    try {
      entity = await this.#table.getEntity<StateEntity>(PARTITION, hash(state));
    } catch (error) {
      if (isNotFound(error)) return { ok: false, reason: 'unknown' };
      throw error;
    }
    if (entity.usedAt !== undefined) return { ok: false, reason: 'replayed' };
    const expected = Buffer.from(entity.browser);
    const presented = Buffer.from(binding ? hash(binding) : '');
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) {
      return { ok: false, reason: 'other_browser' };
    }
    try {
      await this.#table.updateEntity(
        { partitionKey: PARTITION, rowKey: entity.rowKey, usedAt: this.#now() },
        'Merge',
        { etag: entity.etag ?? '*' },
      );
    } catch (error) {
      if (isNotFound(error) || isConflict(error)) return { ok: false, reason: 'replayed' };
      throw error;
    }
    if (entity.expiresAt <= this.#now()) return { ok: false, reason: 'expired' };
    return { ok: true, hint: entity.hint || undefined };
  }
}

/** Deletes states that expired, so abandoned flows do not pile up (called from the planner). */
export async function purgeExpiredStates(table: TableClient, now: number = Date.now()): Promise<number> {
  let purged = 0;
  try {
    const rows = table.listEntities<StateEntity>({
      queryOptions: {
        filter: odata`PartitionKey eq ${PARTITION} and expiresAt lt ${now}`,
        select: ['PartitionKey', 'RowKey'],
      },
    });
    for await (const row of rows) {
      try {
        await table.deleteEntity(PARTITION, row.rowKey);
        purged += 1;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return purged;
}
