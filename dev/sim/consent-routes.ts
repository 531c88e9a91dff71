import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppRecord } from './app-registry';
import type { CloudState } from './cloud-state';
import { renderConsentErrorPage, renderConsentPage } from './consent-page';
import { missingParameterError, unknownTenantError } from './entra-error';
import type { PageRefusal } from './front-channel';
import { checkClient, frontChannelParams } from './front-channel';
import { logEntra } from './entra-log';
import { sendHtml, sendRedirect } from './http-kit';
import type { SeededTenant } from './seeded-tenant';

const SUGGESTED_TENANTS = 50;

/** Encodes a redirect parameter as Entra ID does (.NET style: `+` for spaces, lower-case escapes). */
function entraEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/%20/g, '+')
    .replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
}

function withParams(redirectUri: string, params: Array<[string, string | undefined]>): string {
  const query = params
    .filter((param): param is [string, string] => param[1] !== undefined)
    .map(([name, value]) => `${name}=${entraEncode(value)}`)
    .join('&');
  return `${redirectUri}${redirectUri.includes('?') ? '&' : '?'}${query}`;
}

type ConsentRequest =
  | PageRefusal
  | {
      ok: true;
      app: AppRecord;
      tenant: SeededTenant | undefined;
      scope: string;
      redirectUri: string;
      state: string | undefined;
    };

/** Checks what Entra ID checks before showing the page: the tenant, the app, the redirect URI, the scope. */
function validate(state: CloudState, pathTenant: string, params: URLSearchParams): ConsentRequest {
  const client = checkClient(state, pathTenant, params);
  if (!client.ok) return client;
  const { app, tenant, redirectUri } = client;
  const scope = params.get('scope') ?? '';
  if (!scope.trim()) {
    return {
      ok: false,
      ...missingParameterError('scope'),
      tenantId: tenant?.tenantId,
      clientId: app.clientId,
    };
  }
  return { ok: true, app, tenant, scope, redirectUri, state: params.get('state') ?? undefined };
}

/**
 * `GET /{tenant}/v2.0/adminconsent` shows the "Permissions requested" page; `POST` is its form. Accept grants
 * every permission the app asks for in the chosen tenant and redirects with `admin_consent=True&tenant&scope&state`;
 * Cancel redirects with `error=access_denied` (and, as Entra ID does, `admin_consent=True`). A bad redirect URI,
 * app or tenant gets an error page and no redirect.
 */
export async function handleAdminConsent(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
  pathTenant: string,
): Promise<void> {
  const isPost = req.method === 'POST';
  const params = await frontChannelParams(req);
  const log = (status: number, tenantId: string | undefined, clientId: string | undefined): void =>
    logEntra(state, req, 'consent', status, { tenantId, clientId });

  const request = validate(state, pathTenant, params);
  if (!request.ok) {
    log(request.status, request.tenantId, request.clientId);
    sendHtml(res, request.status, renderConsentErrorPage(request.code, request.text));
    return;
  }
  const { app, scope, redirectUri } = request;
  const customers = state.customerTenants();
  const model = {
    action: `/${encodeURIComponent(pathTenant)}/v2.0/adminconsent`,
    appName: app.displayName,
    clientId: app.clientId,
    roles: app.requiredRoles,
    scope,
    redirectUri,
    state: request.state,
    tenantLabel: request.tenant?.domain,
    tenantSuggestion: customers[0]?.domain ?? '',
    knownTenants: customers.slice(0, SUGGESTED_TENANTS).map((tenant) => tenant.domain),
  };

  if (!isPost) {
    log(200, request.tenant?.tenantId, app.clientId);
    sendHtml(res, 200, renderConsentPage(model));
    return;
  }

  if (params.get('action') !== 'accept') {
    log(302, request.tenant?.tenantId, app.clientId);
    sendRedirect(
      res,
      withParams(redirectUri, [
        ['error', 'access_denied'],
        ['error_description', 'AADSTS65004: User declined to consent to access the app.'],
        ['admin_consent', 'True'],
        ['state', request.state],
      ]),
    );
    return;
  }

  const chosen = request.tenant ?? state.tenant((params.get('tenant') ?? '').trim());
  if (!chosen) {
    const named = params.get('tenant') ?? '';
    log(400, undefined, app.clientId);
    sendHtml(
      res,
      400,
      renderConsentPage({ ...model, tenantSuggestion: named, problem: unknownTenantError(named).text }),
    );
    return;
  }
  state.apps.grant(
    chosen.tenantId,
    app.clientId,
    app.requiredRoles,
    0,
    700016,
    state.wall() + chosen.rolesLagMs,
  );
  log(302, chosen.tenantId, app.clientId);
  sendRedirect(
    res,
    withParams(redirectUri, [
      ['admin_consent', 'True'],
      ['tenant', chosen.tenantId],
      ['scope', scope],
      ['state', request.state],
    ]),
  );
}
