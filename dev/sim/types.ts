/**
 * The control surface of the simulated Microsoft cloud (Entra ID, Microsoft Graph, Key Vault on one loopback
 * HTTPS server). Tests, the demo and the benchmark drive the simulator only through this interface: in-process
 * through `SimulatedCloud`, or from another process (jest workers) through `SimClient`, which speaks the same
 * operations as JSON under `/_sim/...` on the simulator's own server.
 *
 * Isolation: everything that can change is keyed by app (client ID), tenant or secret name, so test files that
 * run in parallel against one simulator create their own app, secret names and tenants and never collide.
 */

import type {
  AppCertificateSpec,
  FederatedCredentialSpec,
  ManagedIdentityEnv,
  ManagedIdentityInfo,
  ManagedIdentitySpec,
  VaultSecretOptions,
} from './credential-types';
import type { SimDriveItem, SimDriveTree, SimNewDriveItem } from './drive-types';

export type * from './credential-types';
export type * from './drive-types';

/** The application permissions the product needs. */
export type GraphAppRole = 'User.Read.All' | 'Files.Read.All';

/**
 * A drive answer other than items: a locked OneDrive (423), one the app may not read (403), or one of the three
 * answers Graph gives for a user whose OneDrive it cannot find (400, 400, 404).
 */
export type DriveAnomaly = 'locked' | 'accessDenied' | 'mysiteUrl400' | 'noSpoLicense400' | 'unknownError404';

/** An AADSTS error number the token endpoint can be told to answer for a tenant. */
export type RevocationCode = 700016 | 7000229 | 7000112 | 65001 | 53003;

export interface AppSecretSpec {
  value: string;
  /** ISO 8601; a token request with this secret after it answers AADSTS7000222. */
  expiresOn?: string;
}

export interface AppSpec {
  /** Defaults to a new random GUID. */
  clientId?: string;
  /** Name shown on the adminconsent page. Defaults to `App <first 8 characters of the client ID>`. */
  displayName?: string;
  /** Client secrets. Default none. */
  secrets?: AppSecretSpec[];
  /** Certificates (public parts). Default none. */
  certificates?: AppCertificateSpec[];
  /** Federated identity credentials, at most 20 as in Entra ID. Default none. */
  federatedCredentials?: FederatedCredentialSpec[];
  /** Redirect URIs registered on the app; the adminconsent page refuses any other (AADSTS50011). */
  redirectUris?: string[];
  /** Application permissions configured on the app; consent grants these. Default: both. */
  requiredRoles?: GraphAppRole[];
  /**
   * The app manifest's `groupMembershipClaims`: ID tokens carry the user's directory roles (`wids`) only with
   * `DirectoryRole` or `All`. Default `None`, as a new registration has.
   */
  groupMembershipClaims?: GroupMembershipClaims;
}

/** The values of an app manifest's `groupMembershipClaims`. */
export type GroupMembershipClaims = 'None' | 'SecurityGroup' | 'DirectoryRole' | 'ApplicationGroup' | 'All';

