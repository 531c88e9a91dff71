import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ensureTestTls } from '../tls/test-ca';
import { CloudState } from './cloud-state';
import { controlRoutes, handleControl } from './control-routes';
import { handleEntra } from './entra-routes';
import { handleGraph } from './graph-routes';
import { sendJson, splitTarget } from './http-kit';
import { handleKeyVault } from './key-vault-routes';
import { MANAGED_IDENTITY_PATH, handleManagedIdentity } from './managed-identity';
import { SeededTenant } from './seeded-tenant';
import { SimError } from './sim-error';
import { CERTIFICATE_CONTENT_TYPES } from './vault-store';
import type {
  AppCertificateSpec,
  AppSecretSpec,
  AppSpec,
  DriveAnomaly,
  Faults,
  FederatedCredentialSpec,
  GraphAppRole,
  ManagedIdentityEnv,
  ManagedIdentityInfo,
  ManagedIdentitySpec,
  RequestLogEntry,
  RequestLogFilter,
  RevocationCode,
  SimControl,
  SimDriveItem,
  SimDriveTree,
  SimEnvironment,
  SimNewDriveItem,
  SimUser,
  TenantInfo,
  TenantSpec,
  ThrottleStats,
  VaultSecretOptions,
} from './types';

/** Options of `startSimulatedCloud`; every one has a default. */
export interface SimulatedCloudOptions {
  /** Simulated seconds per real second (budgets, windows, `Retry-After`, latency). Default 1. */
  timeScale?: number;
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Seed of the simulator's own randomness (fault draws, operator IDs). Default 1. */
  seed?: number;
  /** Request log entries kept (a ring buffer). Default 250,000. */
  logCapacity?: number;
  /** An app registration to create at start (its client ID is then `seedAppClientId`). */
  seedApp?: AppSpec;
}

/**
 * The simulated Microsoft cloud on one loopback HTTPS server: Entra ID (`/{tenant}/...`), Microsoft Graph
 * (`/v1.0/...`), Key Vault (`/secrets/...`), App Service's managed-identity endpoint (`/msi/token`) and the control
 * API (`/_sim/...`). Implements `SimControl` in-process;
 * the `*Sync` accessors give the benchmark cheap reads without a promise per call.
 */
export class SimulatedCloud implements SimControl {
  /** `https://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string;
  /** Client ID of `options.seedApp`, when one was given. */
  seedAppClientId: string | undefined;

  private constructor(
    private readonly server: Server,
    private readonly state: CloudState,
  ) {
    this.url = state.url;
  }

