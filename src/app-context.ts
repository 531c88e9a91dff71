import pLimit from 'p-limit';
import type { TokenCredential } from '@azure/identity';
import type { Meter } from '@opentelemetry/api';
import type { AppConfig } from './config';
import { consentSettings, isKeyVaultHost } from './config';
import { AdminSignIn } from './consent/admin-sign-in';
import { ConsentStateStore } from './consent/consent-state-store';
import { InvitationStore } from './consent/invitation-store';
import type { ConsentFlowDeps } from './consent/consent-flow';
import type { Verification } from './consent/verify-consent';
import { verifyConsent } from './consent/verify-consent';
import type { RequestPacer } from './graph/graph-types';
import type { SharedPacerState } from './graph/shared-pacer-state';
import { TablePacerState } from './storage/table-pacer-state';
import type { TenantGraphOptions } from './graph/tenant-graph';
import { TenantGraph, graphUserAgent } from './graph/tenant-graph';
import { TenantPacers } from './graph/tenant-pacers';
import type { AppCredential } from './identity/app-credential';
import { createAppCredential } from './identity/app-credential';
import { createHostIdentity, createStorageCredential } from './identity/host-identity';
import { TenantCredentials } from './identity/tenant-credentials';
import type { Logger } from './logging/logger';
import { consoleSink, createLogger } from './logging/logger';
import { VaultSecretReader } from './secrets/vault-secret';
import { StorageClients, TABLES } from './storage/storage-clients';
import { DriveCursorStore } from './crawl/drive-cursors';
import { TenantRegistry } from './tenants/tenant-registry';
import { VERSION } from './version';
import type { CrawlDeps, CrawlSettings, GraphBudget } from './crawl/crawl-deps';
import { DEFAULT_CRAWL_SETTINGS } from './crawl/crawl-deps';
import { CrawlRunStore } from './crawl/crawl-runs';
import { CrawlSkipStore } from './crawl/crawl-skips';
import { DriveItemStore } from './crawl/drive-item-store';
import type { TenantCrawlMessage, UserBatchMessage } from './crawl/messages';
import { encodeMessage } from './crawl/messages';
import { RunPlans } from './crawl/run-plans';
import { RunProgress } from './crawl/run-progress';
import { queueSender } from './storage/queue-sender';
import { QUEUES } from './storage/storage-clients';
import { CrawlMetrics } from './telemetry/crawl-metrics';
import type { Telemetry } from './telemetry/telemetry-setup';
import { startTelemetry } from './telemetry/telemetry-setup';

