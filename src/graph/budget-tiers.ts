/** OneDrive/SharePoint budget per app per tenant by licensed users (docs/graph-facts.md): [up to this many, units/min]. */
const TIERS: ReadonlyArray<readonly [number, number]> = [
  [1_000, 1_250],
  [5_000, 2_500],
  [15_000, 3_750],
  [50_000, 5_000],
];
const TOP_TIER = 6_250;

/**
 * The resource units per minute Microsoft grants an app in a tenant with this many licensed users. A count on a
 * boundary (1,000, 5,000, ...) gets the lower tier, and anything that is not a count gets the lowest: a start
 * that is too low only costs the pacer a moment of probing, one that is too high costs 429s.
 */
export function tierForLicensedUsers(licensedUsers: number): number {
  for (const [upTo, unitsPerMinute] of TIERS) if (!(licensedUsers > upTo)) return unitsPerMinute;
  return TOP_TIER;
}
