import { driveDelta } from './drive-delta';
import type { DriveRef } from './drive-resources';
import { getDrive, getDriveRoot, listChildren } from './drive-resources';
import type { GraphCallInput, GraphPlan } from './graph-plan';
import { badRequest, graphError } from './graph-plan';
import { getUser, listUsers } from './user-resources';

/** Path segments in braces are values (a user, a drive, an item); the rest must match as written. */
const ROUTES: ReadonlyArray<[string, (input: GraphCallInput, values: string[]) => GraphPlan]> = [
  ['users', (input) => listUsers(input)],
  ['users/{user}', (input, [user]) => getUser(input, user ?? '')],
  ['users/{user}/drive', (input, [user]) => getDrive(input, byUser(user))],
  ['users/{user}/drive/root', (input, [user]) => getDriveRoot(input, byUser(user))],
  ['users/{user}/drive/root/children', (input, [user]) => listChildren(input, byUser(user), 'root')],
  [
    'users/{user}/drive/items/{item}/children',
    (input, [u, item]) => listChildren(input, byUser(u), item ?? ''),
  ],
  ['users/{user}/drive/root/delta', (input, [user]) => driveDelta(input, byUser(user))],
  ['drives/{drive}', (input, [drive]) => getDrive(input, byDrive(drive))],
  ['drives/{drive}/root', (input, [drive]) => getDriveRoot(input, byDrive(drive))],
  ['drives/{drive}/root/children', (input, [drive]) => listChildren(input, byDrive(drive), 'root')],
  ['drives/{drive}/items/{item}/children', (input, [d, item]) => listChildren(input, byDrive(d), item ?? '')],
  ['drives/{drive}/root/delta', (input, [drive]) => driveDelta(input, byDrive(drive))],
];

function byUser(key: string | undefined): DriveRef {
  return { via: 'user', key: key ?? '' };
}

function byDrive(driveId: string | undefined): DriveRef {
  return { via: 'drive', driveId: driveId ?? '' };
}

/** The values of `segments` if they fit `pattern`, else undefined. */
function match(pattern: string, segments: readonly string[]): string[] | undefined {
  const parts = pattern.split('/');
  if (parts.length !== segments.length) return undefined;
  const values: string[] = [];
  for (const [index, part] of parts.entries()) {
    const segment = segments[index] ?? '';
    if (part.startsWith('{')) values.push(segment);
    else if (part !== segment) return undefined;
  }
  return values;
}

/**
 * Routes one Graph request (top level or inside `$batch`) to its resource: `/users`, `/users/{id|upn}`, a user's
 * `/drive`, `/drive/root/children`, `/drive/items/{id}/children` and `/drive/root/delta`, and the same under
 * `/drives/{id}`. Anything else answers as Graph does for an unknown segment.
 */
export function planGraphCall(input: GraphCallInput): GraphPlan {
  let segments: string[];
  try {
    segments = input.path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return badRequest(input, 'BadRequest', 'Invalid request URI.');
  }
  let found: { build: (input: GraphCallInput, values: string[]) => GraphPlan; values: string[] } | undefined;
  for (const [pattern, build] of ROUTES) {
    const values = match(pattern, segments);
    if (values) {
      found = { build, values };
      break;
    }
  }
  if (!found) {
    const known = ['users', 'drives', 'drive', 'root', 'children', 'items', 'delta'];
    const valueAt = (i: number): boolean => i === 1 || segments[i - 1] === 'items';
    const segment = segments.find((s, i) => !valueAt(i) && !known.includes(s)) ?? segments[0] ?? '';
    return badRequest(input, 'BadRequest', `Resource not found for the segment '${segment}'.`);
  }
  if (input.method !== 'GET') {
    const answer = graphError(
      input,
      405,
      'Request_BadRequest',
      'Specified HTTP method is not allowed for the request target.',
    );
    return { kind: 'answer', answer };
  }
  return found.build(input, found.values);
}
