import { getDrive, listChildren } from './drive-resources';
import type { GraphCallInput, GraphPlan } from './graph-plan';
import { badRequest, graphError } from './graph-plan';
import { getUser, listUsers } from './user-resources';

/**
 * Routes one Graph request (top level or inside `$batch`) to its resource: `/users`, `/users/{id|upn}`,
 * `/users/{id|upn}/drive` and `/users/{id|upn}/drive/root/children`. Anything else answers as Graph does for an
 * unknown segment.
 */
export function planGraphCall(input: GraphCallInput): GraphPlan {
  let segments: string[];
  try {
    segments = input.path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return badRequest(input, 'BadRequest', 'Invalid request URI.');
  }
  const key = segments[1] ?? '';
  const shape = segments.map((segment, index) => (index === 1 ? '{key}' : segment)).join('/');
  const routes = new Map<string, () => GraphPlan>([
    ['users', () => listUsers(input)],
    ['users/{key}', () => getUser(input, key)],
    ['users/{key}/drive', () => getDrive(input, key)],
    ['users/{key}/drive/root/children', () => listChildren(input, key)],
  ]);
  const build = routes.get(shape);
  if (!build) {
    const known = ['users', 'drive', 'root', 'children'];
    const segment = segments.find((s, i) => i !== 1 && !known.includes(s)) ?? segments[0] ?? '';
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
  return build();
}
