import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokenClaims } from './access-token';
import { TOKEN_LIFETIME_SECONDS, baseAccessClaims } from './access-token';
import { authenticateClient, presentedCredential } from './client-assertion';
import type { CloudState } from './cloud-state';
import { GRAPH_APP_ID, GRAPH_AUDIENCE, VAULT_RESOURCE } from './cloud-state';
import { handleAdminConsent } from './consent-routes';
import type { EntraError } from './entra-error';
import {
  appNotFoundError,
  entraErrorBody,
  invalidScopeError,
  missingParameterError,
  revocationError,
  tenantRequiredError,
  transientError,
  unknownResourceError,
  unknownTenantError,
  unsupportedGrantError,
} from './entra-error';
import { header, readBody, sendJson, splitTarget } from './http-kit';
import { derivedGuid } from './seeded-random';
import type { SeededTenant } from './seeded-tenant';
import { logEntra } from './entra-log';
import { handleAuthorize, redeemCode } from './sign-in-routes';

/** Tenant names that stand for "any organization" rather than one tenant. */
const MULTI_TENANT_NAMES = new Set(['organizations', 'common']);
/** OpenID Connect scopes MSAL may add; they do not name a resource. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

function sendEntraError(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
  error: EntraError,
): void {
  const correlationId = header(req.headers, 'client-request-id');
  sendJson(res, error.status, entraErrorBody(error, correlationId, new Date(state.wall())), {
    'Cache-Control': 'no-store, no-cache',
    ...(correlationId === undefined ? {} : { 'client-request-id': correlationId }),
  });
}

/** The v2.0 OpenID configuration of a tenant, or of `organizations`/`common` (with a `{tenantid}` issuer). */
function openIdConfiguration(
  url: string,
  pathTenant: string,
  tenant: SeededTenant | undefined,
): Record<string, unknown> {
  const segment = tenant?.tenantId ?? pathTenant;
  const issuerTenant = tenant?.tenantId ?? '{tenantid}';
  return {
    token_endpoint: `${url}/${segment}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${url}/${segment}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${url}/${issuerTenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${url}/oidc/userinfo`,
    authorization_endpoint: `${url}/${segment}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${url}/${segment}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${url}/${segment}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid', 'oid', 'roles'],
    tenant_region_scope: 'WW',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

function handleOpenId(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
  pathTenant: string,
): void {
  const multi = MULTI_TENANT_NAMES.has(pathTenant.toLowerCase());
  const tenant = multi ? undefined : state.tenant(pathTenant);
  if (!multi && !tenant) {
    logEntra(state, req, 'openid', 400, {});
    sendEntraError(state, req, res, unknownTenantError(pathTenant));
    return;
  }
  logEntra(state, req, 'openid', 200, tenant ? { tenantId: tenant.tenantId } : {});
  sendJson(res, 200, openIdConfiguration(state.url, pathTenant.toLowerCase(), tenant));
}

function handleInstanceDiscovery(state: CloudState, req: IncomingMessage, res: ServerResponse): void {
  const host = new URL(state.url).host;
  logEntra(state, req, 'openid', 200, {});
  sendJson(res, 200, {
    tenant_discovery_endpoint: `${state.url}/common/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  });
}

/** The resource a client-credentials scope names, or the scope error Entra ID would answer. */
function resourceOfScope(scopeParam: string): { resource: string } | { error: EntraError } {
  const scopes = scopeParam.split(' ').filter((scope) => scope && !OIDC_SCOPES.has(scope));
  const [scope] = scopes;
  if (scopes.length !== 1 || !scope?.endsWith('/.default')) return { error: invalidScopeError(scopeParam) };
  return { resource: scope.slice(0, -'/.default'.length).replace(/\/+$/, '') };
}

/**
 * The v2.0 token endpoint: client credentials, and authorization codes from the sign-in page. Checks run in Entra
 * ID's order: tenant, request shape, the app's service principal in the tenant (700016, 7000229, 7000112,
 * replication lag), the client's credential (a secret, a certificate or a federated assertion:
 * client-assertion.ts), then consent-level refusals (65001, 53003). A success is an HS256 JWT with `tid` and
 * `roles`.
 */
