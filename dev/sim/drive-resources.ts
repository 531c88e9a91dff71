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
import type { SimDriveItem } from './types';
import { userNotFound } from './user-resources';

/** Units a drive root children listing costs (FACTS.md: a listing is 2). */
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
] as const;
/** driveItem properties Graph knows; those the simulator does not model are simply absent. */
const ITEM_PROPS = [
  ...ITEM_DEFAULT_PROPS,
  'createdBy',
  'lastModifiedBy',
  'fileSystemInfo',
  'shared',
  'root',
  'package',
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
    cTag: item.eTag.replace('"{', '"c:{'),
    size: item.size,
    parentReference: { driveType: 'business', driveId: ids.driveId, id: ids.rootId, path: '/drive/root:' },
    file: item.file,
    folder: item.folder,
  };
  return project(all, select ?? ITEM_DEFAULT_PROPS);
}

/** Finds the drive owner or answers as Graph does for an unknown user or a user without a OneDrive. */
function driveOwner(
  input: GraphCallInput,
  key: string,
): { index: number; user: DirectoryUser } | GraphAnswer {
  const index = input.tenant.findUser(key);
  if (index === undefined) return userNotFound(input, key);
  if (!input.tenant.hasDrive(index))
    return graphError(input, 404, 'ResourceNotFound', "User's mysite not found.");
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

/** `GET /users/{id|upn}/drive/root/children`: `$select`, `$top` (1..1000, default 200) and paging; Files.Read.All; 2 drive units, charged for a 404 too. */
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
      const entries = input.tenant
        .driveEntries(owner.index)
        .filter((entry) => after === undefined || entry.ord > after);
      const page = entries.slice(0, top);
      const last = page[page.length - 1];
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#users('${encodeURIComponent(key)}')/drive/root/children`,
        ...(entries.length > top && last
          ? { '@odata.nextLink': nextLink(input, encodeSkipToken('d', last.ord)) }
          : {}),
        value: page.map((entry) => itemJson(entry.item, select, ids)),
      });
    },
  };
}
