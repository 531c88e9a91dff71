import { GraphError } from '../errors';
import type { TenantGraph } from '../graph/tenant-graph';

export type AppRole = 'User.Read.All' | 'Files.Read.All';

/** What one licensed user's drive answered to a one-item listing. */
export type DriveProbe = 'ok' | 'noDrive' | 'forbidden' | 'other';

/** Distinct users whose drives must answer `403` before `Files.Read.All` is taken for missing. */
export const FORBIDDEN_USERS_FOR_PROOF = 3;
/** Licensed users whose drives are probed at most. */
const USERS_TO_PROBE = 10;

/**
 * The one rule for `403` (docs/permissions.md). A single user's drive may answer `403` for reasons of its own
 * (a blocked site), so one `403` proves nothing about the app. `Files.Read.All` is:
 * - `granted` as soon as one drive lists its items;
 * - `missing` when at least three users' drives answered `403` and none listed, or when fewer than three licensed
 *   users were there to ask and every one of them answered `403`;
 * - `unproven` otherwise (every user without a drive, or drives that answered neither): the token's `roles`
 *   claim may then break the tie, the only place it is read.
 */
export function judgeFilesPermission(
  probes: readonly DriveProbe[],
  usersAvailable: number,
): 'granted' | 'missing' | 'unproven' {
  if (probes.includes('ok')) return 'granted';
  const forbidden = probes.filter((probe) => probe === 'forbidden').length;
  if (forbidden >= FORBIDDEN_USERS_FOR_PROOF) return 'missing';
  if (forbidden > 0 && forbidden === probes.length && probes.length >= usersAvailable) return 'missing';
  return 'unproven';
}

/**
 * Proves the app's two application permissions in a tenant with the cheapest calls they allow: one user for
 * `User.Read.All`, then drive listings of up to ten licensed users (until one lists) for `Files.Read.All`, judged by
 * `judgeFilesPermission`. The consent callback, the crawl's re-check (every user of a batch answered `403`) and
 * the plan's re-check of `consent_incomplete` tenants all use it, each with a fresh token. `hinted` are the roles
 * the token claims, used only when the calls cannot decide.
 */
export async function provePermissions(graph: TenantGraph, hinted: ReadonlySet<string>): Promise<AppRole[]> {
  try {
    await graph.someUsers(1, false);
  } catch (error) {
    if (!(error instanceof GraphError && error.status === 403)) throw error;
    return hinted.has('Files.Read.All') ? ['User.Read.All'] : ['User.Read.All', 'Files.Read.All'];
  }
  // Every user is asked until one drive lists: a few users whose own drives answer 403 must not outvote one that
  // proves the permission.
  const users = await graph.someUsers(USERS_TO_PROBE, true);
  const probes: DriveProbe[] = [];
  for (const user of users) {
    const probe = await graph.probeDrive(user.id);
    probes.push(probe);
    if (probe === 'ok') break;
  }
  const verdict = judgeFilesPermission(probes, users.length);
  const filesMissing = verdict === 'missing' || (verdict === 'unproven' && !hinted.has('Files.Read.All'));
  return filesMissing ? ['Files.Read.All'] : [];
}
