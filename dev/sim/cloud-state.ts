import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { TokenSigner } from './access-token';
import { IdTokenKeys } from './id-token-keys';
import type { AuthorizationCode } from './sign-in-routes';
import { AppRegistry } from './app-registry';
import { ConnectionTracker } from './connection-tracker';
import { LoopLag } from './loop-lag';
import { ManagedIdentities } from './managed-identity';
import { RequestLog } from './request-log';
import type { Random } from './seeded-random';
import { createRandom, derivedGuid } from './seeded-random';
import { SeededTenant } from './seeded-tenant';
import { SimError } from './sim-error';
import { ThrottleLedger } from './throttle-ledger';
import type { Faults, GraphFaults, ThrottleStats } from './types';
import { VaultStore } from './vault-store';

/** The operator's own tenant and service principal (used for Key Vault). */
export interface OperatorIdentity {
  tenantId: string;
  domain: string;
  clientId: string;
  secret: string;
}

/** How `startSimulatedCloud` configures the state: its own URL, default time scale, seed and log size. */
export interface CloudStateOptions {
  url: string;
  timeScale: number;
  seed: number;
  logCapacity?: number;
}

/** The audience Graph tokens get when asked for with the public Graph scope. */
export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';
/** Graph's application ID, also accepted as an audience. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** Key Vault's resource, as its challenge names it. */
export const VAULT_RESOURCE = 'https://vault.azure.net';

function assertProbability(value: number | undefined, field: string): void {
  if (value !== undefined && !(value >= 0 && value <= 1)) {
    throw new SimError(400, `${field} must be a probability between 0 and 1`);
  }
}

function assertFaults(faults: Faults): void {
  const graph: GraphFaults = faults.graph ?? {};
  for (const field of ['status429', 'status503', 'status500', 'reset', 'slow'] as const) {
    assertProbability(graph[field], `graph.${field}`);
  }
  assertProbability(faults.token5xx, 'token5xx');
  assertProbability(faults.vault5xx, 'vault5xx');
  if (graph.slowMs !== undefined && !(graph.slowMs >= 0))
    throw new SimError(400, 'graph.slowMs must be >= 0');
  if (graph.retryAfterSeconds !== undefined && !(graph.retryAfterSeconds > 0)) {
    throw new SimError(400, 'graph.retryAfterSeconds must be > 0');
  }
}

/**
 * Everything the simulated cloud knows, shared by its route handlers: tenants, apps, the vault, faults, the
 * throttle ledger and the request log. Two clocks: `clock()` (monotonic, sub-millisecond) for throttle windows and
 * holds, `wall()` for token lifetimes, secret expiry and the log.
 */
export class CloudState {
  readonly url: string;
  readonly timeScale: number;
  readonly signer = new TokenSigner();
  /** RS256 keys for ID tokens, one per tenant. */
  readonly idTokenKeys = new IdTokenKeys();
  /** Authorization codes issued by the sign-in page, until redeemed or expired. */
  readonly authorizationCodes = new Map<string, AuthorizationCode>();
  readonly log: RequestLog;
  readonly ledger = new ThrottleLedger();
  readonly apps = new AppRegistry();
  readonly vault = new VaultStore();
  /** User-assigned managed identities of the operator's tenant and the endpoint that issues their tokens. */
  readonly managedIdentities = new ManagedIdentities();
  readonly operator: OperatorIdentity;
  readonly random: Random;
  readonly connections = new ConnectionTracker(() => this.clock());
  /** When this thread was too busy to read requests (the violation judge discounts those stalls). */
  readonly loopLag = new LoopLag(() => this.clock());

  private readonly tenantsById = new Map<string, SeededTenant>();
  private readonly tenantsByDomain = new Map<string, SeededTenant>();
  private readonly faults = new Map<string, Faults>();

  constructor(options: CloudStateOptions) {
    this.url = options.url;
    this.timeScale = options.timeScale;
    this.log = new RequestLog(options.logCapacity);
    this.random = createRandom(options.seed);
    const operatorTenant = new SeededTenant(
      {
        seed: 0,
        tenantId: derivedGuid('operator-tenant', options.seed),
        domain: 'operator.onmicrosoft.test',
        users: 0,
      },
      options.timeScale,
    );
    this.addTenant(operatorTenant);
    const app = this.apps.create({
      displayName: 'Drive Crawler operator',
      secrets: [{ value: `sim~${randomBytes(24).toString('base64url')}` }],
      requiredRoles: [],
    });
    this.apps.grant(operatorTenant.tenantId, app.clientId, [], 0, 700016);
    this.operator = {
      tenantId: operatorTenant.tenantId,
      domain: operatorTenant.domain,
      clientId: app.clientId,
      secret: app.secrets[0]?.value ?? '',
    };
  }

