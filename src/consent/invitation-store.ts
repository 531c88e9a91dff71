import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { isConflict, isNotFound } from '../storage/storage-clients';
import { TableStore } from '../storage/table-store';

const PARTITION = 'invitation';
/** 256 random bits, base64url: 43 characters. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
export const DEFAULT_INVITATION_HOURS = 7 * 24;
export const MAX_INVITATION_HOURS = 30 * 24;

/** An invitation as the operator sees it (never the token, which exists only in the link). */
export interface Invitation {
  /** The invitation's public ID (what the operator and `Tenants.invitationId` see). */
  id: string;
  createdAt: Date;
  expiresAt: Date;
  /** The only tenant (GUID) that may use it, when the operator named one. */
  expectedTenantId?: string;
  /** Free text for the operator (the customer's name). */
  label?: string;
  /** The tenant whose admin signed in with it first; from then on no other tenant may use it. */
  claimedTenantId?: string;
  /** When consent through it was recorded; a used invitation is refused. */
  usedAt?: Date;
}

interface InvitationEntity extends Invitation {
  partitionKey: string;
  /** SHA-256 of the token: a leaked row cannot be used as an invitation. */
  rowKey: string;
  etag?: string;
}

/** Why an invitation cannot be used; each gets its own page. */
export type InvitationRefusal = 'unknown' | 'expired' | 'used' | 'foreign';

export type InvitationCheck =
  { ok: true; invitation: Invitation; key: string } | { ok: false; reason: InvitationRefusal };

const hash = (token: string): string => createHash('sha256').update(token).digest('base64url');

function toInvitation(entity: InvitationEntity): Invitation {
  return {
    id: entity.id,
    createdAt: new Date(entity.createdAt),
    expiresAt: new Date(entity.expiresAt),
    ...(entity.expectedTenantId ? { expectedTenantId: entity.expectedTenantId } : {}),
    ...(entity.label ? { label: entity.label } : {}),
    ...(entity.claimedTenantId ? { claimedTenantId: entity.claimedTenantId } : {}),
    ...(entity.usedAt ? { usedAt: new Date(entity.usedAt) } : {}),
  };
}

/**
 * Single-use, expiring invitations to onboard (`ONBOARDING=invite`). The token is shown once, in the link; the
 * table keeps its hash. An invitation is bound to the first tenant whose admin signs in with it (or to the tenant
 * the operator named), and used up when that tenant's consent is recorded. Both steps are conditional on the row's
 * ETag, so two browsers racing with one link cannot both win.
 */
export class InvitationStore extends TableStore {
  /** A new invitation; the token is returned once and stored only as a hash. */
  async create(options: {
    expectedTenantId?: string;
    label?: string;
    hours?: number;
  }): Promise<{ token: string; invitation: Invitation }> {
    await this.ensure();
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const entity: InvitationEntity = {
      partitionKey: PARTITION,
      rowKey: hash(token),
      id: randomUUID(),
      createdAt: new Date(now),
      expiresAt: new Date(now + (options.hours ?? DEFAULT_INVITATION_HOURS) * 3_600_000),
      ...(options.expectedTenantId ? { expectedTenantId: options.expectedTenantId.toLowerCase() } : {}),
      ...(options.label ? { label: options.label } : {}),
    };
    await this.table.createEntity(entity);
    return { token, invitation: toInvitation(entity) };
  }

  async #read(key: string): Promise<InvitationEntity | undefined> {
    await this.ensure();
    try {
      return await this.table.getEntity<InvitationEntity>(PARTITION, key);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  #refusal(entity: InvitationEntity | undefined, tenantId?: string): InvitationRefusal | undefined {
    if (!entity) return 'unknown';
    if (entity.usedAt) return 'used';
    if (new Date(entity.expiresAt).getTime() <= this.now()) return 'expired';
    if (tenantId !== undefined) {
      const bound = entity.claimedTenantId || entity.expectedTenantId;
      if (bound && bound !== tenantId) return 'foreign';
    }
    return undefined;
  }

  /** Whether the token names an invitation that can still be used (changes nothing). */
  async check(token: string): Promise<InvitationCheck> {
    if (!TOKEN.test(token)) return { ok: false, reason: 'unknown' };
    const key = hash(token);
    const entity = await this.#read(key);
    const refusal = this.#refusal(entity);
    return refusal || !entity
      ? { ok: false, reason: refusal ?? 'unknown' }
      : { ok: true, invitation: toInvitation(entity), key };
  }

  /**
   * Binds the invitation (by its stored key) to the tenant whose admin just signed in. Refused when it is used,
   * expired, or bound to another tenant; binding again to the same tenant is allowed (the admin started over).
   */
  async claim(key: string, tenantId: string): Promise<InvitationCheck> {
    return this.#update(key, tenantId, { claimedTenantId: tenantId });
  }

  /** Uses the invitation up for the tenant whose consent is being recorded. */
  async redeem(key: string, tenantId: string): Promise<InvitationCheck> {
    return this.#update(key, tenantId, { claimedTenantId: tenantId, usedAt: new Date(this.now()) });
  }

  async #update(
    key: string,
    tenantId: string,
    change: Pick<InvitationEntity, 'claimedTenantId' | 'usedAt'>,
  ): Promise<InvitationCheck> {
    const entity = await this.#read(key);
    const refusal = this.#refusal(entity, tenantId);
    if (refusal || !entity) return { ok: false, reason: refusal ?? 'unknown' };
    try {
      await this.table.updateEntity({ partitionKey: PARTITION, rowKey: key, ...change }, 'Merge', {
        etag: entity.etag ?? '*',
      });
    } catch (error) {
      // Another browser bound or used it between our read and write: read again and answer from that.
      if (isConflict(error)) return this.#update(key, tenantId, change);
      if (isNotFound(error)) return { ok: false, reason: 'unknown' };
      throw error;
    }
    return { ok: true, invitation: toInvitation({ ...entity, ...change }), key };
  }
}
