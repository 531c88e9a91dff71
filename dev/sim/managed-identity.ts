import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloudState } from './cloud-state';
import { header, sendJson, splitTarget } from './http-kit';
import { SimError } from './sim-error';
import type { ManagedIdentityInfo, ManagedIdentitySpec } from './types';
import { logEntra } from './entra-log';

/** Where the simulator serves the managed-identity endpoint (App Service's `IDENTITY_ENDPOINT`). */
export const MANAGED_IDENTITY_PATH = '/msi/token';
/** The only API version served: the one MSAL's App Service source sends (with `X-IDENTITY-HEADER`). */
const API_VERSION = '2019-08-01';
/** The audiences a managed identity asks for when its token is presented to Entra ID as a federated credential. */
export const TOKEN_EXCHANGE_AUDIENCES: readonly string[] = [
  'api://AzureADTokenExchange',
  'api://AzureADTokenExchangeUSGov',
  'api://AzureADTokenExchangeChina',
];
/** Managed-identity tokens live about a day, as Entra ID issues them to managed identities. */
export const MANAGED_IDENTITY_TOKEN_SECONDS = 24 * 3600;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The user-assigned managed identities of the operator's tenant, the secret App Service hands its apps in
 * `IDENTITY_HEADER`, and which identities' endpoint is down.
 */
export class ManagedIdentities {
  /** A random value per simulator, as App Service makes one per app instance. */
  readonly identityHeader = randomBytes(24).toString('base64url');
  private readonly byClientId = new Map<string, ManagedIdentityInfo>();
  private downForAll = false;
  private readonly downFor = new Set<string>();

  create(spec: ManagedIdentitySpec, tenantId: string): ManagedIdentityInfo {
    const clientId = (spec.clientId ?? randomUUID()).toLowerCase();
    const principalId = (spec.principalId ?? randomUUID()).toLowerCase();
    if (!GUID.test(clientId) || !GUID.test(principalId)) {
      throw new SimError(400, 'clientId and principalId must be GUIDs');
    }
    const taken = [...this.byClientId.values()].some(
      (identity) => identity.clientId === clientId || identity.principalId === principalId,
    );
    if (taken)
      throw new SimError(409, `A managed identity with client ID ${clientId} or that principal exists`);
    const identity = { clientId, principalId, tenantId };
    this.byClientId.set(clientId, identity);
    return { ...identity };
  }

  /** The identity an App Service request names, by client ID or by object (principal) ID. */
  find(query: URLSearchParams): ManagedIdentityInfo | undefined {
    const clientId = query.get('client_id')?.toLowerCase();
    if (clientId !== undefined) return this.byClientId.get(clientId);
    const principalId = (query.get('principal_id') ?? query.get('object_id'))?.toLowerCase();
    return [...this.byClientId.values()].find((identity) => identity.principalId === principalId);
  }

  /** `down` for one identity or (without one) for all; `up` without one also clears each identity's `down`. */
  setEndpoint(state: 'up' | 'down', clientId?: string): void {
    if (state !== 'up' && state !== 'down')
      throw new SimError(400, `state must be up or down, not ${String(state)}`);
    if (clientId === undefined) {
      this.downForAll = state === 'down';
      if (state === 'up') this.downFor.clear();
      return;
    }
    const key = clientId.toLowerCase();
    if (!this.byClientId.has(key)) throw new SimError(404, `No managed identity ${clientId}`);
    if (state === 'down') this.downFor.add(key);
    else this.downFor.delete(key);
  }

  isDown(clientId: string): boolean {
    return this.downForAll || this.downFor.has(clientId);
  }
}

/** App Service's error body: `statusCode`, `message`, `correlationId` (MSAL reads `message` and `correlationId`). */
function sendFailure(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { statusCode: status, message, correlationId: randomUUID() });
}

/**
 * `GET /msi/token?api-version=2019-08-01&resource=...&client_id=...` with `X-IDENTITY-HEADER`, as App Service and
 * Functions serve it to MSAL's App Service source. Checks in App Service's order: the header (400 missing, 401
 * wrong), the API version, the identity ("Unable to load the proper Managed Identity."), an outage (503, no token),
 * then the resource, which must be a token-exchange audience (with or without `/.default`). The token is an RS256
 * JWT of the operator tenant's key: `iss` `<sim url>/<tenant>/v2.0`, `sub` = `oid` = the principal ID, `aud` the
 * audience, `azp` = `appid` = the identity's client ID, 24 hours. Logged as service `msi`, never the token.
 */
export function handleManagedIdentity(state: CloudState, req: IncomingMessage, res: ServerResponse): void {
  const { query } = splitTarget(req.url ?? '/');
  const identities = state.managedIdentities;
  const identity = identities.find(query);
  const log = (status: number): void =>
    logEntra(state, req, 'msi', status, {
      tenantId: state.operator.tenantId,
      ...(identity ? { clientId: identity.clientId } : {}),
    });
  const fail = (status: number, message: string): void => {
    log(status);
    sendFailure(res, status, message);
  };

  const presented = header(req.headers, 'x-identity-header');
  if (req.method !== 'GET') return fail(405, `The managed identity endpoint does not support ${req.method}.`);
  if (presented === undefined) return fail(400, 'The X-IDENTITY-HEADER request header is required.');
  if (presented !== identities.identityHeader) return fail(401, 'The X-IDENTITY-HEADER value is not valid.');
  if (query.get('api-version') !== API_VERSION) {
    return fail(400, `The api-version '${query.get('api-version') ?? ''}' is not supported.`);
  }
  if (!identity) return fail(400, 'Unable to load the proper Managed Identity.');
  if (identities.isDown(identity.clientId)) {
    return fail(503, 'An unexpected error occured while fetching the AAD Token.');
  }
  const requested = query.get('resource') ?? '';
  const audience = requested.replace(/\/\.default$/, '');
  if (!TOKEN_EXCHANGE_AUDIENCES.includes(audience)) {
    return fail(
      400,
      `AADSTS500011: The resource principal named ${requested} was not found in the tenant named ` +
        `${state.operator.domain}. The simulator issues managed-identity tokens only for the token exchange ` +
        `audiences (${TOKEN_EXCHANGE_AUDIENCES.join(', ')}).`,
    );
  }

  const issuedAt = Math.floor(state.wall() / 1000);
  const expiresOn = issuedAt + MANAGED_IDENTITY_TOKEN_SECONDS;
  const tenantId = state.operator.tenantId;
  const token = state.idTokenKeys.sign(tenantId, {
    aud: audience,
    iss: `${state.url}/${tenantId}/v2.0`,
    iat: issuedAt,
    nbf: issuedAt,
    exp: expiresOn,
    sub: identity.principalId,
    oid: identity.principalId,
    tid: tenantId,
    azp: identity.clientId,
    appid: identity.clientId,
    idtyp: 'app',
    ver: '2.0',
    uti: randomBytes(16).toString('base64url'),
  });
  log(200);
  sendJson(res, 200, {
    access_token: token,
    expires_on: String(expiresOn),
    resource: requested,
    token_type: 'Bearer',
    client_id: identity.clientId,
  });
}
