import type { GraphAnswer, GraphCallInput, GraphPlan } from './graph-plan';
import { badRequest, graphError, ok, requireRole } from './graph-plan';
import {
  decodeSkipToken,
  encodeSkipToken,
  nextLink,
  parseSelect,
  parseTop,
  project,
  unsupportedOption,
} from './graph-query';
import { derivedGuid } from './seeded-random';
import type { DirectoryUser, SeededTenant } from './seeded-tenant';
import type { DriveAnomaly, SimDriveItem } from './types';
import { userNotFound } from './user-resources';

/** Units a drive root children listing costs (docs/graph-facts.md, "Throttling": a listing is 2). */
export const CHILDREN_UNITS = 2;
/** Units a single drive resource costs. */
const DRIVE_UNITS = 1;

const ITEM_DEFAULT_PROPS = [
  'createdDateTime',
  'eTag',
  'id',
  'lastModifiedDateTime',
  'name',
  'webUrl',
  'cTag',
  'size',
  'parentReference',
  'file',
  'folder',
  'package',
] as const;
/** driveItem properties Graph knows; those the simulator does not model are simply absent. */
const ITEM_PROPS = [
  ...ITEM_DEFAULT_PROPS,
  'createdBy',
  'lastModifiedBy',
  'fileSystemInfo',
  'shared',
  'root',
  'specialFolder',
  'deleted',
  'description',
  'image',
  'photo',
  'video',
  'audio',
  'remoteItem',
] as const;

function driveIds(tenant: SeededTenant, user: DirectoryUser): { driveId: string; rootId: string } {
  const guid = derivedGuid('drive', tenant.tenantId, user.id).replace(/-/g, '');
  return {
    driveId: `b!${Buffer.from(guid, 'hex').toString('base64url')}`,
    rootId: `01${guid.slice(0, 32).toUpperCase()}`,
  };
}

function itemJson(
  item: SimDriveItem,
  select: readonly string[] | undefined,
  ids: { driveId: string; rootId: string },
): Record<string, unknown> {
  const all: Record<string, unknown> = {
    createdDateTime: item.lastModifiedDateTime,
    eTag: item.eTag,
    id: item.id,
    lastModifiedDateTime: item.lastModifiedDateTime,
    name: item.name,
    webUrl: item.webUrl,
    // OneDrive for Business gives no cTag for an item with a folder facet (driveItem resource type, Note).
    cTag: item.folder ? undefined : item.eTag.replace('"{', '"c:{'),
    size: item.size,
    parentReference: { driveType: 'business', driveId: ids.driveId, id: ids.rootId, path: '/drive/root:' },
    file: item.file,
    folder: item.folder,
    package: item.package,
  };
  return project(all, select ?? ITEM_DEFAULT_PROPS);
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

/**
 * Finds the drive owner or answers as Graph does for an unknown user, a user without a OneDrive, or a drive that
 * answers otherwise (`driveAnomaly`).
 */
function driveOwner(
  input: GraphCallInput,
  key: string,
): { index: number; user: DirectoryUser } | GraphAnswer {
  const index = input.tenant.findUser(key);
  if (index === undefined) return userNotFound(input, key);
  if (!input.tenant.isProvisioned(index))
    return graphError(input, 404, 'ResourceNotFound', "User's mysite not found.");
  const anomaly = input.tenant.driveAnomaly(index);
  if (anomaly) return anomalyAnswer(input, anomaly);
  return { index, user: input.tenant.user(index) };
}

/** `GET /users/{id|upn}/drive`: Files.Read.All; 1 drive unit. */
export function getDrive(input: GraphCallInput, key: string): GraphPlan {
  const denied = requireRole(input, 'Files.Read.All', 'accessDenied', 'Access denied');
  if (denied) return denied;
  return {
    kind: 'charge',
    bucket: 'drive',
    units: DRIVE_UNITS,
    run: () => {
      const owner = driveOwner(input, key);
      if ('status' in owner) return owner;
      const ids = driveIds(input.tenant, owner.user);
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#drives/$entity`,
        id: ids.driveId,
        driveType: 'business',
        name: 'OneDrive',
        owner: { user: { id: owner.user.id, displayName: owner.user.displayName, email: owner.user.mail } },
        webUrl: `https://${input.tenant.domain.split('.')[0] ?? 'tenant'}-my.sharepoint.test/personal/${owner.user.userPrincipalName.replace(/[@.]/g, '_')}/Documents`,
      });
    },
  };
}

/**
 * `GET /users/{id|upn}/drive/root/children`: `$select`, `$top` (1..1000, default 200) and paging; Files.Read.All;
 * 2 drive units, charged for a 404 too. The tenant's `childrenPageCap` shortens pages below `$top`; with
 * `repeatAtPageBoundary` each next page begins with the last item of the page before (then at most size - 1 new
 * items, so pages of 2 or more always move on; pages of 1 never repeat).
 */
export function listChildren(input: GraphCallInput, key: string): GraphPlan {
  const denied = requireRole(input, 'Files.Read.All', 'accessDenied', 'Access denied');
  if (denied) return denied;
  const { query } = input;
  const unsupported = unsupportedOption(query, ['$select', '$top', '$skiptoken']);
  if (unsupported)
    return badRequest(input, 'invalidRequest', `Query option '${unsupported}' is not supported.`);
  const select = parseSelect(query.get('$select'), ITEM_PROPS);
  if (select && !Array.isArray(select)) {
    return badRequest(
      input,
      'invalidRequest',
      `Could not find a property named '${select.unknown}' on type 'microsoft.graph.driveItem'.`,
    );
  }
  const top = parseTop(query.get('$top'), 1000, 200);
  if (top === 'invalid')
    return badRequest(input, 'invalidRequest', 'Invalid page size: $top must be between 1 and 1000.');
  const after = decodeSkipToken('d', query.get('$skiptoken'));
  if (after === 'invalid') return badRequest(input, 'invalidRequest', 'Invalid skip token.');

  return {
    kind: 'charge',
    bucket: 'drive',
    units: CHILDREN_UNITS,
    run: () => {
      const owner = driveOwner(input, key);
      if ('status' in owner) return owner;
      const ids = driveIds(input.tenant, owner.user);
      const { pageCap, repeatAtPageBoundary } = input.tenant.paging;
      const size = Math.min(top, pageCap ?? top);
      const all = input.tenant.driveEntries(owner.index);
      const entries = all.filter((entry) => after === undefined || entry.ord > after);
      const boundary =
        repeatAtPageBoundary && size > 1 && after !== undefined
          ? all.find((entry) => entry.ord === after)
          : undefined;
      const fresh = entries.slice(0, boundary ? size - 1 : size);
      const last = fresh[fresh.length - 1];
      const page = boundary ? [boundary, ...fresh] : fresh;
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#users('${encodeURIComponent(key)}')/drive/root/children`,
        ...(entries.length > fresh.length && last
          ? { '@odata.nextLink': nextLink(input, encodeSkipToken('d', last.ord)) }
          : {}),
        value: page.map((entry) => itemJson(entry.item, select, ids)),
      });
    },
  };
}
