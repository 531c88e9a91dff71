import { personName } from './drive-item-name';
import { driveNesting } from './drive-seeding';
import {
  DRIVE_ANOMALIES,
  DRIVELESS_ANOMALIES,
  anomalyThresholds,
  drawItemCount,
  itemCountRule,
  parseDriveAnomaly,
  share,
} from './drive-shares';
import type { DriveIds, DriveNode } from './drive-tree';
import { ResourceUnitWindow } from './resource-unit-window';
import { createRandom, derivedGuid, distinctGuid, hashSeed, randomGuid } from './seeded-random';
import type { Random } from './seeded-random';
import { SimError } from './sim-error';
import { TenantDrives } from './tenant-drives';
import type {
  DriveAnomaly,
  SimDriveItem,
  SimDriveTree,
  SimNewDriveItem,
  SimUser,
  TenantInfo,
  TenantSpec,
  ThrottleRules,
} from './types';

export { assertLegalItemName } from './tenant-drives';
export { DRIVE_ANOMALIES } from './drive-shares';

/** The throttle and latency settings of a tenant (the part `setThrottle` replaces). */
export interface TenantThrottle {
  /** Undefined: the license tier decides. */
  budgetPerWindow?: number;
  windowSeconds: number;
  timeScale: number;
  latencyMs: number;
}

/** A user as Graph's `/users` knows it. */
export interface DirectoryUser extends SimUser {
  givenName: string;
  surname: string;
  mail: string;
  accountEnabled: boolean;
  assignedLicenses: Array<{ skuId: string; disabledPlans: string[] }>;
}

/** How a tenant's children listings page (`childrenPageCap`, `repeatAtPageBoundary`). */
export interface ChildrenPaging {
  /** At most this many items a page, whatever `$top` asks; undefined: `$top`. */
  pageCap: number | undefined;
  /** Each next page begins with the last item of the page before. */
  repeatAtPageBoundary: boolean;
}

/** Which users a listing returns, by `assignedLicenses/$count`. */
export type LicenseFilter = 'all' | 'licensed' | 'unlicensed';

/** Microsoft 365 E5's public SKU ID, the license every licensed user holds. */
const LICENSE_SKU = '06ebc4ee-1bb5-47dd-8120-11324bc54e06';
const MAX_USERS = 2_000_000;

/** Graph's license-tier budget of SharePoint/OneDrive resource units per minute (docs/graph-facts.md, "Throttling"). */
export function tierBudget(licensedUsers: number): number {
  if (licensedUsers <= 1000) return 1250;
  if (licensedUsers <= 5000) return 2500;
  if (licensedUsers <= 15000) return 3750;
  if (licensedUsers <= 50000) return 5000;
  return 6250;
}

/** Graph's directory token-bucket size per 10 s by tenant size (docs/graph-facts.md, "Throttling"). */
export function directoryBudget(users: number): number {
  if (users < 50) return 3500;
  if (users <= 500) return 5000;
  return 8000;
}

function positive(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(Number.isFinite(value) && value > 0)) throw new SimError(400, `${field} must be a positive number`);
  return value;
}

/**
 * A directory and its users' OneDrives, generated from a seed. Only a few bytes per user are kept (license,
 * drive, drive answer, root item count, deleted); users and items are derived on demand from (seed, user index), so a
 * 50,000-user tenant costs a few hundred kilobytes and is made in milliseconds. The drives themselves live in
 * `driveStore` (dev/sim/tenant-drives.ts): a drive that is changed is materialised once and is the truth from then on.
 */
export class SeededTenant {
  readonly tenantId: string;
  readonly domain: string;
  /** Real ms after a consent during which tokens carry no roles (`TenantSpec.rolesLagMs`). */
  readonly rolesLagMs: number;
  readonly expiringUserListings: { afterPage: number; listings: number } | undefined;
  readonly reorderUserListings: boolean;
  /** Users listings started (requests without `$skiptoken`). */
  userListings = 0;
  readonly seed: number;
  readonly throttle: TenantThrottle;
  /** Throttling rules beyond the per-app minute budget (`TenantSpec.throttleRules`). */
  readonly throttleRules: ThrottleRules;
  /** The tenant-wide 5-minute budget's window, over every app (`ThrottleRules.tenantBudget`). */
  readonly tenantWindow: ResourceUnitWindow;
  readonly paging: ChildrenPaging;

