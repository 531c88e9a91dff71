import pLimit from 'p-limit';
import type { TokenCredential } from '@azure/identity';
import type { AppConfig } from './config';
import { isKeyVaultHost } from './config';
import { AdminSignIn } from './consent/admin-sign-in';
import { ConsentStateStore } from './consent/consent-state-store';
import { InvitationStore } from './consent/invitation-store';
import type { ConsentFlowDeps } from './consent/consent-flow';
import type { Verification } from './consent/verify-consent';
import { verifyConsent } from './consent/verify-consent';
import type { RequestPacer } from './graph/graph-types';
import { TenantHold } from './graph/tenant-hold';
import { tierForLicensedUsers } from './graph/budget-tiers';
import { TenantPacer } from './graph/pacer';
import type { SharedPacerState } from './graph/shared-pacer-state';
import { TablePacerState } from './graph/table-pacer-state';
import type { TenantGraphOptions } from './graph/tenant-graph';
import { TenantGraph, graphUserAgent } from './graph/tenant-graph';
import { createAppCredential, createStorageCredential } from './identity/app-credential';
import { TenantCredentials, tokenClaims } from './identity/tenant-credentials';
import type { Logger } from './logging/logger';
import { consoleSink, createLogger } from './logging/logger';
import { ClientSecretSource } from './secrets/client-secret-source';
import { StorageClients, TABLES } from './storage/storage-clients';
import { TenantRegistry } from './tenants/tenant-registry';
import { VERSION } from './version';
import type { CrawlDeps, CrawlSettings } from './crawl/crawl-deps';
import { DEFAULT_CRAWL_SETTINGS } from './crawl/crawl-deps';
import { CrawlRunStore } from './crawl/crawl-runs';
import { CrawlSkipStore } from './crawl/crawl-skips';
import { DriveItemStore } from './crawl/drive-item-store';
import type { TenantCrawlMessage, UserBatchMessage } from './crawl/messages';
import { encodeMessage } from './crawl/messages';
import { RunProgress } from './crawl/run-progress';
import { QUEUES, ensureQueue } from './storage/storage-clients';

/** Everything the capabilities need, built once per process (the composition root). */
export interface AppContext {
  config: AppConfig;
  logger: Logger;
  now: () => Date;
  storage: StorageClients;
  registry: TenantRegistry;
  consentStates: ConsentStateStore;
  invitations: InvitationStore;
  secrets: ClientSecretSource;
  credentials: TenantCredentials;
  sharedPacerState: SharedPacerState;
  userAgent: string;
  /** The tenant's one pacer in this process (shared hold and budget with other instances through storage). */
  pacerFor(tenantId: string, licensedUsers?: number): RequestPacer;
  /** Graph access for one tenant. */
  graphFor(tenantId: string, options?: Partial<TenantGraphOptions>): TenantGraph;
  /** The consent capability's dependencies (needs `CONSENT_REDIRECT_URI`). */
  consentDeps(): ConsentFlowDeps;
  runs: CrawlRunStore;
  progress: RunProgress;
  items: DriveItemStore;
  skips: CrawlSkipStore;
  crawlSettings: CrawlSettings;
  /**
   * The crawl capabilities' dependencies; by default work goes to the storage queues, `enqueue` replaces that
   * (the inline crawl runs it in process).
   */
  crawlDeps(options?: {
    logger?: Logger;
    enqueueTenant?: (message: TenantCrawlMessage) => Promise<void>;
    enqueueBatch?: (message: UserBatchMessage) => Promise<void>;
  }): CrawlDeps;
}

