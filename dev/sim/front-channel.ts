import type { IncomingMessage } from 'node:http';
import type { AppRecord } from './app-registry';
import type { CloudState } from './cloud-state';
import { appNotFoundError, missingParameterError, unknownTenantError } from './entra-error';
import { readBody, splitTarget } from './http-kit';
import type { SeededTenant } from './seeded-tenant';

/** Tenant names that stand for "any organization" rather than one tenant. */
export const MULTI_TENANT_NAMES = new Set(['organizations', 'common']);

/** A front-channel request Entra ID refuses with an error page (no redirect): the AADSTS code and its text. */
export type PageRefusal = {
  ok: false;
  status: number;
  code: number;
  text: string;
  tenantId?: string;
  clientId?: string;
};

/**
 * What Entra ID checks first on its front-channel pages (sign-in and adminconsent): the tenant in the path, the
 * app, and that the redirect URI is one the app registered (AADSTS90002, 900144, 700016, 50011).
 */
export function checkClient(
  state: CloudState,
  pathTenant: string,
  params: URLSearchParams,
): PageRefusal | { ok: true; app: AppRecord; tenant: SeededTenant | undefined; redirectUri: string } {
  const multi = MULTI_TENANT_NAMES.has(pathTenant.toLowerCase());
  const tenant = multi ? undefined : state.tenant(pathTenant);
  if (!multi && !tenant) return { ok: false, ...unknownTenantError(pathTenant) };
  const tenantId = tenant?.tenantId;
  const clientId = params.get('client_id') ?? '';
  if (!clientId) return { ok: false, ...missingParameterError('client_id'), tenantId };
  const app = state.apps.get(clientId);
  if (!app) {
    return { ok: false, ...appNotFoundError(clientId, tenant?.domain ?? pathTenant), tenantId, clientId };
  }
  const redirectUri = params.get('redirect_uri') ?? '';
  if (!app.redirectUris.includes(redirectUri)) {
    return {
      ok: false,
      status: 400,
      code: 50011,
      text:
        `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured ` +
        `for the application '${app.clientId}'. Make sure the redirect URI sent in the request matches one added ` +
        'to your application in the Azure portal.',
      tenantId,
      clientId,
    };
  }
  return { ok: true, app, tenant, redirectUri };
}

/** A front-channel page's parameters: the query of a `GET`, the form of a `POST` (the page posting to itself). */
export async function frontChannelParams(req: IncomingMessage): Promise<URLSearchParams> {
  return req.method === 'POST' ? new URLSearchParams(await readBody(req)) : splitTarget(req.url ?? '/').query;
}