  /** Users ever created (live and deleted): the positions of the users listing. */
  readonly size: number;
  private readonly licensed: Uint8Array;
  private readonly baseDrive: Uint8Array;
  private readonly deleted: Uint8Array;
  private readonly itemCounts: Uint32Array;
  /** 0: a normal drive; otherwise the index in `DRIVE_ANOMALIES` + 1. */
  private readonly anomalies: Uint8Array;
  /** Every user's OneDrive: seeded on demand, materialised on change, and the tenant's delta tokens. */
  readonly driveStore: TenantDrives;
  private idIndex: Map<string, number> | undefined;
  private userTotal = 0;
  private licensedTotal = 0;
  private licensedWithDriveTotal = 0;
  private itemTotal = 0;

  constructor(spec: TenantSpec, defaultTimeScale: number) {
    if (!Number.isSafeInteger(spec.seed)) throw new SimError(400, 'seed must be an integer');
    if (!(Number.isSafeInteger(spec.users) && spec.users >= 0 && spec.users <= MAX_USERS)) {
      throw new SimError(400, `users must be an integer from 0 to ${MAX_USERS}`);
    }
    this.seed = spec.seed;
    this.tenantId = (spec.tenantId ?? derivedGuid(spec.seed, 'tenant')).toLowerCase();
    this.domain = (spec.domain ?? `t${spec.seed}.onmicrosoft.test`).toLowerCase();
    if (spec.rolesLagMs !== undefined && !(spec.rolesLagMs >= 0)) {
      throw new SimError(400, 'rolesLagMs must not be negative');
    }
    this.rolesLagMs = spec.rolesLagMs ?? 0;
    const expiring = spec.expiringUserListings;
    if (expiring !== undefined && !(expiring.afterPage >= 1 && expiring.listings >= 0)) {
      throw new SimError(400, 'expiringUserListings needs afterPage >= 1 and listings >= 0');
    }
    this.expiringUserListings = expiring;
    this.reorderUserListings = spec.reorderUserListings === true;
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(this.tenantId)) {
      throw new SimError(400, 'tenantId must be a GUID');
    }
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(this.domain))
      throw new SimError(400, 'domain must be a DNS name');
    this.throttle = {
      budgetPerWindow: positive(spec.budgetPerWindow, 'budgetPerWindow'),
      windowSeconds: positive(spec.windowSeconds, 'windowSeconds') ?? 60,
      timeScale: positive(spec.timeScale, 'timeScale') ?? defaultTimeScale,
      latencyMs: spec.latencyMs ?? 0,
    };
    if (!(this.throttle.latencyMs >= 0)) throw new SimError(400, 'latencyMs must not be negative');
    this.throttleRules = { ...(spec.throttleRules ?? {}) };
    for (const field of ['rateLimitHeadersMissing', 'otherAppsShare'] as const) {
      share(this.throttleRules[field], 0, `throttleRules.${field}`);
    }
    const retryShare = this.throttleRules.retryAfterShare;
    if (retryShare !== undefined && !(retryShare > 0 && retryShare <= 1)) {
      throw new SimError(400, 'throttleRules.retryAfterShare must be in (0, 1]');
    }
    this.tenantWindow = new ResourceUnitWindow(
      this.throttleRules.windowAnchor === 'sliding' ? 'sliding' : 'wallClock',
    );

    const unlicensedShare = share(spec.unlicensedShare, 0.1, 'unlicensedShare');
    const withoutDriveShare = share(spec.withoutDriveShare, 0.05, 'withoutDriveShare');
    const itemRule = itemCountRule(spec.itemsPerUser);
    this.driveStore = new TenantDrives(
      this.tenantId,
      {
        seed: spec.seed,
        domain: this.domain,
        folderShare: share(spec.folderShare, 0.3, 'folderShare'),
        longNameShare: share(spec.longNameShare, 0, 'longNameShare'),
        packageShare: share(spec.packageShare, 0, 'packageShare'),
        nesting: driveNesting(spec, itemRule.max),
      },
      {
        size: spec.users,
        rootCount: (index) => this.itemCounts[index] ?? 0,
        userId: (index) => this.userId(index),
        provisioned: (index) => this.baseDrive[index] === 1,
        rootCountChanged: (index, count) => this.setRootCount(index, count),
      },
    );
    const thresholds = anomalyThresholds(spec.driveAnomalies);
    const pageCap = spec.childrenPageCap;
    if (pageCap !== undefined && !(Number.isSafeInteger(pageCap) && pageCap >= 1)) {
      throw new SimError(400, 'childrenPageCap must be a positive integer');
    }
    if (spec.repeatAtPageBoundary !== undefined && typeof spec.repeatAtPageBoundary !== 'boolean') {
      throw new SimError(400, 'repeatAtPageBoundary must be a boolean');
    }
    this.paging = { pageCap, repeatAtPageBoundary: spec.repeatAtPageBoundary ?? false };

    this.size = spec.users;
    this.licensed = new Uint8Array(spec.users);
    this.baseDrive = new Uint8Array(spec.users);
    this.deleted = new Uint8Array(spec.users);
    this.itemCounts = new Uint32Array(spec.users);
    this.anomalies = new Uint8Array(spec.users);
    for (let i = 0; i < spec.users; i++) {
      const random = createRandom(hashSeed(spec.seed, 'user', i));
      const licensed = random() >= unlicensedShare;
      const provisioned = random() >= withoutDriveShare;
      this.licensed[i] = licensed ? 1 : 0;
      this.baseDrive[i] = provisioned ? 1 : 0;
      this.itemCounts[i] = drawItemCount(random, itemRule);
      if (thresholds && provisioned) {
        const drawn = createRandom(hashSeed(spec.seed, 'anomaly', i))();
        const at = thresholds.findIndex((threshold) => drawn < threshold);
        this.anomalies[i] = at < 0 ? 0 : at + 1;
      }
      this.userTotal++;
      this.count(i);
    }
  }

  /** Counts as `createTenant` reports them (items: root children of licensed users with a drive). */
  info(): TenantInfo {
    return {
      tenantId: this.tenantId,
      domain: this.domain,
      users: this.userTotal,
      licensedUsers: this.licensedTotal,
      licensedWithDrive: this.licensedWithDriveTotal,
      items: this.itemTotal,
    };
  }

  /** The tenant-wide budget per 5 minutes over all apps, or undefined when the rule is off. */
  tenantBudget(): number | undefined {
    const rule = this.throttleRules.tenantBudget;
    if (rule === undefined) return undefined;
    return rule === true ? tierBudget(this.licensedTotal) * 15 : rule;
  }

  /** The per-app budget per 24 hours, or undefined when the rule is off. */
  dailyBudget(): number | undefined {
    const rule = this.throttleRules.dailyBudget;
    if (rule === undefined) return undefined;
    return rule === true ? tierBudget(this.licensedTotal) * 960 : rule;
  }

  /** The drive budget per window: the override, or the license tier's. */
  driveBudget(): number {
    return this.throttle.budgetPerWindow ?? tierBudget(this.licensedTotal);
  }

  /** The directory bucket size per 10 simulated seconds. */
  directoryBudget(): number {
    return directoryBudget(this.userTotal);
  }

  /** Replaces the given throttle fields; the others keep their values. */
  setThrottle(throttle: Partial<TenantThrottle>): void {
    if (throttle.budgetPerWindow !== undefined) {
      this.throttle.budgetPerWindow = positive(throttle.budgetPerWindow, 'budgetPerWindow');
    }
    if (throttle.windowSeconds !== undefined) {
      this.throttle.windowSeconds = positive(throttle.windowSeconds, 'windowSeconds') ?? 60;
    }
    if (throttle.timeScale !== undefined) {
      this.throttle.timeScale = positive(throttle.timeScale, 'timeScale') ?? this.throttle.timeScale;
    }
    if (throttle.latencyMs !== undefined) {
      if (!(throttle.latencyMs >= 0)) throw new SimError(400, 'latencyMs must not be negative');
      this.throttle.latencyMs = throttle.latencyMs;
    }
  }

  /** Finds a live user by object ID or user principal name (case-insensitive); undefined when there is none. */
  findUser(key: string): number | undefined {
    const lower = key.toLowerCase();
    const upn = /^user([1-9]\d*)@(.+)$/.exec(lower);
    let index: number | undefined;
    if (upn?.[1] && upn[2] === this.domain) {
      index = Number(upn[1]) - 1;
    } else {
      this.idIndex ??= this.buildIdIndex();
      index = this.idIndex.get(lower);
    }
    if (index === undefined || !(index >= 0 && index < this.size) || this.deleted[index] === 1)
      return undefined;
    return index;
  }

  /** Like `findUser`, but a missing user is a `SimError` (for the control API). */
  requireUser(key: string): number {
    const index = this.findUser(key);
    if (index === undefined) throw new SimError(404, `No user ${key} in tenant ${this.tenantId}`);
    return index;
  }

  /** Whether the user at `index` exists (not deleted). */
  isLive(index: number): boolean {
    return index >= 0 && index < this.size && this.deleted[index] !== 1;
  }

  isLicensed(index: number): boolean {
    return this.licensed[index] === 1;
  }

  /** Whether the user has a OneDrive at all: licensed and provisioned (else Graph's 404 "mysite not found"). */
  isProvisioned(index: number): boolean {
    return this.licensed[index] === 1 && this.baseDrive[index] === 1;
  }

  /** How a provisioned user's drive answers when not with items; undefined for a normal drive. */
  driveAnomaly(index: number): DriveAnomaly | undefined {
    const code = this.anomalies[index] ?? 0;
    return code === 0 ? undefined : DRIVE_ANOMALIES[code - 1];
  }

  /** Whether Graph finds the user's OneDrive: provisioned and not one of the drive-less anomalies. */
  hasDrive(index: number): boolean {
    if (!this.isProvisioned(index)) return false;
    const anomaly = this.driveAnomaly(index);
    return anomaly === undefined || !DRIVELESS_ANOMALIES.has(anomaly);
  }

  /** The user at `index` with every property Graph's `/users` can return. */
  user(index: number): DirectoryUser {
    const random = this.userStream(index);
    const id = distinctGuid(randomGuid(random), index);
    const { givenName, surname } = personName(random);
    const userPrincipalName = `user${index + 1}@${this.domain}`;
    const licensed = this.isLicensed(index);
    const driveAnomaly = this.isProvisioned(index) ? this.driveAnomaly(index) : undefined;
    return {
      id,
      userPrincipalName,
      displayName: `${givenName} ${surname}`,
      givenName,
      surname,
      mail: userPrincipalName,
      accountEnabled: true,
      licensed,
      hasDrive: this.hasDrive(index),
      ...(driveAnomaly === undefined ? {} : { driveAnomaly }),
      assignedLicenses: licensed ? [{ skuId: LICENSE_SKU, disabledPlans: [] }] : [],
    };
  }

  /** Every live user, licensed or not, in directory order. */
  listUsers(): SimUser[] {
    const users: SimUser[] = [];
    for (let i = 0; i < this.size; i++) {
      if (this.deleted[i] === 1) continue;
      const { id, userPrincipalName, displayName, licensed, hasDrive, driveAnomaly } = this.user(i);
      users.push({
        id,
        userPrincipalName,
        displayName,
        licensed,
        hasDrive,
        ...(driveAnomaly === undefined ? {} : { driveAnomaly }),
      });
    }
    return users;
  }

  /** Number of live users that pass the license filter. */
  countUsers(filter: LicenseFilter): number {
    if (filter === 'licensed') return this.licensedTotal;
    if (filter === 'unlicensed') return this.userTotal - this.licensedTotal;
    return this.userTotal;
  }

  /**
   * Up to `top` live users after index `after` (-1: from the start) that pass the license filter, and whether
   * more follow. Paging by index keeps pages consistent when users are deleted or relicensed between pages.
   */
  usersAfter(
    after: number,
    top: number,
    filter: LicenseFilter,
    offset = 0,
  ): { indices: number[]; last: number; more: boolean } {
    const indices: number[] = [];
    let last = after;
    // Positions run 0..size-1; with an offset, position p is user (p + offset) mod size (a rotated order).
    for (let p = Math.max(0, after + 1); p < this.size; p++) {
      const i = (p + offset) % this.size;
      if (this.deleted[i] === 1) continue;
      if (filter !== 'all' && (this.licensed[i] === 1) !== (filter === 'licensed')) continue;
      if (indices.length === top) return { indices, last, more: true };
      indices.push(i);
      last = p;
    }
    return { indices, last, more: false };
  }

  /** The current root children of the user at `index`, in listing order (their drive must exist). */
  driveEntries(index: number): readonly DriveNode[] {
    return this.driveStore.rootEntries(index);
  }

  /**
   * Root children of every licensed user with a drive Graph finds, keyed by user ID (a `locked` or `accessDenied`
   * drive is here with its items; the drive-less anomalies are not).
   */
  drives(): Record<string, SimDriveItem[]> {
    const result: Record<string, SimDriveItem[]> = {};
    for (let i = 0; i < this.size; i++) {
      if (this.deleted[i] === 1 || !this.hasDrive(i)) continue;
      result[this.user(i).id] = this.driveEntries(i).map((entry) => ({ ...entry.item }));
    }
    return result;
  }

  /** Adds an item to a user's root or to `item.parentId` (see `TenantDrives.addItem`). */
  addItem(userKey: string, item: SimNewDriveItem, now: number): SimDriveItem {
    return this.driveStore.addItem(this.requireDriveUser(userKey), item, now);
  }

  renameItem(userKey: string, itemId: string, name: string, now: number): void {
    this.driveStore.renameItem(this.requireDriveUser(userKey), itemId, name, now);
  }

  moveItem(userKey: string, itemId: string, parentId: string, now: number): void {
    this.driveStore.moveItem(this.requireDriveUser(userKey), itemId, parentId, now);
  }

  deleteItem(userKey: string, itemId: string): void {
    this.driveStore.deleteItem(this.requireDriveUser(userKey), itemId);
  }

  replaceDrive(userKey: string): DriveIds {
    return this.driveStore.replaceDrive(this.requireDriveUser(userKey));
  }

  /** Forgets the delta tokens issued so far for one user's drive, or for every drive without `userKey`. */
  expireDeltaTokens(userKey: string | undefined): void {
    this.driveStore.expireTokens(userKey === undefined ? undefined : this.requireDriveUser(userKey));
  }

  driveTree(userKey: string): SimDriveTree {
    return this.driveStore.snapshot(this.requireDriveUser(userKey));
  }

  /**
   * Makes the user's drive answer as `answer` from now on ('items': normally again). The drive and its items are
   * kept whatever the answer, so going back to 'items' shows them again. The user must have a provisioned drive
   * (licensed or not; the answer applies while licensed).
   */
  setDriveAnomaly(userKey: string, answer: DriveAnomaly | 'items'): void {
    const code = parseDriveAnomaly(answer);
    const index = this.requireDriveUser(userKey);
    if (this.anomalies[index] === code) return;
    this.uncount(index);
    this.anomalies[index] = code;
    this.count(index);
  }

  setLicensed(userKey: string, licensed: boolean): void {
    const index = this.requireUser(userKey);
    if (this.isLicensed(index) === licensed) return;
    this.uncount(index);
    this.licensed[index] = licensed ? 1 : 0;
    this.count(index);
  }

  deleteUser(userKey: string): void {
    const index = this.requireUser(userKey);
    this.uncount(index);
    this.userTotal--;
    this.deleted[index] = 1;
  }

  private count(index: number): void {
    if (!this.isLicensed(index)) return;
    this.licensedTotal++;
    if (this.hasDrive(index)) {
      this.licensedWithDriveTotal++;
      this.itemTotal += this.itemCounts[index] ?? 0;
    }
  }

  /** The user's root now has `count` children (counted in `items` while the drive counts). */
  private setRootCount(index: number, count: number): void {
    if (this.isLicensed(index) && this.hasDrive(index))
      this.itemTotal += count - (this.itemCounts[index] ?? 0);
    this.itemCounts[index] = count;
  }

  private uncount(index: number): void {
    if (!this.isLicensed(index)) return;
    this.licensedTotal--;
    if (this.hasDrive(index)) {
      this.licensedWithDriveTotal--;
      this.itemTotal -= this.itemCounts[index] ?? 0;
    }
  }

  private requireDriveUser(userKey: string): number {
    const index = this.requireUser(userKey);
    if (this.baseDrive[index] !== 1) throw new SimError(409, `User ${userKey} has no OneDrive`);
    return index;
  }

  /** User `index`'s stream: its ID first, then its names (`user`). */
  private userStream(index: number): Random {
    return createRandom(hashSeed(this.seed, 'user-id', index));
  }

  /** User `index`'s ID, as `user` gives it: unique in the tenant (`distinctGuid`). */
  private userId(index: number): string {
    return distinctGuid(randomGuid(this.userStream(index)), index);
  }

  private buildIdIndex(): Map<string, number> {
    const index = new Map<string, number>();
    for (let i = 0; i < this.size; i++) index.set(this.userId(i), i);
    return index;
  }
}