export interface TenantSpec {
  /** Seed of the deterministic generator; the same spec always yields the same tenant, IDs included. */
  seed: number;
  /** Defaults to a GUID derived from the seed. */
  tenantId?: string;
  /** Defaults to `t<seed>.onmicrosoft.test`. */
  domain?: string;
  /** Users in the directory, licensed or not. */
  users: number;
  /** Share of users without any license (never to be crawled). Default 0.1. */
  unlicensedShare?: number;
  /** Share of licensed users with no OneDrive provisioned (404 on their drive). Default 0.05. */
  withoutDriveShare?: number;
  /**
   * Root children per user with a drive: a fixed count, [min, max] drawn uniformly from the seed, or
   * `{ longTail: [min, max] }`: `min + floor((max - min + 1) * u^4)` (u uniform in [0, 1)), so most users are near
   * min and few near max (median min + 6% of the range, mean min + 20%); or `{ logNormal: { median, sigma, max } }`:
   * `round(median * e^(sigma * z))` with z standard normal, capped at max (sigma 1.5 around a median of 30: 80%
   * of roots under 100 items, 1% past 1,000). Default [0, 12].
   */
  itemsPerUser?:
    | number
    | [number, number]
    | { longTail: [number, number] }
    | { logNormal: { median: number; sigma: number; max: number } };
  /** Share of items that are folders. Default 0.3. */
  folderShare?: number;
  /**
   * Children of each seeded folder (a count or [min, max], drawn from the seed): folders then nest down to
   * `folderDepth`, and `childCount` is what a folder holds. Default none: only root children, and a folder's
   * `childCount` is a drawn number with no children behind it. `items` in `TenantInfo` counts root children only.
   */
  nestedItemsPerFolder?: number | [number, number];
  /** The deepest level a nested item sits at, the root's children being level 1. Default 3 (with nesting). */
  folderDepth?: number;
  /**
   * Shares (0..1, summing to at most 1) of licensed users with a drive whose drive answers so instead of items,
   * drawn from the seed per user (a stream of its own: users, licenses and items stay as without it). Default none.
   */
  driveAnomalies?: Partial<Record<DriveAnomaly, number>>;
  /** Share of items whose name is exactly 400 characters (OneDrive's maximum), mixed scripts. Default 0. */
  longNameShare?: number;
  /** Share of items that are OneNote notebooks: a `package` facet and neither `folder` nor `file`. Default 0. */
  packageShare?: number;
  /** At most this many items on a children page whatever `$top` asks (still with a nextLink). Default: `$top`. */
  childrenPageCap?: number;
  /**
   * Each next page of a children listing begins with the last item of the page before (seen twice while paging,
   * as on OneDrive's name-keyed cursor); needs pages of at least 2 items. Default false.
   */
  repeatAtPageBoundary?: boolean;
  /**
   * Resource-unit budget of drive requests per window for this tenant (per app). Default: by license tier
   * (docs/graph-facts.md, "Throttling": 1,250 / 2,500 / 3,750 / 5,000 / 6,250 per minute by licensed-user count).
   */
  budgetPerWindow?: number;
  /** Length of the budget window in simulated seconds. Default 60 (Microsoft's minute). */
  windowSeconds?: number;
  /**
   * Throttling as Microsoft documents it, beyond the per-app minute budget (dev/sim/README.md, "Throttling rules").
   * Each rule is off unless set, so that tests at high time scales stay fast; `MICROSOFT_THROTTLING` turns on all.
   */
  throttleRules?: ThrottleRules;
  /**
   * Simulated seconds per real second for this tenant: budgets refill and `Retry-After` values shrink by this
   * factor, and latency is divided by it. Default: the simulator's `timeScale`.
   */
  timeScale?: number;
  /** Real-world latency per request in simulated milliseconds (divided by the time scale). Default 0. */
  latencyMs?: number;
  /** Apps consented in this tenant at creation, with the roles granted (default: the app's required roles). */
  consentedApps?: Array<{ clientId: string; roles?: GraphAppRole[] }>;
  /**
   * Real milliseconds after each consent in this tenant during which tokens come without the granted roles, so
   * Graph answers `403` (`Authorization_RequestDenied` for the directory, `accessDenied` for drives). Default 0.
   */
  rolesLagMs?: number;
  /**
   * The users listing's `$skiptoken` after page `afterPage` (1-based) answers `400` `Directory_ExpiredPageToken`,
   * for the first `listings` listings of the tenant (a listing is a request without `$skiptoken`). Default none.
   */
  expiringUserListings?: { afterPage: number; listings: number };
  /** Each new users listing starts at another user (the order rotates), as Graph's order is not stable. */
  reorderUserListings?: boolean;
}

export interface TenantInfo {
  tenantId: string;
  domain: string;
  users: number;
  licensedUsers: number;
  licensedWithDrive: number;
  items: number;
}

export interface SimUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  licensed: boolean;
  /** Licensed and provisioned, and Graph finds the drive (true for `locked` and `accessDenied`). */
  hasDrive: boolean;
  /** How the user's drive answers when not with items (absent for a normal drive). */
  driveAnomaly?: DriveAnomaly;
}

/** Faults injected into one tenant's Graph traffic (or `'*'` for every tenant). Probabilities 0..1 per request. */
export interface GraphFaults {
  status429?: number;
  status503?: number;
  status500?: number;
  /** Probability of destroying the connection without an answer. */
  reset?: number;
  /** Probability of answering only after `slowMs` (real milliseconds, not scaled). */
  slow?: number;
  slowMs?: number;
  /** `Retry-After` of injected 429/503, in simulated seconds. Default 2. */
  retryAfterSeconds?: number;
}

export interface Faults {
  graph?: GraphFaults;
  /** Probability that a token request answers 500/503. */
  token5xx?: number;
  /** Probability that a Key Vault request answers 500/503. */
  vault5xx?: number;
}

export interface RequestLogEntry {
  /** Real time, ms since epoch. */
  at: number;
  /** `msi`: the managed-identity endpoint (`IDENTITY_ENDPOINT`). */
  service: 'graph' | 'token' | 'vault' | 'consent' | 'openid' | 'authorize' | 'msi';
  tenantId?: string;
  clientId?: string;
  method: string;
  /** Path and query as received (inner path for requests inside `$batch`). */
  url: string;
  status: number;
  /** True for a request that arrived inside a `$batch` (each inner request gets its own entry). */
  inBatch: boolean;
  /** Resource units charged. */
  units: number;
  userAgent?: string;
  /** Whether an `Authorization: Bearer` header arrived (graph and vault). */
  authorized: boolean;
  /** True when the call came before a `Retry-After` given to this app and tenant had passed. */
  violation: boolean;
  /** Value of the `ConsistencyLevel` header. */
  consistencyLevel?: string;
}

