import { driveItemName, longItemName, mimeTypeOf, personName } from './drive-item-name';
import type { Random } from './seeded-random';
import { createRandom, derivedGuid, hashSeed, randomChars, randomGuid, randomInt } from './seeded-random';
import { SimError } from './sim-error';
import type { DriveAnomaly, SimDriveItem, SimUser, TenantInfo, TenantSpec, ThrottleRules } from './types';
import { ResourceUnitWindow } from './resource-unit-window';

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

/** Every drive anomaly, in the order shares are drawn (the stored code is the index + 1; 0 is a normal drive). */
export const DRIVE_ANOMALIES: readonly DriveAnomaly[] = [
  'locked',
  'accessDenied',
  'mysiteUrl400',
  'noSpoLicense400',
  'unknownError404',
];

/** Anomalies whose drive Graph cannot find: not in `drives()` nor in the drive counts. */
const DRIVELESS_ANOMALIES: ReadonlySet<DriveAnomaly> = new Set([
  'mysiteUrl400',
  'noSpoLicense400',
  'unknownError404',
]);

/** Which users a listing returns, by `assignedLicenses/$count`. */
export type LicenseFilter = 'all' | 'licensed' | 'unlicensed';

/** A drive item with its position in the root's listing order (stable across pages and mutations). */
export interface DriveEntry {
  ord: number;
  item: SimDriveItem;
}

/** Microsoft 365 E5's public SKU ID, the license every licensed user holds. */
const LICENSE_SKU = '06ebc4ee-1bb5-47dd-8120-11324bc54e06';
const ITEM_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE_TIME_MS = Date.UTC(2024, 0, 1);
const YEAR_SECONDS = 365 * 24 * 3600;
const MAX_USERS = 2_000_000;
const GENERATED_DRIVE_CACHE = 64;
/** Characters OneDrive refuses in a name. */
const ILLEGAL_NAME = /["*:<>?/\\|]/;

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

function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function share(value: number | undefined, fallback: number, field: string): number {
  const result = value ?? fallback;
  if (!(result >= 0 && result <= 1)) throw new SimError(400, `${field} must be between 0 and 1`);
  return result;
}

/** How many root children a user gets: a fixed count, uniform in [min, max], or long-tailed in [min, max]. */
interface ItemCountRule {
  min: number;
  max: number;
  longTail: boolean;
}

function itemCountRule(value: TenantSpec['itemsPerUser']): ItemCountRule {
  let rule: ItemCountRule;
  if (value === undefined) rule = { min: 0, max: 12, longTail: false };
  else if (typeof value === 'number') rule = { min: value, max: value, longTail: false };
  else if (Array.isArray(value)) rule = { min: value[0], max: value[1], longTail: false };
  else if (typeof value === 'object' && value !== null && Array.isArray(value.longTail)) {
    rule = { min: value.longTail[0], max: value.longTail[1], longTail: true };
  } else {
    throw new SimError(400, 'itemsPerUser must be a count, [min, max] or { longTail: [min, max] }');
  }
  if (!(
    Number.isSafeInteger(rule.min) &&
    Number.isSafeInteger(rule.max) &&
    rule.min >= 0 &&
    rule.max >= rule.min
  )) {
    throw new SimError(
      400,
      'itemsPerUser must be a count, [min, max] or { longTail: [min, max] } with 0 <= min <= max',
    );
  }
  return rule;
}

/** Draws a user's item count from the rule: `min + floor((max - min + 1) * u^4)` for a long tail. */
function drawItemCount(random: Random, rule: ItemCountRule): number {
  if (!rule.longTail) return randomInt(random, rule.min, rule.max);
  return rule.min + Math.floor((rule.max - rule.min + 1) * random() ** 4);
}

/** Checks the anomaly shares; returns their cumulative sums in `DRIVE_ANOMALIES` order (undefined: none). */
function anomalyThresholds(shares: TenantSpec['driveAnomalies']): number[] | undefined {
  if (shares === undefined) return undefined;
  if (typeof shares !== 'object' || shares === null)
    throw new SimError(400, 'driveAnomalies must be an object');
  for (const key of Object.keys(shares)) {
    if (!DRIVE_ANOMALIES.includes(key as DriveAnomaly))
      throw new SimError(400, `Unknown drive anomaly ${key}`);
  }
  let sum = 0;
  const thresholds = DRIVE_ANOMALIES.map((anomaly) => {
    sum += share(shares[anomaly], 0, `driveAnomalies.${anomaly}`);
    return sum;
  });
  if (sum > 1 + 1e-9) throw new SimError(400, 'driveAnomalies must add up to at most 1');
  return sum > 0 ? thresholds : undefined;
}

function parseDriveAnomaly(answer: unknown): number {
  if (answer === 'items') return 0;
  const index = DRIVE_ANOMALIES.indexOf(answer as DriveAnomaly);
  if (index < 0) {
    throw new SimError(400, `answer must be 'items' or one of ${DRIVE_ANOMALIES.join(', ')}`);
  }
  return index + 1;
}

function positive(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(Number.isFinite(value) && value > 0)) throw new SimError(400, `${field} must be a positive number`);
  return value;
}

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

