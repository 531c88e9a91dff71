/** The user fields the product selects. */
export interface GraphUser {
  id: string;
  userPrincipalName: string;
}

/** The driveItem fields the product selects (`$select` of DRIVE_ITEM_FIELDS). */
export interface GraphDriveItem {
  id: string;
  name?: string;
  size?: number;
  webUrl?: string;
  eTag?: string;
  lastModifiedDateTime?: string;
  folder?: { childCount?: number };
  file?: { mimeType?: string };
}

export const USER_FIELDS = 'id,userPrincipalName';
export const DRIVE_ITEM_FIELDS = 'id,name,size,webUrl,eTag,lastModifiedDateTime,folder,file';

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
}
