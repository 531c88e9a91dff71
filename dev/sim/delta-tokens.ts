import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { SimDriveItem } from './drive-types';

/**
 * Where a delta stands, sealed into the `token` of an `@odata.deltaLink` (`delta`: the change-log position the
 * next sync starts from) or of an `@odata.nextLink` (`page`: the next page of an answer the simulator keeps).
 * `serial` numbers every token a tenant issues, so tokens issued before a moment can be forgotten.
 */
export type DeltaCursor =
  | { kind: 'delta'; driveId: string; seq: number; serial: number }
  | {
      kind: 'page';
      driveId: string;
      session: string;
      index: number;
      serial: number;
      /** A page of an enumeration that began without a token (charged as such). */
      enumeration: boolean;
    };

/** One entry of a delta answer, as it was when the answer was made. */
export type DeltaEntry =
  | { kind: 'root'; childCount: number }
  | { kind: 'item'; item: SimDriveItem; parentId: string }
  | { kind: 'deleted'; id: string; parentId: string };

/** A delta answer longer than one page, kept for its `nextLink`s. */
export interface DeltaSession {
  driveId: string;
  entries: readonly DeltaEntry[];
  /** The change-log position the last page's `deltaLink` carries. */
  endSeq: number;
  enumeration: boolean;
}

/** Answers kept at once per tenant, and entries over all of them; the oldest go first (their tokens then 410). */
const MAX_SESSIONS = 10_000;
const MAX_HELD_ENTRIES = 5_000_000;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * A tenant's delta tokens: opaque (AES-256-GCM under a key of the tenant's own, made at random when the tenant is,
 * so a token says nothing readable and cannot be forged or moved to another tenant), numbered, and the multi-page
 * answers their `nextLink`s walk through.
 */
export class DeltaTokens {
  /** Tokens with a serial at or below this are no longer known anywhere in the tenant. */
  floor = 0;
  private serial = 0;
  private held = 0;
  private readonly key = randomBytes(32);
  private readonly sessions = new Map<string, DeltaSession>();

  /** The serial of the latest token issued (0: none yet). */
  get issued(): number {
    return this.serial;
  }

  /** Seals a cursor into a URL-safe token with the next serial. */
  seal(cursor: DistributiveOmit<DeltaCursor, 'serial'>): string {
    const full: DeltaCursor = { ...cursor, serial: ++this.serial };
    const fields =
      full.kind === 'delta'
        ? ['d', full.driveId, full.seq, full.serial]
        : ['p', full.driveId, full.session, full.index, full.serial, full.enumeration ? 1 : 0];
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(JSON.stringify(fields), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
  }

  /** The cursor in a token of this tenant; undefined for anything else (altered, foreign, not a token). */
  open(token: string): DeltaCursor | undefined {
    const raw = Buffer.from(token, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES || raw.toString('base64url') !== token) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
      const f = JSON.parse(text) as unknown[];
      if (f[0] === 'd') {
        return { kind: 'delta', driveId: String(f[1]), seq: Number(f[2]), serial: Number(f[3]) };
      }
      return {
        kind: 'page',
        driveId: String(f[1]),
        session: String(f[2]),
        index: Number(f[3]),
        serial: Number(f[4]),
        enumeration: f[5] === 1,
      };
    } catch {
      return undefined;
    }
  }

  /** Keeps a multi-page answer; returns its ID for page tokens. */
  keep(session: DeltaSession): string {
    const id = randomUUID();
    this.sessions.set(id, session);
    this.held += session.entries.length;
    for (const [oldest, kept] of this.sessions) {
      if (this.sessions.size <= MAX_SESSIONS && this.held <= MAX_HELD_ENTRIES) break;
      this.sessions.delete(oldest);
      this.held -= kept.entries.length;
    }
    return id;
  }

  /** A kept answer (most recently used last, so the oldest unused go first). */
  session(id: string): DeltaSession | undefined {
    const session = this.sessions.get(id);
    if (session) {
      this.sessions.delete(id);
      this.sessions.set(id, session);
    }
    return session;
  }
}

/** `Omit` over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
