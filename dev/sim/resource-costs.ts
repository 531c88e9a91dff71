/**
 * What each Graph request the simulator answers costs, in one place, so that a test of the product can compare it
 * with the product's own table. Drive requests spend SharePoint/OneDrive resource units (Microsoft's "Avoid getting
 * throttled or blocked in SharePoint Online", resource units table): a single item 1, a collection (children, a
 * delta without a token) 2, a delta with a token 1. Directory requests spend the directory token bucket instead.
 */
export const RESOURCE_UNITS = {
  /** `GET /users/{id}/drive`, `GET /drives/{id}`: a single item. */
  drive: 1,
  /** One page of children, of the root or of a folder (a 404 costs as much: looking costs as finding). */
  children: 2,
  /** One page of a delta that began with a delta token (`deltaLink`), `token=latest`, or a refused token (410). */
  deltaWithToken: 1,
  /** One page of a delta enumeration that began without a token: the first page and every `nextLink` after it. */
  deltaWithoutToken: 2,
  /** One directory request (`/users`, `/users/{id}`), charged to the directory bucket, not to drive units. */
  directory: 1,
} as const;

/** Which budget a cost is charged to. */
export type ResourceBucket = 'drive' | 'directory';

/** The bucket of each entry of `RESOURCE_UNITS`. */
export const RESOURCE_BUCKETS: Readonly<Record<keyof typeof RESOURCE_UNITS, ResourceBucket>> = {
  drive: 'drive',
  children: 'drive',
  deltaWithToken: 'drive',
  deltaWithoutToken: 'drive',
  directory: 'directory',
};

/**
 * Units of every page of a delta enumeration started without a token. Microsoft's table prices "delta without a
 * token" at 2 without saying whether the pages after the first (which carry the service's own token in their
 * `nextLink`) count as with or without one; the simulator assumes every page of such an enumeration costs 2.
 */
export const DELTA_ENUMERATION_PAGE_UNITS = RESOURCE_UNITS.deltaWithoutToken;
