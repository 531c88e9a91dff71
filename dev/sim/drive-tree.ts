import type { SimDriveItem } from './drive-types';
import { SimError } from './sim-error';

/** A drive's ID and its root item's ID. */
export interface DriveIds {
  driveId: string;
  rootId: string;
}

/** A drive item where it sits: its place among its siblings, its parent, and its last change. */
export interface DriveNode {
  /** Creation order in the drive: a folder lists its children in this order (stable across pages and changes). */
  readonly ord: number;
  parentId: string;
  /** Replaced on every change, never changed in place, so a page kept for later shows the item as it was. */
  item: SimDriveItem;
  /** The change-log position of the item's last change (0: as seeded). */
  changed: number;
}

/** A deleted item, kept for delta: where it was and when it went. */
export interface Tombstone {
  id: string;
  parentId: string;
  deleted: number;
}

/**
 * One OneDrive as a tree: the root (not a node: its ID is `ids.rootId`), folders and files under it, and a change
 * log. Every change (add, update, move, delete) moves `seq` on by one and stamps the item with it, so "changed since
 * position s" is every item stamped after s plus the tombstones of items deleted after s. Deleting a folder deletes
 * its descendants with it but leaves a tombstone for the folder only, and a folder's rename or move stamps the folder
 * only, as OneDrive for Business's delta reports them.
 */
export class DriveTree {
  /** The change log's position (0: nothing changed since seeding). */
  seq = 0;
  /** Delta tokens issued at or below this serial are no longer known for this drive (`expireDeltaTokens`). */
  tokenFloor = 0;
  private nextOrd = 0;
  private readonly nodes = new Map<string, DriveNode>();
  private readonly kids = new Map<string, DriveNode[]>();
  private readonly graves = new Map<string, Tombstone>();

  constructor(
    readonly ids: DriveIds,
    /** How many times the drive was replaced (0: the seeded drive). */
    readonly generation: number,
  ) {}

  get rootId(): string {
    return this.ids.rootId;
  }

  /** Items in the drive, the root not counted. */
  get size(): number {
    return this.nodes.size;
  }

  /** The `ord` the next added item gets. */
  get nextOrdinal(): number {
    return this.nextOrd;
  }

  get(id: string): DriveNode | undefined {
    return this.nodes.get(id);
  }

  /** The children of the root or a folder, in listing order (empty for a file or an unknown ID). */
  children(parentId: string): readonly DriveNode[] {
    return this.kids.get(parentId) ?? [];
  }