/** Replaceable parts, for tests and local tools. */
export interface AppContextOverrides {
  logger?: Logger;
  now?: () => Date;
  /** The app's own identity (Key Vault, identity-based storage). */
  appCredential?: TokenCredential;
  /** How long consent verification retries replication-lag errors. */
  consentRetryWindowMs?: number;
  /** How long the consent callback keeps proving missing permissions with fresh tokens (default 60 s). */
  consentPropagationWindowMs?: number;
  /** Replaces the per-tenant pacer factory. */
  pacerFor?: (tenantId: string, licensedUsers?: number) => RequestPacer;
  /** Key Vault at a host that is not a Key Vault domain (the simulator). */
  disableChallengeResourceVerification?: boolean;
  /** Reuse the client secret for this long before asking the vault again. */
  secretCacheMs?: number;
  /** This process's name among the instances that share a tenant's budget. */
  instanceId?: string;
  crawlSettings?: Partial<CrawlSettings>;
}

/** Builds the app's dependencies from its configuration. Makes no network call. */
export function createAppContext(config: AppConfig, overrides: AppContextOverrides = {}): AppContext {
  const logger = overrides.logger ?? createLogger(consoleSink());
  const now = overrides.now ?? (() => new Date());
  const appCredential = overrides.appCredential ?? createAppCredential(config);
  const storage = new StorageClients(config.storage, createStorageCredential(config, appCredential));
  const secrets = new ClientSecretSource({
    vaultUrl: config.keyVaultUrl,
    secretName: config.clientSecretName,
    credential: appCredential,
    cacheMs: overrides.secretCacheMs,
    disableChallengeResourceVerification:
      overrides.disableChallengeResourceVerification ??
      (config.keyVaultAnyHost && !isKeyVaultHost(config.keyVaultUrl)),
  });
  const credentials = new TenantCredentials({
    clientId: config.appClientId,
    authorityHost: config.authorityHost,
    disableInstanceDiscovery: !config.authorityIsPublicCloud,
    secrets,
  });
  const sharedPacerState = new TablePacerState(storage.table(TABLES.pacerState));
  const userAgent = graphUserAgent(config.isvName, VERSION);
  const instanceId = overrides.instanceId ?? `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const pacers = new Map<string, RequestPacer>();
  // One hold per tenant in this process, for its drive and directory calls alike (docs/throttling.md).
  const holds = new Map<string, TenantHold>();
  const holdFor = (tenantId: string): TenantHold => {
    let hold = holds.get(tenantId);
    if (!hold) holds.set(tenantId, (hold = new TenantHold()));
    return hold;
  };

  const pacerFor =
    overrides.pacerFor ??
    ((tenantId: string, licensedUsers?: number): RequestPacer => {
      let pacer = pacers.get(tenantId);
      if (!pacer) {
        pacer = new TenantPacer({
          tenantId,
          unitsPerMinute: tierForLicensedUsers(licensedUsers ?? 0),
          shared: sharedPacerState,
          instanceId,
          hold: holdFor(tenantId),
        });
        pacers.set(tenantId, pacer);
      }
      return pacer;
    });

  const directoryPacers = new Map<string, RequestPacer>();
  const directoryPacerFor = (tenantId: string): RequestPacer => {
    let pacer = directoryPacers.get(tenantId);
    if (!pacer) {
      // Directory budget (docs/graph-facts.md): 3,500 units per 10 s for the smallest tenants, about 1 unit a page.
      pacer = new TenantPacer({
        tenantId: `${tenantId}:directory`,
        unitsPerMinute: 21_000,
        instanceId,
        hold: holdFor(tenantId),
      });
      directoryPacers.set(tenantId, pacer);
    }
    return pacer;
  };

  const registry = new TenantRegistry(storage.table(TABLES.tenants));
  /** Consent verifications at once in this instance (anonymous callers reach them; each takes tokens). */
  const verifications = pLimit(8);
  const consentStates = new ConsentStateStore(storage.table(TABLES.consentStates), () => now().getTime());
  const invitations = new InvitationStore(storage.table(TABLES.invitations), () => now().getTime());
  let signIn: AdminSignIn | undefined;

  const graphFor = (tenantId: string, options: Partial<TenantGraphOptions> = {}): TenantGraph =>
    new TenantGraph({
      tenantId,
      graphEndpoint: config.graphEndpoint,
      credential: credentials.forTenant(tenantId),
      pacer: pacerFor(tenantId),
      userAgent,
      ...options,
    });

  const runs = new CrawlRunStore(storage.table(TABLES.crawlRuns));
  const progress = new RunProgress(storage.table(TABLES.runProgress));
  const items = new DriveItemStore(storage.table(TABLES.driveItems), storage.table(TABLES.userIndex));
  const skips = new CrawlSkipStore(storage.table(TABLES.crawlSkips));
  const crawlSettings = { ...DEFAULT_CRAWL_SETTINGS, ...overrides.crawlSettings };
  const queueSender = (name: string) => {
    const client = storage.queue(name);
    let ready: Promise<void> | undefined;
    return async (message: TenantCrawlMessage | UserBatchMessage): Promise<void> => {
      ready ??= ensureQueue(client).catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
      await ready;
      await client.sendMessage(encodeMessage(message));
    };
  };
  const sendTenant = queueSender(QUEUES.tenantCrawl);
  const sendBatch = queueSender(QUEUES.userBatch);

  return {
    config,
    logger,
    runs,
    progress,
    items,
    skips,
    crawlSettings,
    crawlDeps: (options = {}) => ({
      registry,
      runs,
      progress,
      items,
      skips,
      secrets,
      graphFor: (tenantId, budget, signal) =>
        new TenantGraph({
          tenantId,
          graphEndpoint: config.graphEndpoint,
          credential: credentials.forTenant(tenantId),
          pacer:
            budget.kind === 'drives' ? pacerFor(tenantId, budget.licensedUsers) : directoryPacerFor(tenantId),
          userAgent,
          signal,
          maxAttempts: crawlSettings.graphMaxAttempts,
          backoffMs: crawlSettings.graphBackoffMs,
          requestTimeoutMs: crawlSettings.graphTimeoutMs,
        }),
      forgetTenant: (tenantId) => credentials.forget(tenantId),
      enqueueTenant: options.enqueueTenant ?? sendTenant,
      enqueueBatch: options.enqueueBatch ?? sendBatch,
      logger: options.logger ?? logger,
      now,
      settings: crawlSettings,
    }),
    now,
    storage,
    registry,
    consentStates,
    invitations,
    secrets,
    credentials,
    sharedPacerState,
    userAgent,
    pacerFor,
    graphFor,
    consentDeps: () => {
      const redirectUri = config.consentRedirectUri;
      const homeTenantId = config.homeTenantId;
      if (!redirectUri || !homeTenantId)
        throw new Error('CONSENT_REDIRECT_URI and HOME_TENANT_ID must be set');
      signIn ??= new AdminSignIn({
        clientId: config.appClientId,
        authorityHost: config.authorityHost,
        authorityIsPublicCloud: config.authorityIsPublicCloud,
        redirectUri,
        clientSecret: async () => (await secrets.get()).value.reveal(),
      });
      return {
        invitations,
        onboarding: config.onboarding,
        homeTenantId,
        signIn,
        appClientId: config.appClientId,
        authorityHost: config.authorityHost,
        graphEndpoint: config.graphEndpoint,
        redirectUri,
        crawlSchedule: config.crawlSchedule,
        isvName: config.isvName,
        states: consentStates,
        registry,
        logger,
        now,
        tenantOfDomain: async (domain: string) => {
          const token = await credentials.getToken(
            domain,
            `${new URL(config.graphEndpoint).origin}/.default`,
          );
          return tokenClaims(token.token).tid;
        },
        // A few verifications at a time per instance (`verifications`): each takes tokens with the ISV's credential.
        verify: (tenant: string): Promise<Verification> =>
          verifications(() =>
            verifyConsent(tenant, {
              credentials,
              graphEndpoint: config.graphEndpoint,
              // Bounded: the callback answers a browser, and throttled calls otherwise wait without limit.
              graphFor: (tenantId) =>
                graphFor(tenantId, { maxAttempts: 3, signal: AbortSignal.timeout(30_000) }),
              retryWindowMs: overrides.consentRetryWindowMs,
              propagationWindowMs: overrides.consentPropagationWindowMs,
            }),
          ),
      };
    },
  };
}