/**
 * A directory and its users' OneDrive roots, generated from a seed. Only a few bytes per user are kept (license,
 * drive, drive answer, item count, deleted); users and items are derived on demand from (seed, user index), so a
 * 50,000-user tenant costs a few hundred kilobytes and is made in milliseconds. A user whose drive is changed (add, rename,
 * delete) gets their items materialised once; from then on that copy is the truth.
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
  private readonly folderShare: number;
  private readonly longNameShare: number;
  private readonly packageShare: number;
  private readonly webHost: string;
  private readonly mutatedDrives = new Map<number, { entries: DriveEntry[]; nextOrd: number }>();
  private readonly generatedDrives = new Map<number, DriveEntry[]>();
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
    this.webHost = `${this.domain.split('.')[0] ?? 'tenant'}-my.sharepoint.test`;
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
    this.folderShare = share(spec.folderShare, 0.3, 'folderShare');
    this.longNameShare = share(spec.longNameShare, 0, 'longNameShare');
    this.packageShare = share(spec.packageShare, 0, 'packageShare');
    const itemRule = itemCountRule(spec.itemsPerUser);
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
    const random = createRandom(hashSeed(this.seed, 'user-id', index));
    const id = randomGuid(random);
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
  driveEntries(index: number): readonly DriveEntry[] {
    const mutated = this.mutatedDrives.get(index);
    if (mutated) return mutated.entries;
    const cached = this.generatedDrives.get(index);
    if (cached) {
      this.generatedDrives.delete(index);
      this.generatedDrives.set(index, cached);
      return cached;
    }
    const generated = this.generateDrive(index);
    this.generatedDrives.set(index, generated);
    if (this.generatedDrives.size > GENERATED_DRIVE_CACHE) {
      const oldest = this.generatedDrives.keys().next();
      if (!oldest.done) this.generatedDrives.delete(oldest.value);
    }
    return generated;
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

  /** Adds an item to a user's root (defaults filled in as OneDrive would); the name must be free. */
  addItem(userKey: string, item: Partial<SimDriveItem> & { name: string }, now: number): SimDriveItem {
    const index = this.requireDriveUser(userKey);
    assertLegalItemName(item.name);
    const drive = this.mutableDrive(index);
    this.assertNameFree(drive.entries, item.name, undefined);
    const random = createRandom(hashSeed(this.seed, 'added', index, drive.nextOrd));
    const created: SimDriveItem = {
      id: item.id ?? `01${randomChars(random, ITEM_ID_ALPHABET, 32)}`,
      name: item.name,
      size: item.size ?? 0,
      webUrl: item.webUrl ?? this.webUrl(index, item.name),
      eTag: item.eTag ?? `"{${randomGuid(random).toUpperCase()}},1"`,
      lastModifiedDateTime: item.lastModifiedDateTime ?? isoSeconds(now),
      ...(item.folder !== undefined
        ? { folder: item.folder }
        : item.package !== undefined
          ? { package: item.package }
          : { file: item.file ?? { mimeType: mimeTypeOf(item.name) } }),
    };
    if (drive.entries.some((entry) => entry.item.id === created.id)) {
      throw new SimError(409, `Item ${created.id} already exists`);
    }
    drive.entries.push({ ord: drive.nextOrd++, item: created });
    this.itemCounts[index] = drive.entries.length;
    if (this.hasDrive(index)) this.itemTotal++;
    return { ...created };
  }

  /** Renames an item; its eTag version and modification time move on, as OneDrive's do. */
  renameItem(userKey: string, itemId: string, name: string, now: number): void {
    const index = this.requireDriveUser(userKey);
    assertLegalItemName(name);
    const drive = this.mutableDrive(index);
    const entry = this.requireItem(drive.entries, itemId);
    this.assertNameFree(drive.entries, name, itemId);
    entry.item = {
      ...entry.item,
      name,
      webUrl: this.webUrl(index, name),
      eTag: bumpETag(entry.item.eTag),
      lastModifiedDateTime: isoSeconds(now),
    };
  }

  deleteItem(userKey: string, itemId: string): void {
    const index = this.requireDriveUser(userKey);
    const drive = this.mutableDrive(index);
    const entry = this.requireItem(drive.entries, itemId);
    drive.entries.splice(drive.entries.indexOf(entry), 1);
    this.itemCounts[index] = drive.entries.length;
    if (this.hasDrive(index)) this.itemTotal--;
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

  private requireItem(entries: DriveEntry[], itemId: string): DriveEntry {
    const entry = entries.find((candidate) => candidate.item.id === itemId);
    if (!entry) throw new SimError(404, `No item ${itemId} in that drive`);
    return entry;
  }

  private assertNameFree(entries: readonly DriveEntry[], name: string, exceptId: string | undefined): void {
    const lower = name.toLowerCase();
    if (entries.some((entry) => entry.item.id !== exceptId && entry.item.name.toLowerCase() === lower)) {
      throw new SimError(409, `An item named ${JSON.stringify(name)} already exists`);
    }
  }

  private mutableDrive(index: number): { entries: DriveEntry[]; nextOrd: number } {
    let drive = this.mutatedDrives.get(index);
    if (!drive) {
      const entries = this.driveEntries(index).map((entry) => ({ ord: entry.ord, item: { ...entry.item } }));
      drive = { entries, nextOrd: entries.length };
      this.mutatedDrives.set(index, drive);
      this.generatedDrives.delete(index);
    }
    return drive;
  }

  private webUrl(index: number, name: string): string {
    const owner = `user${index + 1}@${this.domain}`.replace(/[@.]/g, '_');
    return `https://${this.webHost}/personal/${owner}/Documents/${encodeURIComponent(name)}`;
  }

  /**
   * The generated root of the user at `index`. Long names and notebooks come from a stream of their own, drawn
   * only when their shares are set, so without them every item is exactly as before they existed.
   */
  private generateDrive(index: number): DriveEntry[] {
    const random: Random = createRandom(hashSeed(this.seed, 'items', index));
    const extras: Random | undefined =
      this.longNameShare > 0 || this.packageShare > 0
        ? createRandom(hashSeed(this.seed, 'item-extras', index))
        : undefined;
    const count = this.itemCounts[index] ?? 0;
    const entries: DriveEntry[] = [];
    for (let k = 0; k < count; k++) {
      const isFolder = random() < this.folderShare;
      const drawn = driveItemName(random, k + 1, isFolder);
      const id = `01${randomChars(random, ITEM_ID_ALPHABET, 32)}`;
      const eTag = `"{${randomGuid(random).toUpperCase()}},${randomInt(random, 1, 9)}"`;
      const modified = BASE_TIME_MS + Math.floor(random() * YEAR_SECONDS) * 1000;
      const size = isFolder ? Math.floor(random() * 2e9) : Math.floor(random() ** 3 * 50_000_000);
      const childCount = isFolder ? randomInt(random, 0, 40) : 0;
      const isPackage = extras !== undefined && extras() < this.packageShare;
      const long = extras !== undefined && extras() < this.longNameShare ? extras : undefined;
      const ext = isFolder || isPackage ? undefined : drawn.ext;
      const name = long ? longItemName(long, k + 1, ext) : isPackage ? drawn.base : drawn.name;
      const item: SimDriveItem = {
        id,
        name,
        size,
        webUrl: this.webUrl(index, name),
        eTag,
        lastModifiedDateTime: isoSeconds(modified),
        ...(isPackage
          ? { package: { type: 'oneNote' } }
          : isFolder
            ? { folder: { childCount } }
            : { file: { mimeType: drawn.mimeType ?? '' } }),
      };
      entries.push({ ord: k, item });
    }
    return entries;
  }

  private buildIdIndex(): Map<string, number> {
    const index = new Map<string, number>();
    for (let i = 0; i < this.size; i++)
      index.set(randomGuid(createRandom(hashSeed(this.seed, 'user-id', i))), i);
    return index;
  }
}
