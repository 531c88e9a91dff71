import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import { isConflict, isNotFound } from '../storage/storage-clients';
import { TableStore } from '../storage/table-store';

/** 256 random bits, base64url: 43 characters. */
export const STATE_PATTERN = /^[A-Za-z0-9_-]{43}/;
export const STATE_TTL_MS = 60 * 60_000;

/**
 * What a flow carries between its steps. `signin`: the OpenID Connect request in flight (the nonce, the PKCE
 * verifier, the authority's tenant segment); `consent`: the tenant whose admin signed in. Both may carry the
 * invitation's key and the organization the admin typed.
 */
export type FlowStep =
  | {
      phase: 'signin';
      nonce: string;
      verifier: string;
      authority: string;
      hint?: string;
      invitation?: string;
    }
  | { phase: 'consent'; tenantId: string; hint?: string; invitation?: string };

interface StateEntity {
  partitionKey: string;
  rowKey: string;
  browser: string;
  expiresAt: number;
  phase: FlowStep['phase'];
  /** The organization the admin named on the landing page (a domain or GUID; not a secret), if any. */
  hint?: string;
  nonce?: string;
  /**
   * The PKCE verifier: worthless without the authorization code, which only our redirect URI receives, and the
   * app's credential. Deleted with the row when the code comes back.
   */
  verifier?: string;
  authority?: string;
  tenantId?: string;
  /** The invitation's table key (a hash; never the token). */
  invitation?: string;
  etag?: string;
}

/** Why a state was refused; each gets its own page. A used state is gone, so a replay reads as `unknown`. */
export type StateRefusal = 'unknown' | 'expired' | 'other_browser';

const PARTITION = 'state';
const hash = (value: string): string => createHash('sha256').update(value).digest('base64url');

/** A fresh random value for a state or a browser binding. */
export function newRandomToken(): string {
  return randomBytes(32).toString('base64url');
}

function stepOf(entity: StateEntity): FlowStep | undefined {
  const common = {
    ...(entity.hint ? { hint: entity.hint } : {}),
    ...(entity.invitation ? { invitation: entity.invitation } : {}),
  };
  if (entity.phase === 'signin' && entity.nonce && entity.verifier && entity.authority) {
    return {
      phase: 'signin',
      nonce: entity.nonce,
      verifier: entity.verifier,
      authority: entity.authority,
      ...common,
    };
  }
  if (entity.phase === 'consent' && entity.tenantId)
    return { phase: 'consent', tenantId: entity.tenantId, ...common };
  return undefined;
}

/**
 * Pending consent flows, one row per step. Only hashes of the state and the browser binding are stored (a leaked
 * row can't be replayed); a state is bound to the browser binding from its cookie, lives an hour, and is used
 * exactly once: it is deleted on use, conditional on the row's ETag, so of many concurrent callbacks with the same
 * state exactly one wins. Rows of abandoned flows are purged by the timer (`purgeExpiredStates`).
 */
export class ConsentStateStore extends TableStore {
  /** Remembers a new state for the browser holding `binding`, for the given step of the flow. */
  async save(state: string, binding: string, step: FlowStep): Promise<void> {
    await this.ensure();
    await this.table.createEntity<StateEntity>({
      partitionKey: PARTITION,
      rowKey: hash(state),
      browser: hash(binding),
      expiresAt: this.now() + STATE_TTL_MS,
      ...step,
    });
  }

  /**
   * Uses the state if it is known, fresh and bound to this browser, and returns its step. A state presented by
   * another browser is left in place (the admin who started it can still finish).
   */
  async consume(
    state: string,
    binding: string | undefined,
  ): Promise<{ ok: true; step: FlowStep } | { ok: false; reason: StateRefusal }> {
    await this.ensure();
    let entity: StateEntity;
    try {
      entity = await this.table.getEntity<StateEntity>(PARTITION, hash(state));
    } catch (error) {
      if (isNotFound(error)) return { ok: false, reason: 'unknown' };
      throw error;
    }
    const expected = Buffer.from(entity.browser);
    const presented = Buffer.from(binding ? hash(binding) : '');
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) {
      return { ok: false, reason: 'other_browser' };
    }
    try {
      await this.table.deleteEntity(PARTITION, entity.rowKey, { etag: entity.etag ?? '*' });
    } catch (error) {
      if (isNotFound(error) || isConflict(error)) return { ok: false, reason: 'unknown' };
      throw error;
    }
    const step = stepOf(entity);
    if (entity.expiresAt <= this.now()) return { ok: false, reason: 'expired' };
    return step ? { ok: true, step } : { ok: false, reason: 'unknown' };
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
