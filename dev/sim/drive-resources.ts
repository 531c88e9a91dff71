import type { DriveIds } from './drive-tree';
import { ITEM_PROPS, folderPath, itemJson, rootJson } from './drive-item-json';
import { documentsWebUrl } from './drive-seeding';
import type { GraphAnswer, GraphCallInput, GraphPlan } from './graph-plan';
import { badRequest, graphError, ok, requireRole } from './graph-plan';
import {
  decodeSkipToken,
  encodeSkipToken,
  nextLink,
  parseSelect,
  parseTop,
  unsupportedOption,
} from './graph-query';
import { RESOURCE_UNITS } from './resource-costs';
import type { DirectoryUser } from './seeded-tenant';
import type { DriveAnomaly } from './types';
import { userNotFound } from './user-resources';

/** Which drive a request names: a user's OneDrive (`/users/{id|upn}/drive`) or a drive by ID (`/drives/{id}`). */
export type DriveRef = { via: 'user'; key: string } | { via: 'drive'; driveId: string };

/** A drive found for a request: its owner, its IDs, and how paths and contexts name it. */
export interface FoundDrive {
  index: number;
  user: DirectoryUser;
  ids: DriveIds;
  /** `parentReference.path` of the root's children: `/drive/root:` or `/drives/{id}/root:`. */
  pathBase: string;
  /** The drive's part of an `@odata.context`: `users('…')/drive` or `drives('…')`. */
  context: string;
}

/** SharePoint's answer for a site locked with NoAccess (a OneDrive locked by an administrator). */
export const LOCKED_MESSAGE =
  'Access to this site has been blocked. Please contact the administrator to resolve this problem.';

/** What a drive answers instead of itself, for `/drive` and `/drive/root/children` alike (README: sources). */
function anomalyAnswer(input: GraphCallInput, anomaly: DriveAnomaly): GraphAnswer {
  switch (anomaly) {
    case 'locked':
      return graphError(input, 423, 'notAllowed', LOCKED_MESSAGE, 'resourceLocked');
    case 'accessDenied':
      return graphError(input, 403, 'accessDenied', 'Access denied');
    case 'mysiteUrl400':
      return graphError(input, 400, 'BadRequest', "Unable to retrieve user's mysite URL.");
    case 'noSpoLicense400':
      return graphError(input, 400, 'BadRequest', 'Tenant does not have a SPO license.');
    case 'unknownError404':
      return graphError(input, 404, 'UnknownError', '404 FILE NOT FOUND');
  }
}

/** Graph's answer for a drive or item it does not know (a replaced drive's old ID among them). */
export function itemNotFound(input: GraphCallInput): GraphAnswer {
  return graphError(input, 404, 'itemNotFound', 'Item not found');
}

/**
 * Finds the drive a request names, or answers as Graph does for an unknown user, a user without a OneDrive, an
 * unknown drive ID, or a drive that answers otherwise (`driveAnomaly`).
 */
export function resolveDrive(input: GraphCallInput, ref: DriveRef): FoundDrive | GraphAnswer {
  const { tenant } = input;
  let index: number | undefined;
  if (ref.via === 'user') {
    index = tenant.findUser(ref.key);
    if (index === undefined) return userNotFound(input, ref.key);
    if (!tenant.isProvisioned(index)) {
      return graphError(input, 404, 'ResourceNotFound', "User's mysite not found.");
    }
  } else {
    index = tenant.driveStore.findDrive(ref.driveId);
    if (index === undefined || !tenant.isLive(index) || !tenant.isProvisioned(index))
      return itemNotFound(input);
  }
  const anomaly = tenant.driveAnomaly(index);
  if (anomaly) return anomalyAnswer(input, anomaly);
  const ids = tenant.driveStore.ids(index);
  const byUser = ref.via === 'user';
  return {
    index,
    user: tenant.user(index),
    ids,
    pathBase: byUser ? '/drive/root:' : `/drives/${ids.driveId}/root:`,
    context: byUser ? `users('${encodeURIComponent(ref.key)}')/drive` : `drives('${ids.driveId}')`,
  };
}

/** The web address of a user's OneDrive (its document library). */
export function driveWebUrl(input: GraphCallInput, user: DirectoryUser): string {
  return documentsWebUrl(input.tenant.domain, user.userPrincipalName);
}

/** `GET /users/{id|upn}/drive`, `GET /drives/{id}`: Files.Read.All; 1 drive unit. */
export function getDrive(input: GraphCallInput, ref: DriveRef): GraphPlan {
  const denied = requireRole(input, 'Files.Read.All', 'accessDenied', 'Access denied');
  if (denied) return denied;
  return {
    kind: 'charge',
    bucket: 'drive',
    units: RESOURCE_UNITS.drive,
    run: () => {
      const found = resolveDrive(input, ref);
      if ('status' in found) return found;
      const { user } = found;
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#drives/$entity`,
        id: found.ids.driveId,
        driveType: 'business',
        name: 'OneDrive',
        owner: { user: { id: user.id, displayName: user.displayName, email: user.mail } },
        webUrl: driveWebUrl(input, user),
      });
    },
  };
}