  /** Monotonic real time in ms, for throttle windows and `Retry-After` holds. */
  clock(): number {
    return performance.now();
  }

  /** Wall-clock ms since epoch, for token lifetimes, expiry dates and the log. */
  wall(): number {
    return Date.now();
  }

  addTenant(tenant: SeededTenant): void {
    if (this.tenantsById.has(tenant.tenantId))
      throw new SimError(409, `Tenant ${tenant.tenantId} already exists`);
    if (this.tenantsByDomain.has(tenant.domain)) throw new SimError(409, `Domain ${tenant.domain} is taken`);
    this.tenantsById.set(tenant.tenantId, tenant);
    this.tenantsByDomain.set(tenant.domain, tenant);
  }

  /** The tenant with that ID or domain (case-insensitive), if any. */
  tenant(idOrDomain: string): SeededTenant | undefined {
    const key = idOrDomain.toLowerCase();
    return this.tenantsById.get(key) ?? this.tenantsByDomain.get(key);
  }

  requireTenant(idOrDomain: string): SeededTenant {
    const tenant = this.tenant(idOrDomain);
    if (!tenant) throw new SimError(404, `No tenant ${idOrDomain}`);
    return tenant;
  }

  /** Customer tenants (not the operator's), oldest first. */
  customerTenants(): SeededTenant[] {
    return [...this.tenantsById.values()].filter((tenant) => tenant.tenantId !== this.operator.tenantId);
  }

  /** Replaces the faults of a tenant or of `'*'`; `{}` clears them. */
  setFaults(key: string, faults: Faults): void {
    assertFaults(faults);
    const normalized = key === '*' ? key : this.requireTenant(key).tenantId;
    const empty =
      faults.graph === undefined && faults.token5xx === undefined && faults.vault5xx === undefined;
    if (empty) this.faults.delete(normalized);
    else this.faults.set(normalized, { ...faults, graph: faults.graph && { ...faults.graph } });
  }

  /** The faults that apply to a tenant: its own fields over those of `'*'`. Without a tenant: `'*'` only. */
  faultsFor(tenantId: string | undefined): { graph: GraphFaults; token5xx?: number; vault5xx?: number } {
    const all = this.faults.get('*') ?? {};
    const own = (tenantId && this.faults.get(tenantId)) || {};
    return {
      graph: { ...all.graph, ...own.graph },
      token5xx: own.token5xx ?? all.token5xx,
      vault5xx: own.vault5xx ?? all.vault5xx,
    };
  }

  /** Exact counters of one app in one tenant, in O(1), however much of the log was dropped. */
  throttleStats(tenantId: string, clientId: string): ThrottleStats {
    const tenant = this.requireTenant(tenantId);
    const pair = this.ledger.peek(tenant.tenantId, clientId.toLowerCase());
    const budgetPerWindow = tenant.driveBudget();
    const { windowSeconds, timeScale } = tenant.throttle;
    return {
      unitsSpent: pair?.unitsSpent ?? 0,
      unitsOnThrottled: pair?.unitsOnThrottled ?? 0,
      otherWorkloadUnits: pair?.otherWorkloadUnits ?? 0,
      ...(pair?.seriesStartAt === undefined ? {} : { seriesStartAt: pair.seriesStartAt }),
      unitsBySecond: [...(pair?.unitsBySecond ?? [])],
      throttledUnitsBySecond: [...(pair?.throttledUnitsBySecond ?? [])],
      requests: pair?.requests ?? 0,
      throttled: pair?.throttled ?? 0,
      violations: pair?.violations ?? 0,
      ...(pair?.firstRequestAt === undefined ? {} : { firstRequestAt: pair.firstRequestAt }),
      ...(pair?.lastRequestAt === undefined ? {} : { lastRequestAt: pair.lastRequestAt }),
      budgetPerWindow,
      windowSeconds,
      timeScale,
      unitsPerRealSecond: budgetPerWindow / (windowSeconds / timeScale),
    };
  }

  /** True with the given probability (the simulator's own seeded stream, so runs repeat). */
  draw(probability: number | undefined): boolean {
    return probability !== undefined && probability > 0 && this.random() < probability;
  }
}
