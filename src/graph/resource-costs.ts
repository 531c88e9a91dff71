/**
 * What each Graph call costs, in resource units, by Microsoft's documented prices (docs/graph-facts.md,
 * "Resource units"): the pacer charges these, and `test/unit/resource-costs.test.ts` checks them against the
 * simulator's own copy, so neither can drift alone.
 */
export const RESOURCE_UNITS = {
  /** A single drive item or drive (`GET /users/{id}/drive`, `GET /drives/{id}/items/{id}`). */
  driveItem: 1,
  /** One page of a folder's children, the root's included. */
  driveListing: 2,
  /** One page of a delta that began with a delta token (`token=latest` too). */
  deltaWithToken: 1,
  /**
   * One page of a delta enumeration begun without a token. Microsoft prices "delta without a token" at 2 and does not
   * say what the later pages of that enumeration cost; every page is assumed to cost 2 (docs/graph-facts.md).
   */
  deltaWithoutToken: 2,
  /** One page of the users listing, charged to the directory's token bucket, not to the drive budget. */
  directoryPage: 1,
} as const;

export type ResourceCost = keyof typeof RESOURCE_UNITS;
