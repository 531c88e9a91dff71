import { nextScheduledRun } from '../config';
import { SecretError, TokenError } from '../errors';
import type { Logger } from '../logging/logger';
import type { TenantRegistry } from '../tenants/tenant-registry';
import type { ConsentStateStore } from './consent-state-store';
import { STATE_PATTERN, newRandomToken } from './consent-state-store';
import type { PageResponse } from './pages';
import { PAGE_HEADERS, connectedPage, landingPage, problemPage } from './pages';
import type { Verification } from './verify-consent';

/** The cookie that binds a consent flow to the browser that started it. */
/**
 * The browser binding's cookie. `__Host-`: the browser accepts it only with `Secure`, `Path=/` and no `Domain`, so a
 * sibling subdomain can neither set nor overwrite it.
 */
export const CONSENT_COOKIE = '__Host-dc_consent';
const COOKIE_MAX_AGE_S = 3600;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;
const MAX_PARAM_LENGTH = 2048;
const MAX_QUERY_LENGTH = 8192;
/** Parameters Entra ID may send back; anything else is ignored, never trusted. */
const CALLBACK_PARAMS = new Set([
  'admin_consent',
  'tenant',
  'scope',
  'state',
  'error',
  'error_description',
  'error_uri',
  'error_subcode',
  'error_codes',
  'timestamp',
  'trace_id',
  'correlation_id',
]);

export interface ConsentFlowDeps {
  appClientId: string;
  authorityHost: string;
  graphEndpoint: string;
  redirectUri: string;
  crawlSchedule: string;
  isvName: string;
  states: ConsentStateStore;
  registry: TenantRegistry;
  verify: (tenant: string) => Promise<Verification>;
  /** The tenant ID a domain signs in to (an app-only token's `tid`), to show the domain only when it is proven. */
  tenantOfDomain: (domain: string) => Promise<string | undefined>;
  logger: Logger;
  now?: () => Date;
}

/** What the adapters pass in: the raw query and the Cookie header. */
export interface ConsentRequest {
  query: URLSearchParams;
  cookieHeader: string | null;
}

/** A tenant as an admin may name it: a GUID or a domain (lower-cased); undefined when it is neither. */
export function normaliseTenant(value: string): string | undefined {
  const trimmed = value.trim();
  if (GUID.test(trimmed) || DOMAIN.test(trimmed)) return trimmed.toLowerCase();
  return undefined;
}