/**
 * A driveItem request's query: only the `allowed` options, and a `$select` of known properties (its properties, or
 * undefined without one); otherwise the `400` Graph answers.
 */
function itemQuery(
  input: GraphCallInput,
  allowed: readonly string[],
): { props: string[] | undefined } | GraphPlan {
  const unsupported = unsupportedOption(input.query, allowed);
  if (unsupported)
    return badRequest(input, 'invalidRequest', `Query option '${unsupported}' is not supported.`);
  const select = parseSelect(input.query.get('$select'), ITEM_PROPS);
  if (select && !Array.isArray(select)) {
    return badRequest(
      input,
      'invalidRequest',
      `Could not find a property named '${select.unknown}' on type 'microsoft.graph.driveItem'.`,
    );
  }
  return { props: select };
}

/**
 * `GET /users/{id}/drive/root` and `GET /drives/{id}/root`: the drive's root item (`$select` honoured), whose
 * `parentReference.driveId` names the drive; Files.Read.All; 1 unit, like any single item.
 */
export function getDriveRoot(input: GraphCallInput, ref: DriveRef): GraphPlan {
  const denied = requireRole(input, 'Files.Read.All', 'accessDenied', 'Access denied');
  if (denied) return denied;
  const select = itemQuery(input, ['$select']);
  if ('kind' in select) return select;
  return {
    kind: 'charge',
    bucket: 'drive',
    units: RESOURCE_UNITS.drive,
    run: () => {
      const found = resolveDrive(input, ref);
      if ('status' in found) return found;
      const tree = input.tenant.driveStore.tree(found.index);
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#driveItem/$entity`,
        ...rootJson(
          tree.ids,
          tree.children(tree.rootId).length,
          driveWebUrl(input, found.user),
          select.props ?? ITEM_PROPS.filter((prop) => prop !== 'deleted'),
        ),
      });
    },
  };
}

/**
 * `GET .../drive/root/children` and `GET .../drive/items/{id}/children` (by user or by drive ID): `$select`, `$top`
 * (1..1000, default 200) and paging; Files.Read.All; 2 drive units, charged for a 404 too. An unknown item is a 404
 * `itemNotFound`; a file has no children. The tenant's `childrenPageCap` shortens pages below `$top`; with
 * `repeatAtPageBoundary` each next page begins with the last item of the page before (then at most size - 1 new
 * items, so pages of 2 or more always move on; pages of 1 never repeat).
 */
export function listChildren(input: GraphCallInput, ref: DriveRef, parent: string): GraphPlan {
  const denied = requireRole(input, 'Files.Read.All', 'accessDenied', 'Access denied');
  if (denied) return denied;
  const { query } = input;
  const checked = itemQuery(input, ['$select', '$top', '$skiptoken']);
  if ('kind' in checked) return checked;
  const select = checked.props;
  const top = parseTop(query.get('$top'), 1000, 200);
  if (top === 'invalid')
    return badRequest(input, 'invalidRequest', 'Invalid page size: $top must be between 1 and 1000.');
  const after = decodeSkipToken('d', query.get('$skiptoken'));
  if (after === 'invalid') return badRequest(input, 'invalidRequest', 'Invalid skip token.');

  return {
    kind: 'charge',
    bucket: 'drive',
    units: RESOURCE_UNITS.children,
    run: () => {
      const found = resolveDrive(input, ref);
      if ('status' in found) return found;
      const tree = input.tenant.driveStore.tree(found.index);
      const folderId = parent === 'root' ? tree.rootId : parent;
      if (folderId !== tree.rootId && !tree.get(folderId)) return itemNotFound(input);
      const place = {
        driveId: found.ids.driveId,
        parentId: folderId,
        path: folderPath(found.pathBase, tree.pathNames(folderId)),
      };
      const { pageCap, repeatAtPageBoundary } = input.tenant.paging;
      const size = Math.min(top, pageCap ?? top);
      const all = tree.children(folderId);
      const entries = all.filter((entry) => after === undefined || entry.ord > after);
      const boundary =
        repeatAtPageBoundary && size > 1 && after !== undefined
          ? all.find((entry) => entry.ord === after)
          : undefined;
      const fresh = entries.slice(0, boundary ? size - 1 : size);
      const last = fresh[fresh.length - 1];
      const page = boundary ? [boundary, ...fresh] : fresh;
      const listed = parent === 'root' ? 'root' : `items('${encodeURIComponent(parent)}')`;
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#${found.context}/${listed}/children`,
        ...(entries.length > fresh.length && last
          ? { '@odata.nextLink': nextLink(input, encodeSkipToken('d', last.ord)) }
          : {}),
        value: page.map((entry) => itemJson(entry.item, select, place)),
      });
    },
  };
}
