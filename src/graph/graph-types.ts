/** The user fields the product selects. */
export interface GraphUser {
  id: string;
  userPrincipalName: string;
}

/** The driveItem fields the product selects (`$select` of DRIVE_ITEM_FIELDS, and of DELTA_FIELDS in a delta). */
export interface GraphDriveItem {
  id: string;
  /** The folder the item sits in (`id`) and its drive (`driveId`); a drive's root has no parent `id`. */
  parentReference?: { id?: string; driveId?: string };
  /** Delta only: the item was deleted (it may carry nothing else but its `id`). */
  deleted?: { state?: string };
  /** Delta only: the drive's root item. */
  root?: object;
  name?: string;
  size?: number;
  webUrl?: string;
  eTag?: string;
  lastModifiedDateTime?: string;
  folder?: { childCount?: number };
  file?: { mimeType?: string };
}

export const USER_FIELDS = 'id,userPrincipalName';
export const DRIVE_ITEM_FIELDS = 'id,name,size,webUrl,eTag,lastModifiedDateTime,folder,file,parentReference';
/** A delta's `$select`: the stored fields, and the facets that mark deletions and the root (docs/delta.md). */
export const DELTA_FIELDS = `${DRIVE_ITEM_FIELDS},deleted,root`;

/** Counters of one unit of work, added to the run's totals when the work is done. */
export interface GraphCounters {
  /** Requests sent, each inner request of a `$batch` and each retry included. */
  requests: number;
  /** Answers 429 or 503. */
  throttled: number;
  /**
   * Resource units spent, by Graph's documented price of each call (`resource-costs.ts`), for every request that
   * got an answer, `429` and `503` included: Graph charges throttled requests too.
   */
  unitsSpent: number;
}

export function newGraphCounters(): GraphCounters {
  return { requests: 0, throttled: 0, unitsSpent: 0 };
}

/** What a pacer must offer the Graph layer: wait for budget before a request, learn from every answer. */
export interface RequestPacer {
  acquire(units: number, signal?: AbortSignal): Promise<void>;
  settle(units: number, outcome: { status: number; headers: { get(name: string): string | null } }): void;
  /** Until when (ms since epoch) the tenant is held; checked again right before a granted request leaves. */
  holdUntil?(): number;
  /** Holds the tenant until the returned function is called (a throttled answer is being read). */
  pinHold?(): () => void;
  /** Counts a `$batch` body as being read until the returned function is called (see `TenantHold.reading`). */
  readingBody?(): () => void;
  /** Settles once the tenant's bodies being read now have been read (see `TenantHold.whenRead`). */
  bodiesRead?(): Promise<void> | undefined;
  /**
   * Whether only a probe may go until an answer comes (after a hold that named no reset): a `$batch` then leaves
   * with the requests granted so far instead of waiting to fill.
   */
  probing?(): boolean;
  /**
   * Takes back the grant of a request that never left because a hold began after it was granted; the caller
   * acquires again, so that the hold's end lets out what the pacer says (a probe first), not everything granted
   * before it.
   */
  returnGrant?(units: number): void;
  /** When the tenant's latest hold began (ms since epoch; 0 before any): grants made before it are stale. */
  holdBeganAt?(): number;
}
