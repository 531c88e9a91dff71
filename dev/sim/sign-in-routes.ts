import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokenClaims } from './access-token';
import { TOKEN_LIFETIME_SECONDS, baseAccessClaims } from './access-token';
import type { AppRecord } from './app-registry';
import type { CloudState } from './cloud-state';
import { GRAPH_AUDIENCE } from './cloud-state';
import type { DirectoryAccount } from './directory-accounts';
import { findAccount } from './directory-accounts';
import type { EntraError } from './entra-error';
import { missingParameterError } from './entra-error';
import type { PageRefusal } from './front-channel';
import { MULTI_TENANT_NAMES, checkClient, frontChannelParams } from './front-channel';
import { logEntra } from './entra-log';
import { sendHtml, sendRedirect } from './http-kit';
import type { IdTokenClaims } from './id-token-keys';
import { renderConsentErrorPage, renderSignInPage } from './consent-page';

/** Authorization codes live 10 minutes and are redeemed once (Microsoft identity platform, auth code flow). */
const CODE_LIFETIME_MS = 10 * 60_000;
/** Codes kept at most; expired ones are dropped first. */
const MAX_CODES = 10_000;
/** Real authorization codes are long opaque strings (700 to 1,000 characters); these are as long. */
const CODE_BYTES = 600;
const APP_GROUP_CLAIMS = new Set(['DirectoryRole', 'All']);

/** An issued authorization code and everything its redemption must match. */
export interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  /** The tenant the user signed in to. */
  account: DirectoryAccount;
  /** The tenant segment of the authorize URL (`organizations` or the tenant ID). */
  pathTenant: string;
  nonce: string | undefined;
  challenge: string | undefined;
  challengeMethod: 'S256' | 'plain';
  scope: string;
  expiresAt: number;
  redeemed: boolean;
}

type AuthorizeRequest =
  PageRefusal | { ok: true; app: AppRecord; params: URLSearchParams; redirectUri: string; tenantId?: string };

/** What Entra ID checks before it shows the sign-in page: tenant, app, redirect URI, response type, PKCE method. */
function validate(state: CloudState, pathTenant: string, params: URLSearchParams): AuthorizeRequest {
  const client = checkClient(state, pathTenant, params);
  if (!client.ok) return client;
  const { app, redirectUri } = client;
  const tenantId = client.tenant?.tenantId;
  const clientId = app.clientId;
  if (params.get('response_type') !== 'code') {
    return {
      ok: false,
      status: 400,
      code: 700054,
      text: "response_type 'id_token' is not enabled for the application.",
      tenantId,
      clientId,
    };
  }
  const method = params.get('code_challenge_method') ?? 'plain';
  if (params.has('code_challenge') && method !== 'S256' && method !== 'plain') {
    return {
      ok: false,
      status: 400,
      code: 501491,
      text: 'Invalid code_challenge_method.',
      tenantId,
      clientId,
    };
  }
  const mode = params.get('response_mode') ?? 'query';
  if (mode !== 'query') {
    return {
      ok: false,
      status: 400,
      code: 900144,
      text: `The simulator answers response_mode=query only, not '${mode}'.`,
      tenantId,
      clientId,
    };
  }
  return { ok: true, app, params, redirectUri, ...(tenantId ? { tenantId } : {}) };
}

function keepCode(state: CloudState, code: string, record: AuthorizationCode): void {
  if (state.authorizationCodes.size >= MAX_CODES) {
    const now = state.wall();
    for (const [key, value] of state.authorizationCodes)
      if (value.expiresAt <= now) state.authorizationCodes.delete(key);
    if (state.authorizationCodes.size >= MAX_CODES) state.authorizationCodes.clear();
  }
  state.authorizationCodes.set(code, record);
}

/**
 * `GET /{tenant}/oauth2/v2.0/authorize` shows the sign-in page (one field: the account's user principal name; the
 * simulator asks for no password); `POST` signs the named account in and redirects to the app with a single-use
 * code bound to the client, the redirect URI, the nonce and the PKCE challenge. Wrong app, redirect URI or tenant:
 * an error page and no redirect, as Entra ID does.
 */
