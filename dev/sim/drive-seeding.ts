import { driveItemName, longItemName } from './drive-item-name';
import type { DriveIds } from './drive-tree';
import { DriveTree } from './drive-tree';
import type { SimDriveItem } from './drive-types';
import type { Random } from './seeded-random';
import { createRandom, hashSeed, randomChars, randomGuid, randomInt } from './seeded-random';
import { SimError } from './sim-error';
import type { TenantSpec } from './types';

/** The characters of generated item IDs (after their `01`). */
export const ITEM_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE_TIME_MS = Date.UTC(2024, 0, 1);
const YEAR_SECONDS = 365 * 24 * 3600;
/** At most this many items a seeded drive may reach (nesting grows fast). */
const MAX_SEEDED_ITEMS = 1_000_000;
const MAX_DEPTH = 20;

/** How seeded folders get children (`TenantSpec.nestedItemsPerFolder`, `TenantSpec.folderDepth`). */
export interface DriveNesting {
  /** Children per folder, drawn uniformly in [min, max]. */
  perFolder: [number, number];
  /** The deepest level an item may sit at (the root's children are level 1). */
  depth: number;
}

/** What a tenant's drives are generated from. */
export interface DriveSeed {
  seed: number;
  domain: string;
  folderShare: number;
  longNameShare: number;
  packageShare: number;
  nesting: DriveNesting | undefined;
}

/** `2024-01-01T00:00:00Z`: ISO 8601 to the second, as Graph prints times. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** A new item ID as OneDrive for Business makes them: `01` and 32 base-32 characters. */
export function newItemId(random: Random): string {
  return `01${randomChars(random, ITEM_ID_ALPHABET, 32)}`;
}

/** Checks `nestedItemsPerFolder` and `folderDepth`; undefined when folders get no children (the default). */
export function driveNesting(spec: TenantSpec, rootMax: number): DriveNesting | undefined {
  const per = spec.nestedItemsPerFolder;
  if (per === undefined) {
    if (spec.folderDepth !== undefined) throw new SimError(400, 'folderDepth needs nestedItemsPerFolder');
    return undefined;
  }
  const [min, max] = typeof per === 'number' ? [per, per] : Array.isArray(per) ? per : [NaN, NaN];
  if (!(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min >= 0 && max >= min)) {
    throw new SimError(400, 'nestedItemsPerFolder must be a count or [min, max] with 0 <= min <= max');
  }
  const depth = spec.folderDepth ?? 3;
  if (!(Number.isSafeInteger(depth) && depth >= 1 && depth <= MAX_DEPTH)) {
    throw new SimError(400, `folderDepth must be an integer from 1 to ${MAX_DEPTH}`);
  }
  let level = rootMax;
  let total = rootMax;
  for (let d = 2; d <= depth && level > 0; d++) {
    level *= max;
    total += level;
    if (total > MAX_SEEDED_ITEMS) {
      throw new SimError(400, `Nested folders could make more than ${MAX_SEEDED_ITEMS} items in one drive`);
    }
  }
  return { perFolder: [min, max], depth };
}

/** The web address of a user's OneDrive document library (the drive's own `webUrl`). */
export function documentsWebUrl(domain: string, userPrincipalName: string): string {
  const host = `${domain.split('.')[0] ?? 'tenant'}-my.sharepoint.test`;
  return `https://${host}/personal/${userPrincipalName.replace(/[@.]/g, '_')}/Documents`;
}

/** The web address of an item at `path` (names from the root down) in the OneDrive of user `index`. */
export function itemWebUrl(domain: string, index: number, path: readonly string[]): string {
  return `${documentsWebUrl(domain, `user${index + 1}@${domain}`)}/${path.map(encodeURIComponent).join('/')}`;
}

/**
 * The seeded drive of the user at `index`: `rootCount` root children drawn as they always were (long names and
 * notebooks from a stream of their own, drawn only when their shares are set), then, only with nesting, the
 * children of each folder from another stream, depth first. Without nesting a folder keeps its drawn `childCount`
 * and has no children; with it, `childCount` is the number of children it has.
 */
export function seedDrive(config: DriveSeed, index: number, rootCount: number, ids: DriveIds): DriveTree {
  const tree = new DriveTree(ids, 0);
  const random: Random = createRandom(hashSeed(config.seed, 'items', index));
  const extras: Random | undefined =
    config.longNameShare > 0 || config.packageShare > 0
      ? createRandom(hashSeed(config.seed, 'item-extras', index))
      : undefined;
  for (let k = 0; k < rootCount; k++) {
    const isFolder = random() < config.folderShare;
    const drawn = driveItemName(random, k + 1, isFolder);
    const id = newItemId(random);
    const eTag = `"{${randomGuid(random).toUpperCase()}},${randomInt(random, 1, 9)}"`;
    const modified = BASE_TIME_MS + Math.floor(random() * YEAR_SECONDS) * 1000;
    const size = isFolder ? Math.floor(random() * 2e9) : Math.floor(random() ** 3 * 50_000_000);
    const childCount = isFolder ? randomInt(random, 0, 40) : 0;
    const isPackage = extras !== undefined && extras() < config.packageShare;
    const long = extras !== undefined && extras() < config.longNameShare ? extras : undefined;
    const ext = isFolder || isPackage ? undefined : drawn.ext;
    const name = long ? longItemName(long, k + 1, ext) : isPackage ? drawn.base : drawn.name;
    const item: SimDriveItem = {
      id,
      name,
      size,
      webUrl: itemWebUrl(config.domain, index, [name]),
      eTag,
      lastModifiedDateTime: isoSeconds(modified),
      ...(isPackage
        ? { package: { type: 'oneNote' } }
        : isFolder
          ? { folder: { childCount } }
          : { file: { mimeType: drawn.mimeType ?? '' } }),
    };
    tree.seed(ids.rootId, item);
  }
  if (config.nesting) nest(config, config.nesting, index, tree);
  return tree;
}

/** Gives every seeded folder above the deepest level its children, depth first, from the nesting stream. */
function nest(config: DriveSeed, nesting: DriveNesting, index: number, tree: DriveTree): void {
  const random = createRandom(hashSeed(config.seed, 'nested', index));
  const fill = (folderId: string, path: string[], level: number): void => {
    const count = level <= nesting.depth ? randomInt(random, nesting.perFolder[0], nesting.perFolder[1]) : 0;
    for (let k = 0; k < count; k++) {
      const isFolder = random() < config.folderShare;
      const drawn = driveItemName(random, k + 1, isFolder);
      const item: SimDriveItem = {
        id: newItemId(random),
        name: drawn.name,
        size: isFolder ? 0 : Math.floor(random() ** 3 * 50_000_000),
        webUrl: itemWebUrl(config.domain, index, [...path, drawn.name]),
        eTag: `"{${randomGuid(random).toUpperCase()}},${randomInt(random, 1, 9)}"`,
        lastModifiedDateTime: isoSeconds(BASE_TIME_MS + Math.floor(random() * YEAR_SECONDS) * 1000),
        ...(isFolder ? { folder: { childCount: 0 } } : { file: { mimeType: drawn.mimeType ?? '' } }),
      };
      tree.seed(folderId, item);
    }
    for (const child of tree.children(folderId)) {
      if (child.item.folder) fill(child.item.id, [...path, child.item.name], level + 1);
    }
    const folder = tree.get(folderId);
    if (folder?.item.folder) {
      folder.item = { ...folder.item, folder: { childCount: tree.children(folderId).length } };
    }
  };
  for (const top of [...tree.children(tree.rootId)]) {
    if (top.item.folder) fill(top.item.id, [top.item.name], 2);
  }
}
