import { SimError } from './sim-error';
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

/**
 * Drives a simulated cloud in another process (jest workers, the demo) through its control API: each operation is
 * one JSON call to `/_sim/...` on the simulator's own HTTPS server, so the caller must trust the test CA
 * (`NODE_EXTRA_CA_CERTS`, which Node's `fetch` honours). A refusal is thrown as the simulator's `SimError`.
 */
export class SimClient implements SimControl {
  private readonly base: string;

  constructor(url: string) {
    this.base = `${url.replace(/\/+$/, '')}/_sim`;
  }

  env(): Promise<SimEnvironment> {
    return this.get('/env');
  }

  createApp(spec: AppSpec): Promise<{ clientId: string }> {
    return this.post('/apps', spec);
  }

  addAppSecret(clientId: string, secret: AppSecretSpec): Promise<void> {
    return this.post(`/apps/${enc(clientId)}/secrets`, secret);
  }

  removeAppSecret(clientId: string, value: string): Promise<void> {
    return this.post(`/apps/${enc(clientId)}/secrets/remove`, { value });
  }

  addAppCertificate(clientId: string, certificate: AppCertificateSpec): Promise<void> {
    return this.post(`/apps/${enc(clientId)}/certificates`, certificate);
  }

  removeAppCertificate(clientId: string, thumbprintSha256Hex: string): Promise<void> {
    return this.post(`/apps/${enc(clientId)}/certificates/${enc(thumbprintSha256Hex)}/remove`, {});
  }

  revokeAppCertificate(clientId: string, thumbprintSha256Hex: string): Promise<void> {
    return this.post(`/apps/${enc(clientId)}/certificates/${enc(thumbprintSha256Hex)}/revoke`, {});
  }

  addFederatedCredential(clientId: string, credential: FederatedCredentialSpec): Promise<void> {
    return this.post(`/apps/${enc(clientId)}/federated-credentials`, credential);
  }

  removeFederatedCredential(clientId: string, name: string): Promise<void> {
    return this.post(`/apps/${enc(clientId)}/federated-credentials/${enc(name)}/remove`, {});
  }

  createManagedIdentity(spec: ManagedIdentitySpec = {}): Promise<ManagedIdentityInfo> {
    return this.post('/managed-identities', spec);
  }

  setManagedIdentityEndpoint(state: 'up' | 'down', clientId?: string): Promise<void> {
    return this.post('/managed-identities/endpoint', { state, clientId });
  }

  managedIdentityEnv(): Promise<ManagedIdentityEnv> {
    return this.get('/managed-identities/env');
  }

  setVaultSecret(
    name: string,
    value: string,
    options: VaultSecretOptions = {},
  ): Promise<{ version: string }> {
    return this.post(`/vault/secrets/${enc(name)}`, { value, ...options });
  }

  deleteVaultSecret(name: string): Promise<void> {
    return this.post(`/vault/secrets/${enc(name)}/delete`, {});
  }

  createTenant(spec: TenantSpec): Promise<TenantInfo> {
    return this.post('/tenants', spec);
  }

  consent(
    tenantId: string,
    clientId: string,
    options?: {
      roles?: GraphAppRole[];
      replicationLagMs?: number;
      lagCode?: 700016 | 65001;
      rolesLagMs?: number;
    },
  ): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/consent`, { clientId, options });
  }

  revoke(tenantId: string, clientId: string, code?: RevocationCode): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/revoke`, { clientId, code });
  }

  listUsers(tenantId: string): Promise<SimUser[]> {
    return this.get(`/tenants/${enc(tenantId)}/users`);
  }

  drives(tenantId: string): Promise<Record<string, SimDriveItem[]>> {
    return this.get(`/tenants/${enc(tenantId)}/drives`);
  }

  addItem(tenantId: string, userId: string, item: SimNewDriveItem): Promise<SimDriveItem> {
    return this.post(`/tenants/${enc(tenantId)}/users/${enc(userId)}/items`, item);
  }

  moveItem(tenantId: string, userId: string, itemId: string, newParentId: string): Promise<void> {
    const path = `/tenants/${enc(tenantId)}/users/${enc(userId)}/items/${enc(itemId)}/move`;
    return this.post(path, { parentId: newParentId });
  }

  replaceDrive(tenantId: string, userId: string): Promise<{ driveId: string; rootId: string }> {
    return this.post(`/tenants/${enc(tenantId)}/users/${enc(userId)}/drive/replace`, {});
  }

  expireDeltaTokens(tenantId: string, userId?: string): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/delta-tokens/expire`, userId === undefined ? {} : { userId });
  }

  driveTree(tenantId: string, userId: string): Promise<SimDriveTree> {
    return this.get(`/tenants/${enc(tenantId)}/users/${enc(userId)}/drive-tree`);
  }

  renameItem(tenantId: string, userId: string, itemId: string, name: string): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/users/${enc(userId)}/items/${enc(itemId)}/rename`, { name });
  }

  deleteItem(tenantId: string, userId: string, itemId: string): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/users/${enc(userId)}/items/${enc(itemId)}/delete`, {});
  }

  setLicensed(tenantId: string, userId: string, licensed: boolean): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/users/${enc(userId)}/license`, { licensed });
  }

  deleteUser(tenantId: string, userId: string): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/users/${enc(userId)}/delete`, {});
  }

  setDriveAnomaly(tenantId: string, userId: string, answer: DriveAnomaly | 'items'): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/users/${enc(userId)}/drive-anomaly`, { answer });
  }

  setThrottle(
    tenantId: string,
    throttle: Pick<TenantSpec, 'budgetPerWindow' | 'windowSeconds' | 'timeScale' | 'latencyMs'>,
  ): Promise<void> {
    return this.post(`/tenants/${enc(tenantId)}/throttle`, throttle);
  }

  setFaults(tenantId: string, faults: Faults): Promise<void> {
    return this.post(`/faults/${enc(tenantId)}`, faults);
  }

  requestLog(filter: RequestLogFilter = {}): Promise<RequestLogEntry[]> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filter)) {
      if (value !== undefined) query.set(name, String(value));
    }
    const text = query.toString();
    return this.get(`/log${text ? `?${text}` : ''}`);
  }

  throttleStats(tenantId: string, clientId: string): Promise<ThrottleStats> {
    return this.get(`/tenants/${enc(tenantId)}/throttle-stats?clientId=${enc(clientId)}`);
  }

  private get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path, undefined);
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body: unknown): Promise<T> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
    });
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // not JSON: keep the text
      }
      const status = response.status;
      throw status === 400 || status === 404 || status === 409
        ? new SimError(status, message)
        : new Error(`Simulator answered ${status} to ${method} ${path}: ${message}`);
    }
    return JSON.parse(text) as T;
  }
}

function enc(value: string): string {
  return encodeURIComponent(value);
}