  /** Every item, parents before children: depth first, each folder's children in listing order. */
  walk(): DriveNode[] {
    const out: DriveNode[] = [];
    const stack: Array<{ list: readonly DriveNode[]; at: number }> = [
      { list: this.children(this.rootId), at: 0 },
    ];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const node = top.list[top.at++];
      if (!node) {
        stack.pop();
        continue;
      }
      out.push(node);
      const below = this.kids.get(node.item.id);
      if (below && below.length > 0) stack.push({ list: below, at: 0 });
    }
    return out;
  }

  /** The names from the root down to `folderId` (empty for the root itself). */
  pathNames(folderId: string): string[] {
    const names: string[] = [];
    for (let node = this.nodes.get(folderId); node; node = this.nodes.get(node.parentId)) {
      names.unshift(node.item.name);
    }
    return names;
  }

  /** Places a seeded item (not a change): the parent must have been seeded already. */
  seed(parentId: string, item: SimDriveItem): DriveNode {
    const node: DriveNode = { ord: this.nextOrd++, parentId, item, changed: 0 };
    this.link(node);
    return node;
  }

  /** Adds an item under the root or a folder; its name must be free there. */
  add(parentId: string, item: SimDriveItem): DriveNode {
    this.requireFolder(parentId);
    if (this.nodes.has(item.id) || item.id === this.rootId) {
      throw new SimError(409, `Item ${item.id} already exists`);
    }
    this.assertNameFree(parentId, item.name, undefined);
    const node: DriveNode = { ord: this.nextOrd++, parentId, item, changed: ++this.seq };
    this.link(node);
    this.adjustChildCount(parentId, 1);
    return node;
  }

  /** Replaces an item's properties (a rename, new content); its name must stay free among its siblings. */
  update(id: string, item: SimDriveItem): void {
    const node = this.require(id);
    this.assertNameFree(node.parentId, item.name, id);
    node.item = item;
    node.changed = ++this.seq;
  }

  /** Moves an item (and everything under it) into another folder; `item` is its new state. */
  move(id: string, parentId: string, item: SimDriveItem): void {
    const node = this.require(id);
    this.requireFolder(parentId);
    for (let at: string | undefined = parentId; at !== undefined; at = this.nodes.get(at)?.parentId) {
      if (at === id) throw new SimError(400, 'An item cannot be moved into itself or its own descendants');
    }
    this.assertNameFree(parentId, item.name, id);
    if (node.parentId !== parentId) {
      this.unlink(node);
      this.adjustChildCount(node.parentId, -1);
      node.parentId = parentId;
      this.link(node);
      this.adjustChildCount(parentId, 1);
    }
    node.item = item;
    node.changed = ++this.seq;
  }

  /** Deletes an item and everything under it; only the item itself leaves a tombstone. */
  remove(id: string): void {
    const node = this.require(id);
    this.unlink(node);
    this.adjustChildCount(node.parentId, -1);
    const pending = [node];
    while (pending.length > 0) {
      const gone = pending.pop()!;
      this.nodes.delete(gone.item.id);
      pending.push(...(this.kids.get(gone.item.id) ?? []));
      this.kids.delete(gone.item.id);
    }
    this.graves.set(id, { id, parentId: node.parentId, deleted: ++this.seq });
  }

  /** Items changed (added, updated, moved) after position `since`, and items deleted after it. */
  changesSince(since: number): { changed: Set<string>; deleted: Tombstone[] } {
    const changed = new Set<string>();
    for (const node of this.nodes.values()) if (node.changed > since) changed.add(node.item.id);
    const deleted = [...this.graves.values()].filter((grave) => grave.deleted > since);
    return { changed, deleted };
  }

  /**
   * The same tree under new IDs (`replaceDrive`): every item keeps its place, name and content and gets a new ID
   * and eTag; the change log starts again.
   */
  copy(ids: DriveIds, generation: number, fresh: () => { id: string; eTag: string }): DriveTree {
    const copy = new DriveTree(ids, generation);
    const newIds = new Map<string, string>([[this.rootId, ids.rootId]]);
    for (const node of this.walk()) {
      const { id, eTag } = fresh();
      newIds.set(node.item.id, id);
      copy.seed(newIds.get(node.parentId) ?? ids.rootId, { ...node.item, id, eTag });
    }
    copy.nextOrd = Math.max(copy.nextOrd, this.nextOrd);
    return copy;
  }

  private require(id: string): DriveNode {
    const node = this.nodes.get(id);
    if (!node) throw new SimError(404, `No item ${id} in that drive`);
    return node;
  }

  private requireFolder(id: string): void {
    if (id === this.rootId) return;
    const node = this.require(id);
    if (!node.item.folder) throw new SimError(400, `Item ${id} is not a folder`);
  }

  private assertNameFree(parentId: string, name: string, exceptId: string | undefined): void {
    const lower = name.toLowerCase();
    if (this.children(parentId).some((n) => n.item.id !== exceptId && n.item.name.toLowerCase() === lower)) {
      throw new SimError(409, `An item named ${JSON.stringify(name)} already exists`);
    }
  }

  /** Puts a node in the index and among its parent's children, in `ord` order. */
  private link(node: DriveNode): void {
    this.nodes.set(node.item.id, node);
    let siblings = this.kids.get(node.parentId);
    if (!siblings) {
      siblings = [];
      this.kids.set(node.parentId, siblings);
    }
    let at = siblings.length;
    while (at > 0 && siblings[at - 1]!.ord > node.ord) at--;
    siblings.splice(at, 0, node);
  }

  private unlink(node: DriveNode): void {
    const siblings = this.kids.get(node.parentId);
    const at = siblings?.indexOf(node) ?? -1;
    if (siblings && at >= 0) siblings.splice(at, 1);
  }

  /** A folder's `childCount` follows its children (the root's is counted when asked). */
  private adjustChildCount(folderId: string, by: number): void {
    const folder = this.nodes.get(folderId);
    if (!folder?.item.folder) return;
    const childCount = Math.max(0, folder.item.folder.childCount + by);
    folder.item = { ...folder.item, folder: { childCount } };
  }
}