  /** Starts the server (see `startSimulatedCloud`). */
  static async start(options: SimulatedCloudOptions = {}): Promise<SimulatedCloud> {
    const timeScale = options.timeScale ?? 1;
    if (!(Number.isFinite(timeScale) && timeScale > 0))
      throw new Error('timeScale must be a positive number');
    const tls = ensureTestTls();
    // Idle connections are closed by the clients (undici after 4 s, Node's agent when idle), never first by the
    // server: a server that closes an idle socket just as a client reuses it fails that request ("other side
    // closed"), which real Graph and Entra ID front ends avoid with long idle timeouts too.
    const server = createServer({ cert: tls.certPem, key: tls.keyPem, keepAliveTimeout: 65_000 });
    server.headersTimeout = 66_000;
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const state = new CloudState({
      url: `https://${host}:${port}`,
      timeScale,
      seed: options.seed ?? 1,
      logCapacity: options.logCapacity,
    });
    state.connections.attach(server);
    const cloud = new SimulatedCloud(server, state);
    const routes = controlRoutes(cloud);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      state.connections.noteRequest(req.socket);
      dispatch(state, routes, req, res).catch((error: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const status = error instanceof SimError ? error.status : 500;
        sendJson(res, status, {
          error: { code: 'SimulatorError', message: error instanceof Error ? error.message : String(error) },
        });
      });
    });
    if (options.seedApp) cloud.seedAppClientId = state.apps.create(options.seedApp).clientId;
    return cloud;
  }

  /** Stops listening and drops every open connection. */
  async close(): Promise<void> {
    this.state.loopLag.stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  env(): Promise<SimEnvironment> {
    return Promise.resolve(this.envSync());
  }

  /** The environment that points the product at this simulator. */
  envSync(): SimEnvironment {
    return {
      AUTHORITY_HOST: this.url,
      AZURE_AUTHORITY_HOST: this.url,
      GRAPH_ENDPOINT: this.url,
      KEY_VAULT_URL: this.url,
      KEY_VAULT_ANY_HOST: 'true',
      AZURE_TENANT_ID: this.state.operator.tenantId,
      AZURE_CLIENT_ID: this.state.operator.clientId,
      AZURE_CLIENT_SECRET: this.state.operator.secret,
      AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential',
    };
  }

  createApp(spec: AppSpec): Promise<{ clientId: string }> {
    return run(() => ({ clientId: this.state.apps.create(spec).clientId }));
  }

  addAppSecret(clientId: string, secret: AppSecretSpec): Promise<void> {
    return run(() => this.state.apps.addSecret(clientId, secret));
  }

  removeAppSecret(clientId: string, value: string): Promise<void> {
    return run(() => this.state.apps.removeSecret(clientId, value));
  }

  addAppCertificate(clientId: string, certificate: AppCertificateSpec): Promise<void> {
    return run(() => this.state.apps.addCertificate(clientId, certificate));
  }

  removeAppCertificate(clientId: string, thumbprintSha256Hex: string): Promise<void> {
    return run(() => this.state.apps.removeCertificate(clientId, thumbprintSha256Hex));
  }

  revokeAppCertificate(clientId: string, thumbprintSha256Hex: string): Promise<void> {
    return run(() => this.state.apps.revokeCertificate(clientId, thumbprintSha256Hex));
  }

  addFederatedCredential(clientId: string, credential: FederatedCredentialSpec): Promise<void> {
    return run(() => this.state.apps.addFederatedCredential(clientId, credential));
  }

  removeFederatedCredential(clientId: string, name: string): Promise<void> {
    return run(() => this.state.apps.removeFederatedCredential(clientId, name));
  }

  /** The identity lives in the operator's tenant, as a user-assigned identity of the operator's subscription. */
  createManagedIdentity(spec: ManagedIdentitySpec = {}): Promise<ManagedIdentityInfo> {
    return run(() => this.state.managedIdentities.create(spec, this.state.operator.tenantId));
  }

  setManagedIdentityEndpoint(state: 'up' | 'down', clientId?: string): Promise<void> {
    return run(() => this.state.managedIdentities.setEndpoint(state, clientId));
  }

  /** `IDENTITY_ENDPOINT` (this server's `/msi/token`) and `IDENTITY_HEADER`, as App Service sets them. */
  managedIdentityEnv(): Promise<ManagedIdentityEnv> {
    const IDENTITY_HEADER = this.state.managedIdentities.identityHeader;
    return Promise.resolve({ IDENTITY_ENDPOINT: `${this.url}${MANAGED_IDENTITY_PATH}`, IDENTITY_HEADER });
  }

  /** A certificate content type stores the version as a certificate's backing secret (`managed`, `kid`). */
  setVaultSecret(
    name: string,
    value: string,
    options: VaultSecretOptions = {},
  ): Promise<{ version: string }> {
    return run(() => {
      const managed =
        options.contentType !== undefined && CERTIFICATE_CONTENT_TYPES.includes(options.contentType);
      return {
        version: this.state.vault.set(name, value, { ...options, managed }, this.state.wall()).version,
      };
    });
  }

  /** Deletes every version; deleting a missing secret is not an error. */
  deleteVaultSecret(name: string): Promise<void> {
    return run(() => {
      if (this.state.vault.get(name)) this.state.vault.delete(name);
    });
  }

  createTenant(spec: TenantSpec): Promise<TenantInfo> {
    return run(() => this.createTenantSync(spec));
  }

  /** `createTenant` without the promise. */
  createTenantSync(spec: TenantSpec): TenantInfo {
    const tenant = new SeededTenant(spec, this.state.timeScale);
    for (const consented of spec.consentedApps ?? []) this.state.apps.require(consented.clientId);
    this.state.addTenant(tenant);
    for (const consented of spec.consentedApps ?? []) {
      const app = this.state.apps.require(consented.clientId);
      this.state.apps.grant(tenant.tenantId, app.clientId, consented.roles ?? app.requiredRoles, 0, 700016);
    }
    return tenant.info();
  }

  /** Grants consent; `replicationLagMs` is real milliseconds (not scaled) during which tokens answer `lagCode`. */
  consent(
    tenantId: string,
    clientId: string,
    options: {
      roles?: GraphAppRole[];
      replicationLagMs?: number;
      lagCode?: 700016 | 65001;
      rolesLagMs?: number;
    } = {},
  ): Promise<void> {
    return run(() => {
      const tenant = this.state.requireTenant(tenantId);
      const app = this.state.apps.require(clientId);
      const lagUntil = options.replicationLagMs ? this.state.wall() + options.replicationLagMs : 0;
      this.state.apps.grant(
        tenant.tenantId,
        app.clientId,
        options.roles ?? app.requiredRoles,
        lagUntil,
        options.lagCode ?? 700016,
        this.state.wall() + (options.rolesLagMs ?? tenant.rolesLagMs),
      );
    });
  }

  revoke(tenantId: string, clientId: string, code: RevocationCode = 7000229): Promise<void> {
    return run(() => this.state.apps.revoke(this.state.requireTenant(tenantId).tenantId, clientId, code));
  }

  listUsers(tenantId: string): Promise<SimUser[]> {
    return run(() => this.state.requireTenant(tenantId).listUsers());
  }

  drives(tenantId: string): Promise<Record<string, SimDriveItem[]>> {
    return run(() => this.state.requireTenant(tenantId).drives());
  }

  addItem(tenantId: string, userId: string, item: SimNewDriveItem): Promise<SimDriveItem> {
    return run(() => this.state.requireTenant(tenantId).addItem(userId, item, this.state.wall()));
  }

  renameItem(tenantId: string, userId: string, itemId: string, name: string): Promise<void> {
    return run(() => this.state.requireTenant(tenantId).renameItem(userId, itemId, name, this.state.wall()));
  }

  moveItem(tenantId: string, userId: string, itemId: string, newParentId: string): Promise<void> {
    const now = this.state.wall();
    return run(() => this.state.requireTenant(tenantId).moveItem(userId, itemId, newParentId, now));
  }

  deleteItem(tenantId: string, userId: string, itemId: string): Promise<void> {
    return run(() => this.state.requireTenant(tenantId).deleteItem(userId, itemId));
  }

  replaceDrive(tenantId: string, userId: string): Promise<{ driveId: string; rootId: string }> {
    return run(() => this.state.requireTenant(tenantId).replaceDrive(userId));
  }

  expireDeltaTokens(tenantId: string, userId?: string): Promise<void> {
    return run(() => this.state.requireTenant(tenantId).expireDeltaTokens(userId));
  }

  driveTree(tenantId: string, userId: string): Promise<SimDriveTree> {
    return run(() => this.state.requireTenant(tenantId).driveTree(userId));
  }

  setLicensed(tenantId: string, userId: string, licensed: boolean): Promise<void> {
    return run(() => this.state.requireTenant(tenantId).setLicensed(userId, licensed));
  }

  deleteUser(tenantId: string, userId: string): Promise<void> {
    return run(() => this.state.requireTenant(tenantId).deleteUser(userId));
  }

  /** The drive keeps its items whatever the answer; 'items' makes it answer normally again. */
  setDriveAnomaly(tenantId: string, userId: string, answer: DriveAnomaly | 'items'): Promise<void> {
    return run(() => this.state.requireTenant(tenantId).setDriveAnomaly(userId, answer));
  }

  /**
   * Replaces the given fields (absent ones keep their values). A new window length or time scale restarts the
   * tenant's budget windows; a new budget does not: what was spent in the window still counts against it (a budget
   * halved mid-window may already be spent).
   */
  setThrottle(
    tenantId: string,
    throttle: Pick<TenantSpec, 'budgetPerWindow' | 'windowSeconds' | 'timeScale' | 'latencyMs'>,
  ): Promise<void> {
    return run(() => {
      const tenant = this.state.requireTenant(tenantId);
      tenant.setThrottle(throttle);
      if (throttle.windowSeconds !== undefined || throttle.timeScale !== undefined) {
        this.state.ledger.resetTenant(tenant.tenantId);
      }
    });
  }

  /** Faults of a tenant apply over those of `'*'`, field by field. */
  setFaults(tenantId: string, faults: Faults): Promise<void> {
    return run(() => this.state.setFaults(tenantId, faults));
  }

  requestLog(filter?: RequestLogFilter): Promise<RequestLogEntry[]> {
    return run(() => this.requestLogSync(filter));
  }

  /** `requestLog` without the promise. */
  requestLogSync(filter?: RequestLogFilter): RequestLogEntry[] {
    return this.state.log.query(filter);
  }

  throttleStats(tenantId: string, clientId: string): Promise<ThrottleStats> {
    return run(() => this.throttleStatsSync(tenantId, clientId));
  }

  /** Exact counters of one app in one tenant, in O(1), however much of the log was dropped. */
  throttleStatsSync(tenantId: string, clientId: string): ThrottleStats {
    return this.state.throttleStats(tenantId, clientId);
  }

  /** A tenant's current counts (users, licenses, items). */
  tenantInfoSync(tenantId: string): TenantInfo {
    return this.state.requireTenant(tenantId).info();
  }
}

/** Runs a synchronous operation as a promise, so a thrown `SimError` becomes a rejection. */
function run<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

async function dispatch(
  state: CloudState,
  routes: ReturnType<typeof controlRoutes>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { path } = splitTarget(req.url ?? '/');
  if (path === '/_sim' || path.startsWith('/_sim/')) return handleControl(routes, req, res);
  if (path === '/v1.0' || path.startsWith('/v1.0/')) return handleGraph(state, req, res);
  if (path === '/secrets' || path.startsWith('/secrets/')) return handleKeyVault(state, req, res);
  if (path === MANAGED_IDENTITY_PATH) return handleManagedIdentity(state, req, res);
  if (await handleEntra(state, req, res)) return;
  sendJson(res, 404, { error: { code: 'NotFound', message: `The simulator has no endpoint at ${path}` } });
}

/**
 * Starts the simulated Microsoft cloud on 127.0.0.1 (port 0 by default) with the test CA's certificate. Clients
 * must trust that CA: start them with `NODE_EXTRA_CA_CERTS` set (`tsx dev/with-test-tls.ts <command>`).
 */
export function startSimulatedCloud(options: SimulatedCloudOptions = {}): Promise<SimulatedCloud> {
  return SimulatedCloud.start(options);
}
