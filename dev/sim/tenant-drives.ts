import { DeltaTokens } from './delta-tokens';
import { mimeTypeOf } from './drive-item-name';
import type { DriveSeed } from './drive-seeding';
import { isoSeconds, itemWebUrl, newItemId, seedDrive } from './drive-seeding';
import type { DriveIds, DriveNode, DriveTree } from './drive-tree';
import type { SimDriveItem, SimDriveTree, SimNewDriveItem } from './drive-types';
import { createRandom, derivedGuid, hashSeed, randomGuid } from './seeded-random';
import { SimError } from './sim-error';

/** Seeded drives kept in memory at once (they are cheap to make again). */
const GENERATED_DRIVE_CACHE = 64;
/** Characters OneDrive refuses in a name. */
const ILLEGAL_NAME = /["*:<>?/\\|]/;

/** Checks a name as OneDrive would: no reserved characters, no leading or trailing space, not empty. */
export function assertLegalItemName(name: string): void {
  if (name.length === 0 || name.length > 400 || ILLEGAL_NAME.test(name) || name.trim() !== name) {
    throw new SimError(400, `Illegal drive item name: ${JSON.stringify(name)}`);
  }
}

function bumpETag(eTag: string): string {
  const match = /^"\{([0-9A-F-]+)\},(\d+)"$/.exec(eTag);
  if (!match?.[1] || !match[2]) return eTag;
  return `"{${match[1]}},${Number(match[2]) + 1}"`;
}

/** A drive's IDs from (tenant, user, generation); generation 0 gives the IDs seeded drives always had. */
function driveIdsOf(tenantId: string, userId: string, generation: number): DriveIds {
  const parts: Array<string | number> = ['drive', tenantId, userId];
  const guid = derivedGuid(...(generation === 0 ? parts : [...parts, generation])).replace(/-/g, '');
  return {
    driveId: `b!${Buffer.from(guid, 'hex').toString('base64url')}`,
    rootId: `01${guid.slice(0, 32).toUpperCase()}`,
  };
}

/** What a tenant's drives need to know about its users. */
export interface DriveOwners {
  /** Users ever created. */
  readonly size: number;
  /** Root children the user's seeded drive has. */
  rootCount(index: number): number;
  /** The user's object ID. */
  userId(index: number): string;
  /** Whether the user was given a OneDrive (licensed now or not). */
  provisioned(index: number): boolean;
  /** The number of the root's children changed (an add, a delete, a move). */
  rootCountChanged(index: number, count: number): void;
}

/**
 * Every OneDrive of a tenant, by user index. A drive is seeded on demand from (seed, user index) and a few are
 * cached; the first change (or `replaceDrive`, `expireDeltaTokens` for the user) materialises it, and from then on
 * that tree is the truth. Control operations take a user index whose drive is provisioned.
 */
export class TenantDrives {
  /** The tenant's delta tokens and the multi-page delta answers they walk. */
  readonly tokens = new DeltaTokens();
  private readonly materialised = new Map<number, DriveTree>();
  private readonly generated = new Map<number, DriveTree>();
  private byDriveId: Map<string, number> | undefined;

  constructor(
    private readonly tenantId: string,
    private readonly config: DriveSeed,
    private readonly owners: DriveOwners,
  ) {}

  /** The user's current drive and root IDs, without seeding its items. */
  ids(index: number): DriveIds {
    const generation = this.materialised.get(index)?.generation ?? 0;
    return driveIdsOf(this.tenantId, this.owners.userId(index), generation);
  }

  /** The user's drive as it stands (seeded and cached, or materialised). */
  tree(index: number): DriveTree {
    const materialised = this.materialised.get(index);
    if (materialised) return materialised;
    const cached = this.generated.get(index);
    if (cached) {
      this.generated.delete(index);
      this.generated.set(index, cached);
      return cached;
    }
    const seeded = seedDrive(this.config, index, this.owners.rootCount(index), this.ids(index));
    this.generated.set(index, seeded);
    if (this.generated.size > GENERATED_DRIVE_CACHE) {
      const oldest = this.generated.keys().next();
      if (!oldest.done) this.generated.delete(oldest.value);
    }
    return seeded;
  }

  /** The root's children in listing order. */
  rootEntries(index: number): readonly DriveNode[] {
    const tree = this.tree(index);
    return tree.children(tree.rootId);
  }

  /** The user whose current drive has this ID; undefined for an unknown or replaced drive. */
  findDrive(driveId: string): number | undefined {
    if (!this.byDriveId) {
      this.byDriveId = new Map();
      for (let i = 0; i < this.owners.size; i++) {
        if (this.owners.provisioned(i)) this.byDriveId.set(this.ids(i).driveId, i);
      }
    }
    return this.byDriveId.get(driveId);
  }

  /** Adds an item under the root or `parentId` (defaults filled in as OneDrive would); the name must be free. */
  addItem(index: number, item: SimNewDriveItem, now: number): SimDriveItem {
    assertLegalItemName(item.name);
    const tree = this.mutable(index);
    const parentId = item.parentId === undefined || item.parentId === 'root' ? tree.rootId : item.parentId;
    if (parentId !== tree.rootId && !tree.get(parentId)) {
      throw new SimError(404, `No item ${parentId} in that drive`);
    }
    const stream: Array<string | number> = [this.config.seed, 'added', index, tree.nextOrdinal];
    const random = createRandom(hashSeed(...(tree.generation === 0 ? stream : [...stream, tree.generation])));
    const created: SimDriveItem = {
      id: item.id ?? newItemId(random),
      name: item.name,
      size: item.size ?? 0,
      webUrl: item.webUrl ?? this.webUrl(index, tree, parentId, item.name),
      eTag: item.eTag ?? `"{${randomGuid(random).toUpperCase()}},1"`,
      lastModifiedDateTime: item.lastModifiedDateTime ?? isoSeconds(now),
      ...(item.folder !== undefined
        ? { folder: { ...item.folder } }
        : item.package !== undefined
          ? { package: item.package }
          : { file: item.file ?? { mimeType: mimeTypeOf(item.name) } }),
    };
    tree.add(parentId, created);
    this.rootCountChanged(index, tree);
    return { ...created };
  }

  /** Renames an item; its eTag version and modification time move on, as OneDrive's do. */
  renameItem(index: number, itemId: string, name: string, now: number): void {
    assertLegalItemName(name);
    const tree = this.mutable(index);
    const node = this.requireNode(tree, itemId);
    tree.update(itemId, {
      ...node.item,
      name,
      webUrl: this.webUrl(index, tree, node.parentId, name),
      eTag: bumpETag(node.item.eTag),
      lastModifiedDateTime: isoSeconds(now),
    });
  }

  /** Moves an item (with everything under it) into a folder or the root; eTag and modification time move on. */
  moveItem(index: number, itemId: string, parentId: string, now: number): void {
    const tree = this.mutable(index);
    const node = this.requireNode(tree, itemId);
    const target = parentId === 'root' ? tree.rootId : parentId;
    tree.move(itemId, target, {
      ...node.item,
      webUrl: this.webUrl(index, tree, target, node.item.name),
      eTag: bumpETag(node.item.eTag),
      lastModifiedDateTime: isoSeconds(now),
    });
    this.rootCountChanged(index, tree);
  }

  /** Deletes an item; a folder goes with everything under it. */
  deleteItem(index: number, itemId: string): void {
    const tree = this.mutable(index);
    tree.remove(itemId);
    this.rootCountChanged(index, tree);
  }

  /**
   * Makes the user's OneDrive again: a new drive ID and root ID, every item under a new ID and eTag (same names,
   * places and content), a new change log. Tokens of the old drive are of another drive from now on, and the old
   * drive ID is unknown (404 `itemNotFound`).
   */
  replaceDrive(index: number): DriveIds {
    const old = this.tree(index);
    const generation = old.generation + 1;
    this.generated.delete(index);
    const ids = driveIdsOf(this.tenantId, this.owners.userId(index), generation);
    const random = createRandom(hashSeed(this.config.seed, 'replaced', index, generation));
    const replaced = old.copy(ids, generation, () => ({
      id: newItemId(random),
      eTag: `"{${randomGuid(random).toUpperCase()}},1"`,
    }));
    replaced.tokenFloor = this.tokens.issued;
    this.materialised.set(index, replaced);
    if (this.byDriveId) {
      this.byDriveId.delete(old.ids.driveId);
      this.byDriveId.set(ids.driveId, index);
    }
    return { ...ids };
  }

  /** Forgets every delta token issued so far: of one user's drive, or (no index) of every drive of the tenant. */
  expireTokens(index: number | undefined): void {
    if (index === undefined) this.tokens.floor = this.tokens.issued;
    else this.mutable(index).tokenFloor = this.tokens.issued;
  }

  /** The whole drive for assertions: every item with its parent, parents before children. */
  snapshot(index: number): SimDriveTree {
    const tree = this.tree(index);
    return {
      driveId: tree.ids.driveId,
      rootId: tree.rootId,
      items: tree.walk().map((node) => ({ ...node.item, parentId: node.parentId })),
    };
  }

  private mutable(index: number): DriveTree {
    let tree = this.materialised.get(index);
    if (!tree) {
      tree = this.tree(index);
      this.materialised.set(index, tree);
      this.generated.delete(index);
    }
    return tree;
  }

  private requireNode(tree: DriveTree, itemId: string): DriveNode {
    const node = tree.get(itemId);
    if (!node) throw new SimError(404, `No item ${itemId} in that drive`);
    return node;
  }

  private webUrl(index: number, tree: DriveTree, parentId: string, name: string): string {
    return itemWebUrl(this.config.domain, index, [...tree.pathNames(parentId), name]);
  }

  private rootCountChanged(index: number, tree: DriveTree): void {
    this.owners.rootCountChanged(index, tree.children(tree.rootId).length);
  }
}
