/**
 * The shape of a whole OneDrive as the control API reads it (`driveTree`) and how tenants are seeded with nested
 * folders (dev/sim/README.md, "Delta").
 */

/** A driveItem as Graph returns it with the product's `$select`. */
export interface SimDriveItem {
  id: string;
  name: string;
  size: number;
  webUrl: string;
  eTag: string;
  lastModifiedDateTime: string;
  folder?: { childCount: number };
  file?: { mimeType: string };
  /** A OneNote notebook: neither `folder` nor `file`. */
  package?: { type: string };
}

/** An item to add with `addItem`: a name, optionally the rest, and the folder to put it in (default the root). */
export type SimNewDriveItem = Partial<SimDriveItem> & { name: string; parentId?: string };

/** One item of a drive with the folder it is in. */
export interface SimDriveTreeItem extends SimDriveItem {
  /** The parent folder's ID: the root's ID for the root's children. */
  parentId: string;
}

/** A user's whole OneDrive as it stands (`driveTree`). */
export interface SimDriveTree {
  driveId: string;
  rootId: string;
  /** Every item but the root, parents before children, each folder's children in listing order. */
  items: SimDriveTreeItem[];
}