export async function handleAuthorize(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
  pathTenant: string,
): Promise<void> {
  const isPost = req.method === 'POST';
  const params = await frontChannelParams(req);
  const request = validate(state, pathTenant, params);
  if (!request.ok) {
    logEntra(state, req, 'authorize', request.status, {
      tenantId: request.tenantId,
      clientId: request.clientId,
    });
    sendHtml(res, request.status, renderConsentErrorPage(request.code, request.text));
    return;
  }
  const { app, redirectUri } = request;
  const carried = [...params].filter(([name]) => name !== 'login' && name !== 'action');
  const model = {
    action: `/${encodeURIComponent(pathTenant)}/oauth2/v2.0/authorize`,
    appName: app.displayName,
    fields: carried,
    login: params.get('login') ?? params.get('login_hint') ?? '',
  };
  if (!isPost) {
    logEntra(state, req, 'authorize', 200, { tenantId: request.tenantId, clientId: app.clientId });
    sendHtml(res, 200, renderSignInPage(model));
    return;
  }
  const login = (params.get('login') ?? '').trim();
  const account = findAccount((domain) => state.tenant(domain), login);
  const refuse = (problem: string): void => {
    logEntra(state, req, 'authorize', 200, { tenantId: request.tenantId, clientId: app.clientId });
    sendHtml(res, 200, renderSignInPage({ ...model, problem }));
  };
  if (!account) {
    refuse(
      `AADSTS50034: The user account ${login} does not exist in the directory. To sign into this application, ` +
        'the account must be added to the directory.',
    );
    return;
  }
  if (request.tenantId !== undefined && account.tenant.tenantId !== request.tenantId) {
    refuse(
      `AADSTS50020: User account '${account.username}' from identity provider does not exist in tenant ` +
        `'${pathTenant}' and cannot access the application '${app.clientId}' in that tenant.`,
    );
    return;
  }
  const code = randomBytes(CODE_BYTES).toString('base64url');
  keepCode(state, code, {
    clientId: app.clientId,
    redirectUri,
    account,
    pathTenant: pathTenant.toLowerCase(),
    nonce: params.get('nonce') ?? undefined,
    challenge: params.get('code_challenge') ?? undefined,
    challengeMethod: params.get('code_challenge_method') === 'S256' ? 'S256' : 'plain',
    scope: params.get('scope') ?? 'openid',
    expiresAt: state.wall() + CODE_LIFETIME_MS,
    redeemed: false,
  });
  logEntra(state, req, 'authorize', 302, { tenantId: account.tenant.tenantId, clientId: app.clientId });
  const back = new URL(redirectUri);
  back.searchParams.set('code', code);
  const appState = params.get('state');
  if (appState !== null) back.searchParams.set('state', appState);
  back.searchParams.set('session_state', randomUUID());
  sendRedirect(res, back.toString());
}

const invalidGrant = (code: number, text: string): EntraError => ({
  status: 400,
  error: 'invalid_grant',
  code,
  text,
});

/**
 * The `authorization_code` grant, after the client authenticated: the code must be known, unredeemed, unexpired,
 * issued to this client for this redirect URI (and, at a tenant's own endpoint, in that tenant), and the PKCE
 * verifier must match. Answers an ID token (RS256, the tenant's key, `wids` when the app asks for directory roles)
 * and a delegated Graph token with no application roles.
 */
export function redeemCode(
  state: CloudState,
  app: AppRecord,
  form: URLSearchParams,
  pathTenant: string,
): { error: EntraError } | { body: Record<string, unknown>; tenantId: string } {
  const value = form.get('code') ?? '';
  if (!value) return { error: missingParameterError('code') };
  const code = state.authorizationCodes.get(value);
  const now = state.wall();
  if (!code || code.clientId !== app.clientId) {
    return { error: invalidGrant(70000, "The provided value for the 'code' parameter is not valid.") };
  }
  if (code.redeemed) {
    return {
      error: invalidGrant(
        54005,
        'OAuth2 Authorization code was already redeemed, please retry with a new valid code.',
      ),
    };
  }
  code.redeemed = true;
  if (code.expiresAt <= now) {
    return {
      error: invalidGrant(
        70008,
        'The provided authorization code or refresh token has expired due to inactivity.',
      ),
    };
  }
  if ((form.get('redirect_uri') ?? '') !== code.redirectUri) {
    return {
      error: invalidGrant(
        70000,
        "The provided value for the 'redirect_uri' is not valid. It must match the one used to obtain the code.",
      ),
    };
  }
  const tenant = code.account.tenant;
  if (
    !MULTI_TENANT_NAMES.has(pathTenant.toLowerCase()) &&
    state.tenant(pathTenant)?.tenantId !== tenant.tenantId
  ) {
    return {
      error: invalidGrant(70000, "The provided value for the 'code' parameter is not valid for this tenant."),
    };
  }
  if (code.challenge !== undefined) {
    const verifier = form.get('code_verifier') ?? '';
    const derived =
      code.challengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
    if (!verifier || derived !== code.challenge) {
      return {
        error: invalidGrant(
          501481,
          'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
        ),
      };
    }
  }

  const issuedAt = Math.floor(now / 1000);
  const account = code.account;
  const idClaims: IdTokenClaims = {
    aud: app.clientId,
    iss: `${state.url}/${tenant.tenantId}/v2.0`,
    iat: issuedAt,
    nbf: issuedAt,
    exp: issuedAt + 3600,
    tid: tenant.tenantId,
    oid: account.oid,
    sub: createHash('sha256').update(`${account.oid}|${app.clientId}`).digest('base64url').slice(0, 43),
    name: account.name,
    preferred_username: account.username,
    ...(code.nonce === undefined ? {} : { nonce: code.nonce }),
    ...(APP_GROUP_CLAIMS.has(app.groupMembershipClaims) ? { wids: [...account.wids] } : {}),
    ver: '2.0',
    uti: randomBytes(16).toString('base64url'),
  };
  const accessClaims: AccessTokenClaims = {
    ...baseAccessClaims({
      url: state.url,
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      nowMs: now,
      oid: account.oid,
      sub: idClaims.sub,
      aud: GRAPH_AUDIENCE,
      idtyp: 'user',
    }),
    scp: 'openid profile email User.Read',
  };

  return {
    tenantId: tenant.tenantId,
    body: {
      token_type: 'Bearer',
      scope: 'openid profile email https://graph.microsoft.com/User.Read',
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: state.signer.issue(accessClaims),
      id_token: state.idTokenKeys.issue(idClaims),
      ...(form.get('client_info') === '1'
        ? {
            client_info: Buffer.from(JSON.stringify({ uid: account.oid, utid: tenant.tenantId })).toString(
              'base64url',
            ),
          }
        : {}),
    },
  };
}