export interface RequestLogFilter {
  tenantId?: string;
  clientId?: string;
  service?: RequestLogEntry['service'];
  /** Only entries at or after this real time (ms since epoch). */
  since?: number;
}

export interface ThrottleStats {
  /** Resource units charged to this app in this tenant (drive requests). */
  unitsSpent: number;
  /** Units charged for throttled requests (with `ThrottleRules.chargeThrottled`), counted in `unitsSpent` too. */
  unitsOnThrottled: number;
  /** Units the app's other workload spent in this tenant (`ThrottleRules.sameAppOtherShare`), not in `unitsSpent`. */
  otherWorkloadUnits: number;
  /**
   * Units charged per real second from `seriesStartAt` (wall-clock ms of the first charged request, refused ones
   * included), and the part of them charged for throttled requests.
   */
  seriesStartAt?: number;
  unitsBySecond: number[];
  throttledUnitsBySecond: number[];
  requests: number;
  throttled: number;
  /** Calls made before a `Retry-After` had passed. */
  violations: number;
  /** Real ms from the first to the last charged request. */
  firstRequestAt?: number;
  lastRequestAt?: number;
  budgetPerWindow: number;
  windowSeconds: number;
  timeScale: number;
  /** Budget per real second: budgetPerWindow / (windowSeconds / timeScale). */
  unitsPerRealSecond: number;
}

/** Throttling rules a tenant may follow (each documented by Microsoft; see dev/sim/README.md). */
export interface ThrottleRules {
  /** Refused drive requests are charged to every budget too (Microsoft: throttled requests count). */
  chargeThrottled?: boolean;
  /** `RateLimit-Reset` and `Retry-After` in whole seconds, rounded up (as Graph sends them). */
  wholeSeconds?: boolean;
  /** Share of answers past 80% of the minute budget that carry no `RateLimit-*` headers (best effort). */
  rateLimitHeadersMissing?: number;
  /** A budget `429`'s `Retry-After` as this share of the time to the window's reset (1: equal). */
  retryAfterShare?: number;
  /** Where minute windows start: the app's first request, wall-clock minutes, or a sliding window. */
  windowAnchor?: 'firstRequest' | 'wallClock' | 'sliding';
  /**
   * The tenant-wide budget per 5 minutes over all apps (true: by licences, 18,750 to 93,750; or a number of units),
   * and the share of it other apps spend. Past it: `429` with `Retry-After` only.
   */
  tenantBudget?: true | number;
  otherAppsShare?: number;
  /**
   * Another workload of the same app spends this share of the per-app minute budget, evenly over each window
   * (fixed windows only): its units count in the window and in `RateLimit-Remaining`; like any caller it gets no
   * more than the window has left. Counted in `otherWorkloadUnits`, not in `unitsSpent` (not this caller's).
   */
  sameAppOtherShare?: number;
  /** The per-app budget per 24 hours (true: by licences, 1.2 M to 6 M; or units). Past it: `429`, `Retry-After` only. */
  dailyBudget?: true | number;
}

/** Every rule on, as Microsoft documents them (the benchmark's world). */
export const MICROSOFT_THROTTLING: Readonly<ThrottleRules> = {
  chargeThrottled: true,
  wholeSeconds: true,
  rateLimitHeadersMissing: 0.2,
  retryAfterShare: 0.5,
  windowAnchor: 'wallClock',
  tenantBudget: true,
  otherAppsShare: 0.3,
  dailyBudget: true,
};

/** The environment that points the product at this simulator (as `npm run sim` prints it). */
export interface SimEnvironment {
  AUTHORITY_HOST: string;
  AZURE_AUTHORITY_HOST: string;
  GRAPH_ENDPOINT: string;
  KEY_VAULT_URL: string;
  /** `true`: the simulator's vault is on loopback, not a Key Vault host (a development setting of the product). */
  KEY_VAULT_ANY_HOST: 'true';
  /** The operator's own identity, for Key Vault: a service principal in the operator's tenant. */
  AZURE_TENANT_ID: string;
  AZURE_CLIENT_ID: string;
  AZURE_CLIENT_SECRET: string;
  AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential';
}

