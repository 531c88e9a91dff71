import type { DriveIds } from './drive-tree';
import type { SimDriveItem } from './drive-types';
import { project } from './graph-query';

/** What Graph returns for a driveItem without `$select`. */
export const ITEM_DEFAULT_PROPS = [
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
export const ITEM_PROPS = [
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

/** What delta returns without `$select`: the defaults, the root's `root` facet and deletions' `deleted` facet. */
export const DELTA_DEFAULT_PROPS = [...ITEM_DEFAULT_PROPS, 'root', 'deleted'] as const;

/** Where an item sits, as its `parentReference` says: `path` only in children listings (delta gives none). */
export interface ItemPlace {
  driveId: string;
  parentId: string;
  path?: string;
}

/** The `/drive/root:`-style path of a folder for `parentReference.path`, each name percent-encoded. */
export function folderPath(base: string, names: readonly string[]): string {
  return names.length === 0 ? base : `${base}/${names.map(encodeURIComponent).join('/')}`;
}

/** A driveItem's JSON with the selected properties (Graph's defaults without `$select`). */
export function itemJson(
  item: SimDriveItem,
  select: readonly string[] | undefined,
  place: ItemPlace,
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
    parentReference: {
      driveType: 'business',
      driveId: place.driveId,
      id: place.parentId,
      ...(place.path === undefined ? {} : { path: place.path }),
    },
    file: item.file,
    folder: item.folder,
    package: item.package,
  };
  return project(all, select ?? ITEM_DEFAULT_PROPS);
}

/** The drive's root item: the `root` facet, a folder facet, and a `parentReference` with the drive only. */
export function rootJson(
  ids: DriveIds,
  childCount: number,
  webUrl: string,
  select: readonly string[] | undefined,
): Record<string, unknown> {
  const all: Record<string, unknown> = {
    createdDateTime: '2024-01-01T00:00:00Z',
    eTag: `"{${ids.rootId.slice(2, 34)}},1"`,
    id: ids.rootId,
    lastModifiedDateTime: '2024-01-01T00:00:00Z',
    name: 'root',
    webUrl,
    size: 0,
    parentReference: { driveType: 'business', driveId: ids.driveId },
    folder: { childCount },
    root: {},
  };
  return project(all, select ?? DELTA_DEFAULT_PROPS);
}

/**
 * A deleted item as OneDrive for Business's delta gives it: its ID, the `deleted` facet and where it was (no name,
 * no cTag). Without `deleted` in `$select` the marker is gone and the item looks like any other.
 */
export function deletedJson(
  id: string,
  place: ItemPlace,
  select: readonly string[] | undefined,
): Record<string, unknown> {
  const all: Record<string, unknown> = {
    id,
    deleted: { state: 'deleted' },
    parentReference: { driveType: 'business', driveId: place.driveId, id: place.parentId },
  };
  return project(all, select ?? DELTA_DEFAULT_PROPS);
}