function readCookie(header: string | null, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      const value = part.slice(at + 1).trim();
      return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

function bindingCookie(value: string, secure: boolean): string {
  return [
    `${CONSENT_COOKIE}=${value}`,
    'Path=/',
    `Max-Age=${COOKIE_MAX_AGE_S}`,
    'HttpOnly',
    ...(secure ? ['Secure'] : []),
    'SameSite=Lax',
  ].join('; ');
}

/** The landing page (`GET /api/consent`). */
export function showLanding(deps: Pick<ConsentFlowDeps, 'isvName' | 'authorityHost'>): PageResponse {
  return landingPage(deps.isvName, deps.authorityHost);
}

/**
 * `GET /api/consent/start`: a fresh single-use state bound to this browser through an HttpOnly cookie, then
 * a redirect to Entra ID's adminconsent endpoint for the named tenant (or `organizations`).
 */
export async function startConsent(request: ConsentRequest, deps: ConsentFlowDeps): Promise<PageResponse> {
  const raw = request.query.get('tenant') ?? '';
  let tenant = 'organizations';
  if (raw.trim() !== '') {
    const normalised = raw.length <= 253 ? normaliseTenant(raw) : undefined;
    if (!normalised) {
      return problemPage(
        400,
        'That organization name is not valid',
        'Enter your domain (for example contoso.onmicrosoft.com) or your tenant ID, or leave the field empty.',
      );
    }
    tenant = normalised;
  }
  const binding = readCookie(request.cookieHeader, CONSENT_COOKIE) ?? newRandomToken();
  const state = newRandomToken();
  await deps.states.save(state, binding, tenant === 'organizations' ? undefined : tenant);

  const target = new URL(`${deps.authorityHost}/${encodeURIComponent(tenant)}/v2.0/adminconsent`);
  target.searchParams.set('client_id', deps.appClientId);
  target.searchParams.set('scope', `${new URL(deps.graphEndpoint).origin}/.default`);
  target.searchParams.set('redirect_uri', deps.redirectUri);
  target.searchParams.set('state', state);
  deps.logger.info('consent started', { tenant });
  return {
    status: 302,
    headers: {
      ...PAGE_HEADERS,
      Location: target.toString(),
      // A Secure cookie is what production needs; browsers also accept it on http://localhost and 127.0.0.1.
      'Set-Cookie': bindingCookie(binding, true),
    },
    body: '',
  };
}

type Malformed = { ok: false; page: PageResponse };
type Parsed = { ok: true; params: Map<string, string> };

function parseCallback(query: URLSearchParams): Parsed | Malformed {
  const bad = (reason: string): Malformed => ({
    ok: false,
    page: problemPage(400, 'This sign-in answer cannot be used', reason),
  });
  const params = new Map<string, string>();
  let total = 0;
  for (const [key, value] of query) {
    total += key.length + value.length;
    if (total > MAX_QUERY_LENGTH) return bad('The answer from Microsoft was too long.');
    if (!CALLBACK_PARAMS.has(key)) continue;
    if (params.has(key)) return bad('The answer from Microsoft repeated a parameter.');
    if (value.length > MAX_PARAM_LENGTH) return bad('The answer from Microsoft had an overlong value.');

    if (/[\u0000-\u001f\u007f]/.test(value)) return bad('The answer from Microsoft had control characters.');
    params.set(key, value);
  }
  return { ok: true, params };
}

/**
 * `GET /api/consent/callback`: in this order, reject malformed input; treat any `error` as "not granted";
 * check the state (known, fresh, this browser's, unused); then prove consent with an app-only token and
 * permission probes; only then record the tenant, under the tenant ID of that token.
 */
export async function completeConsent(request: ConsentRequest, deps: ConsentFlowDeps): Promise<PageResponse> {
  const parsed = parseCallback(request.query);
  if (!parsed.ok) {
    deps.logger.warn('consent callback refused', { outcome: 'malformed' });
    return parsed.page;
  }
  const params = parsed.params;
  const binding = readCookie(request.cookieHeader, CONSENT_COOKIE);
  // docs/graph-facts.md, "Admin consent": Entra ID has appended text to the state; keep only the part we issued.
  const state = STATE_PATTERN.exec(params.get('state') ?? '')?.[0];

  if (params.has('error')) {
    if (state) await deps.states.consume(state, binding);
    deps.logger.info('consent declined', { outcome: 'declined' });
    return problemPage(
      403,
      'Consent was not granted',
      'Microsoft reports that the permissions were not granted, so nothing was connected. An administrator of ' +
        'your organization can start again and choose Accept.',
    );
  }

  if (!state) {
    deps.logger.warn('consent callback refused', { outcome: 'state_missing' });
    return problemPage(
      400,
      'This sign-in answer cannot be used',
      'It does not carry the state this site issued.',
    );
  }
  const tenantParam = params.get('tenant') ?? '';
  const tenant = normaliseTenant(tenantParam);
  if (!tenant || (params.get('admin_consent') ?? '').toLowerCase() !== 'true') {
    deps.logger.warn('consent callback refused', { outcome: 'malformed' });
    return problemPage(
      400,
      'This sign-in answer cannot be used',
      'It does not say that consent was granted for a valid organization.',
    );
  }

  const consumed = await deps.states.consume(state, binding);
  if (!consumed.ok) {
    deps.logger.warn('consent callback refused', { outcome: `state_${consumed.reason}` });
    const reasons = {
      unknown: 'This consent link was not issued here, or it is from an old session. Start again.',
      expired: 'This consent request expired (they last an hour). Start again.',
      replayed: 'This consent answer was already used. Start again if you need to.',
      other_browser:
        'This consent was started in another browser (or cookies are blocked). Finish it in the browser where ' +
        'you started, or start again here.',
    } as const;
    return problemPage(
      consumed.reason === 'other_browser' ? 403 : 400,
      'This consent cannot be finished',
      reasons[consumed.reason],
    );
  }

  let verification: Verification;
  try {
    verification = await deps.verify(tenant);
  } catch (error) {
    if (error instanceof TokenError || error instanceof SecretError) {
      deps.logger.error('consent verification unavailable', { outcome: 'unavailable', code: error.code });
    } else {
      deps.logger.error('consent verification failed', {
        outcome: 'error',
        error: error instanceof Error ? error.name : 'unknown',
      });
    }
    return problemPage(
      503,
      'We could not check the consent right now',
      'Consent may have been granted, but this site could not confirm it. Please start again in a few minutes.',
    );
  }

  if (verification.kind === 'no_token') {
    deps.logger.warn('consent not verified', { outcome: 'no_token', tenant, aadsts: verification.aadsts });
    return problemPage(
      403,
      'Consent could not be verified',
      'The app could not sign in to that organization, so nothing was stored. Make sure an administrator ' +
        'granted consent for this organization, then start again.',
    );
  }
  if (verification.kind === 'tenant_mismatch') {
    deps.logger.warn('consent not verified', {
      outcome: 'tenant_mismatch',
      tenant,
      tokenTenant: verification.tenantId,
    });
    return problemPage(
      403,
      'Consent could not be verified',
      'The answer named a different organization than the one the app could sign in to. Nothing was stored.',
    );
  }

  const status = verification.missing.length === 0 ? 'active' : 'consent_incomplete';
  // Entra ID sends the tenant ID back; the domain the admin typed is shown only once proven to be that tenant's.
  let domain = GUID.test(tenant) ? undefined : tenant;
  const hint = consumed.hint;
  if (!domain && hint && !GUID.test(hint)) {
    domain =
      (await deps.tenantOfDomain(hint).catch(() => undefined)) === verification.tenantId ? hint : undefined;
  }
  const now = (deps.now ?? (() => new Date()))();
  await deps.registry.recordConsent(verification.tenantId, status, now, domain);
  deps.logger.info('consent recorded', { outcome: status, tenantId: verification.tenantId });
  return connectedPage(
    domain ?? verification.tenantId,
    nextScheduledRun(deps.crawlSchedule, now),
    verification.missing,
  );
}