/** Everything the capabilities need, built once per process (the composition root). */
export interface AppContext {
  config: AppConfig;
  logger: Logger;
  now: () => Date;
  /** The product's metrics (docs/telemetry.md); no-ops unless `APPLICATIONINSIGHTS_CONNECTION_STRING` is set. */
  metrics: CrawlMetrics;
  /** Where the metrics go; `shutdown()` flushes the last of them before the process ends. */
  telemetry: Telemetry;
  storage: StorageClients;
  registry: TenantRegistry;
  consentStates: ConsentStateStore;
  invitations: InvitationStore;
  /** The app registration's credential, of the kind `APP_CREDENTIAL` names. */
  appCredential: AppCredential;
  credentials: TenantCredentials;
  sharedPacerState: SharedPacerState;
  userAgent: string;
  /** The tenant's one pacer in this process (shared hold and budget with other instances through storage). */
  pacerFor(tenantId: string, licensedUsers?: number): RequestPacer;
  /** Graph access for one tenant: its drive budget unless `budget` says the directory. */
  graphFor(tenantId: string, options?: GraphOptions): TenantGraph;
  /** The consent capability's dependencies; throws `ConfigError` without the consent settings. */
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

/** What a caller may set on one tenant's Graph access. */
export type GraphOptions = Partial<Omit<TenantGraphOptions, 'tenantId' | 'pacer' | 'credential'>> & {
  budget?: GraphBudget;
};

/** Replaceable parts and tuning values, for tests and local tools: one object, every field optional. */
export interface AppContextOverrides {
  logger?: Logger;
  now?: () => Date;
  /** The host's own identity (Key Vault, identity-based storage). */
  hostIdentity?: TokenCredential;
  /** How long consent verification retries replication-lag errors. */
  consentRetryWindowMs?: number;
  /** How long the consent callback keeps proving missing permissions with fresh tokens (default 60 s). */
  consentPropagationWindowMs?: number;
  /** Replaces the per-tenant pacer factory. */
  pacerFor?: (tenantId: string, licensedUsers?: number) => RequestPacer;
  /** Key Vault at a host that is not a Key Vault domain (the simulator). */
  disableChallengeResourceVerification?: boolean;
  /** Reuse a secret or certificate read from the vault for this long before asking again. */
  vaultCacheMs?: number;
  /** This process's name among the instances that share a tenant's budget. */
  instanceId?: string;
  crawlSettings?: Partial<CrawlSettings>;
  /**
   * Records metrics through this meter instead of the environment's telemetry (tests: an SDK meter provider with
   * an in-memory exporter, so the Azure Monitor exporter is never started).
   */
  meter?: Meter;
}

/** Builds the app's dependencies from its configuration. Makes no network call. */
export function createAppContext(config: AppConfig, overrides: AppContextOverrides = {}): AppContext {
  const logger = overrides.logger ?? createLogger(consoleSink());
  const now = overrides.now ?? (() => new Date());
  const hostIdentity = overrides.hostIdentity ?? createHostIdentity(config);
  // The Application Insights settings are the platform's, read by the Functions host as well (docs/telemetry.md).
  const telemetry: Telemetry = overrides.meter
    ? { exporting: false, meter: overrides.meter, shutdown: () => Promise.resolve() }
    : startTelemetry(config.telemetry);
  const metrics = new CrawlMetrics(telemetry.meter);
  const storage = new StorageClients(config.storage, createStorageCredential(config, hostIdentity));
  const settings = config.appCredential;
  const appCredential = createAppCredential(
    settings,
    {
      clientId: config.appClientId,
      authorityHost: config.authorityHost,
      disableInstanceDiscovery: !config.authorityIsPublicCloud,
    },
    (secretName, describedAs) => {
      const vault = settings.kind === 'managed-identity' ? undefined : settings.vault;
      if (!vault) throw new Error(`APP_CREDENTIAL=${settings.kind} reads no vault`);
      return new VaultSecretReader({
        vaultUrl: vault.url,
        secretName,
        describedAs,
        credential: hostIdentity,
        cacheMs: overrides.vaultCacheMs,
        disableChallengeResourceVerification:
          overrides.disableChallengeResourceVerification ?? (vault.anyHost && !isKeyVaultHost(vault.url)),
      });
    },
  );
  const credentials = new TenantCredentials(appCredential);
  const sharedPacerState = new TablePacerState(storage.table(TABLES.pacerState));
  const userAgent = graphUserAgent(config.isvName, VERSION);
  const pacers = new TenantPacers({
    shared: sharedPacerState,
    instanceId: overrides.instanceId ?? `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    drives: overrides.pacerFor,
  });

  const registry = new TenantRegistry(storage.table(TABLES.tenants));
  /** Consent verifications at once in this instance (anonymous callers reach them; each takes tokens). */
  const verifications = pLimit(8);
  const consentStates = new ConsentStateStore(storage.table(TABLES.consentStates), () => now().getTime());
  const invitations = new InvitationStore(storage.table(TABLES.invitations), () => now().getTime());
  let signIn: AdminSignIn | undefined;

  /** Graph access for one tenant, through its drive pacer unless `budget` names the directory. */
  const graphFor = (tenantId: string, options: GraphOptions = {}): TenantGraph => {
    const { budget, ...rest } = options;
    return new TenantGraph({
      tenantId,
      graphEndpoint: config.graphEndpoint,
      credential: credentials.forTenant(tenantId),
      pacer:
        budget?.kind === 'directory'
          ? pacers.directory(tenantId)
          : pacers.drives(tenantId, budget?.licensedUsers),
      userAgent,
      ...rest,
    });
  };

  const runs = new CrawlRunStore(storage.table(TABLES.crawlRuns));
  const progress = new RunProgress(storage.table(TABLES.runProgress));
  const plans = new RunPlans(storage.table(TABLES.runProgress));
  const items = new DriveItemStore(storage.table(TABLES.driveItems), storage.table(TABLES.userIndex));
  const skips = new CrawlSkipStore(storage.table(TABLES.crawlSkips));
  const cursors = new DriveCursorStore(storage.table(TABLES.driveCursors));
  const crawlSettings = {
    ...DEFAULT_CRAWL_SETTINGS,
    crawlScope: config.crawlScope,
    ...overrides.crawlSettings,
  };
  const sendTenant = queueSender(storage.queue(QUEUES.tenantCrawl));
  const sendBatch = queueSender(storage.queue(QUEUES.userBatch));

  return {
    config,
    logger,
    metrics,
    telemetry,
    runs,
    progress,
    items,
    skips,
    crawlSettings,
    crawlDeps: (options = {}) => ({
      registry,
      runs,
      progress,
      plans,
      items,
      cursors,
      skips,
      appCredential,
      graphFor: (tenantId, budget, signal) =>
        graphFor(tenantId, {
          budget,
          signal,
          maxAttempts: crawlSettings.graphMaxAttempts,
          backoffMs: crawlSettings.graphBackoffMs,
          requestTimeoutMs: crawlSettings.graphTimeoutMs,
        }),
      forgetTenant: (tenantId) => credentials.forget(tenantId),
      enqueueTenant: options.enqueueTenant ?? ((message) => sendTenant(encodeMessage(message))),
      enqueueBatch: options.enqueueBatch ?? ((message) => sendBatch(encodeMessage(message))),
      logger: options.logger ?? logger,
      metrics,
      now,
      settings: crawlSettings,
    }),
    now,
    storage,
    registry,
    consentStates,
    invitations,
    appCredential,
    credentials,
    sharedPacerState,
    userAgent,
    pacerFor: (tenantId, licensedUsers) => pacers.drives(tenantId, licensedUsers),
    graphFor,
    consentDeps: () => {
      const { redirectUri, homeTenantId } = consentSettings(config);
      signIn ??= new AdminSignIn({
        clientId: config.appClientId,
        authorityHost: config.authorityHost,
        authorityIsPublicCloud: config.authorityIsPublicCloud,
        redirectUri,
        clientAuth: async () => (await appCredential.current()).msalAuth(),
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
        metrics,
        now,
        tenantOfDomain: (domain: string) =>
          credentials.tenantIdOf(domain, `${new URL(config.graphEndpoint).origin}/.default`),
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