export interface SimControl {
  env(): Promise<SimEnvironment>;
  createApp(spec: AppSpec): Promise<{ clientId: string }>;
  addAppSecret(clientId: string, secret: AppSecretSpec): Promise<void>;
  removeAppSecret(clientId: string, value: string): Promise<void>;
  /** Uploads a certificate's public part to the app; its SHA-256 thumbprint (hex) names it from then on. */
  addAppCertificate(clientId: string, certificate: AppCertificateSpec): Promise<void>;
  /** Removes the certificate (assertions signed with it then answer AADSTS700027). Hex, any case. */
  removeAppCertificate(clientId: string, thumbprintSha256Hex: string): Promise<void>;
  /** Keeps the certificate but marks it revoked: assertions signed with it answer AADSTS7000214. */
  revokeAppCertificate(clientId: string, thumbprintSha256Hex: string): Promise<void>;
  /** Adds a federated identity credential (at most 20 per app; names and issuer+subject pairs unique). */
  addFederatedCredential(clientId: string, credential: FederatedCredentialSpec): Promise<void>;
  removeFederatedCredential(clientId: string, name: string): Promise<void>;
  /** Creates a user-assigned managed identity in the operator's tenant. */
  createManagedIdentity(spec: ManagedIdentitySpec): Promise<ManagedIdentityInfo>;
  /**
   * Makes the managed-identity endpoint answer `503` without a token (`down`), as App Service's does when it
   * cannot get one, or normally again (`up`): for one identity's requests, or, without `clientId`, for all.
   */
  setManagedIdentityEndpoint(state: 'up' | 'down', clientId?: string): Promise<void>;
  /** `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` as App Service sets them, for `ManagedIdentityCredential`. */
  managedIdentityEnv(): Promise<ManagedIdentityEnv>;
  /** Stores a new version of a Key Vault secret and makes it the latest; returns the version ID. */
  setVaultSecret(name: string, value: string, options?: VaultSecretOptions): Promise<{ version: string }>;
  deleteVaultSecret(name: string): Promise<void>;
  createTenant(spec: TenantSpec): Promise<TenantInfo>;
  /** Grants consent for the app in the tenant, as the adminconsent page's "Accept" does. */
  consent(
    tenantId: string,
    clientId: string,
    options?: {
      roles?: GraphAppRole[];
      replicationLagMs?: number;
      lagCode?: 700016 | 65001;
      rolesLagMs?: number;
    },
  ): Promise<void>;
  /** Withdraws consent; token requests then fail with `code` (default 7000229, service principal missing). */
  revoke(tenantId: string, clientId: string, code?: RevocationCode): Promise<void>;
  listUsers(tenantId: string): Promise<SimUser[]>;
  /** Current root children of every licensed user with a drive, keyed by user ID. */
  drives(tenantId: string): Promise<Record<string, SimDriveItem[]>>;
  /** Adds an item to the user's root, or into the folder `item.parentId`. */
  addItem(tenantId: string, userId: string, item: SimNewDriveItem): Promise<SimDriveItem>;
  renameItem(tenantId: string, userId: string, itemId: string, name: string): Promise<void>;
  /** Moves an item (a folder with everything under it) into the folder `newParentId` (the root's ID or `root`). */
  moveItem(tenantId: string, userId: string, itemId: string, newParentId: string): Promise<void>;
  /** Deletes an item; a folder goes with everything under it (delta reports the folder only). */
  deleteItem(tenantId: string, userId: string, itemId: string): Promise<void>;
  /** Makes the user's OneDrive anew: new drive, root and item IDs; the old drive ID answers 404 `itemNotFound`. */
  replaceDrive(tenantId: string, userId: string): Promise<{ driveId: string; rootId: string }>;
  /** Delta tokens issued until now answer 410: those of one user's drive, or of every drive of the tenant. */
  expireDeltaTokens(tenantId: string, userId?: string): Promise<void>;
  /** The user's whole drive: every item with its parent's ID, parents before children. */
  driveTree(tenantId: string, userId: string): Promise<SimDriveTree>;
  setLicensed(tenantId: string, userId: string, licensed: boolean): Promise<void>;
  /** Makes one user's drive answer as `answer` from now on ('items': normally again). */
  setDriveAnomaly(tenantId: string, userId: string, answer: DriveAnomaly | 'items'): Promise<void>;
  deleteUser(tenantId: string, userId: string): Promise<void>;
  /** Replaces the budget, window, scale or latency of a tenant (the rest of the spec's throttle fields). */
  setThrottle(
    tenantId: string,
    throttle: Pick<TenantSpec, 'budgetPerWindow' | 'windowSeconds' | 'timeScale' | 'latencyMs'>,
  ): Promise<void>;
  /** Replaces the faults of a tenant (`'*'`: every tenant, and Key Vault); `{}` clears them. */
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- '*' documents the wildcard
  setFaults(tenantId: string | '*', faults: Faults): Promise<void>;
  requestLog(filter?: RequestLogFilter): Promise<RequestLogEntry[]>;
  throttleStats(tenantId: string, clientId: string): Promise<ThrottleStats>;
}