async function handleToken(state: CloudState, req: IncomingMessage, res: ServerResponse, pathTenant: string) {
  const form = new URLSearchParams(await readBody(req));
  const presented = presentedCredential(req, form);
  const { clientId } = presented;
  const multi = MULTI_TENANT_NAMES.has(pathTenant.toLowerCase());
  const tenant = multi ? undefined : state.tenant(pathTenant);
  const fail = (error: EntraError): void => {
    logEntra(state, req, 'token', error.status, { tenantId: tenant?.tenantId, clientId });
    sendEntraError(state, req, res, error);
  };

  const token5xx = state.faultsFor(tenant?.tenantId).token5xx;
  if (state.draw(token5xx)) return fail(transientError(state.random() < 0.5 ? 500 : 503));
  const grantType = form.get('grant_type');
  if (grantType === 'authorization_code') return redeemAuthorizationCode(state, req, res, pathTenant, form);
  if (multi) return fail(tenantRequiredError(pathTenant));
  if (!tenant) return fail(unknownTenantError(pathTenant));
  if (!grantType) return fail(missingParameterError('grant_type'));
  if (grantType !== 'client_credentials') return fail(unsupportedGrantError(grantType));
  if (!clientId) return fail(missingParameterError('client_id'));
  const scopeParam = form.get('scope');
  if (!scopeParam) return fail(missingParameterError('scope'));
  const scope = resourceOfScope(scopeParam);
  if ('error' in scope) return fail(scope.error);

  const app = state.apps.get(clientId);
  const grant = app && state.apps.grantOf(tenant.tenantId, app.clientId);
  if (!app || !grant) return fail(appNotFoundError(clientId, tenant.domain));
  if (grant.kind === 'revoked' && grant.code !== 65001 && grant.code !== 53003) {
    return fail(revocationError(grant.code, app.clientId, tenant.domain));
  }
  const now = state.wall();
  if (grant.kind === 'granted' && now < grant.lagUntil && grant.lagCode === 700016) {
    return fail(revocationError(700016, app.clientId, tenant.domain));
  }
  const refusal = authenticateClient(state, app, presented, { grantType, pathTenant, tenant });
  if (refusal) return fail(refusal);
  if (grant.kind === 'revoked') return fail(revocationError(grant.code, app.clientId, tenant.domain));
  if (now < grant.lagUntil) return fail(revocationError(grant.lagCode, app.clientId, tenant.domain));

  const isGraph = [state.url, GRAPH_AUDIENCE, GRAPH_APP_ID].includes(scope.resource);
  const isVault = scope.resource === VAULT_RESOURCE && tenant.tenantId === state.operator.tenantId;
  if (!isGraph && !isVault) return fail(unknownResourceError(scope.resource, tenant.domain));

  const servicePrincipal = derivedGuid('service-principal', tenant.tenantId, app.clientId);
  const claims: AccessTokenClaims = {
    ...baseAccessClaims({
      url: state.url,
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      nowMs: now,
      oid: servicePrincipal,
      sub: servicePrincipal,
      aud: scope.resource === GRAPH_APP_ID ? GRAPH_AUDIENCE : scope.resource,
      idtyp: 'app',
    }),
    // Right after consent the grant may not have reached the token service: no roles yet (Graph then answers 403).
    ...(isGraph && grant.roles.length > 0 && now >= grant.rolesFrom ? { roles: [...grant.roles] } : {}),
  };

  logEntra(state, req, 'token', 200, { tenantId: tenant.tenantId, clientId: app.clientId });
  const correlationId = header(req.headers, 'client-request-id') ?? randomUUID();
  sendJson(
    res,
    200,
    {
      token_type: 'Bearer',
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: state.signer.issue(claims),
    },
    { 'Cache-Control': 'no-store, no-cache', 'client-request-id': correlationId },
  );
}

/** The `authorization_code` grant: the tenant, the client and its credential, then the code (sign-in-routes.ts). */
function redeemAuthorizationCode(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
  pathTenant: string,
  form: URLSearchParams,
): void {
  const presented = presentedCredential(req, form);
  const { clientId } = presented;
  const multi = MULTI_TENANT_NAMES.has(pathTenant.toLowerCase());
  const tenant = multi ? undefined : state.tenant(pathTenant);
  const fail = (error: EntraError, tenantId = tenant?.tenantId): void => {
    logEntra(state, req, 'token', error.status, { tenantId, clientId });
    sendEntraError(state, req, res, error);
  };
  if (!multi && !tenant) return fail(unknownTenantError(pathTenant));
  if (!clientId) return fail(missingParameterError('client_id'));
  const app = state.apps.get(clientId);
  if (!app) return fail(appNotFoundError(clientId, tenant?.domain ?? pathTenant));
  const refusal = authenticateClient(state, app, presented, {
    grantType: 'authorization_code',
    pathTenant,
    tenant,
  });
  if (refusal) return fail(refusal);
  const redeemed = redeemCode(state, app, form, pathTenant);
  if ('error' in redeemed) return fail(redeemed.error);
  logEntra(state, req, 'token', 200, { tenantId: redeemed.tenantId, clientId: app.clientId });
  sendJson(res, 200, redeemed.body, {
    'Cache-Control': 'no-store, no-cache',
    'client-request-id': header(req.headers, 'client-request-id') ?? randomUUID(),
  });
}

/**
 * Entra ID's endpoints: OpenID configuration, instance discovery, signing keys, the v2.0 authorize (sign-in) and
 * token endpoints and the adminconsent page. Returns false when the path is none of them.
 */
export async function handleEntra(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const { path } = splitTarget(req.url ?? '/');
  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const [tenant, a, b, c] = segments;
  if (!tenant) return false;
  const rest = segments.slice(1).join('/');
  if (method === 'GET' && tenant === 'common' && rest === 'discovery/instance') {
    handleInstanceDiscovery(state, req, res);
  } else if (
    method === 'GET' &&
    (rest === 'v2.0/.well-known/openid-configuration' || rest === '.well-known/openid-configuration')
  ) {
    handleOpenId(state, req, res, tenant);
  } else if (method === 'GET' && (rest === 'discovery/v2.0/keys' || rest === 'discovery/keys')) {
    const multi = MULTI_TENANT_NAMES.has(tenant.toLowerCase());
    const known = multi ? undefined : state.tenant(tenant);
    if (!multi && !known) {
      logEntra(state, req, 'openid', 400, {});
      sendEntraError(state, req, res, unknownTenantError(tenant));
    } else {
      logEntra(state, req, 'openid', 200, known ? { tenantId: known.tenantId } : {});
      sendJson(res, 200, state.idTokenKeys.jwks(known?.tenantId));
    }
  } else if ((method === 'GET' || method === 'POST') && a === 'oauth2' && b === 'v2.0' && c === 'authorize') {
    await handleAuthorize(state, req, res, tenant);
  } else if (method === 'POST' && a === 'oauth2' && b === 'v2.0' && c === 'token' && segments.length === 4) {
    await handleToken(state, req, res, tenant);
  } else if ((method === 'GET' || method === 'POST') && rest === 'v2.0/adminconsent') {
    await handleAdminConsent(state, req, res, tenant);
  } else {
    return false;
  }
  return true;
}
