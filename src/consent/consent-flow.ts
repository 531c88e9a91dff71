import { nextScheduledRun } from '../config';
import { SecretError, TokenError } from '../errors';
import type { Logger } from '../logging/logger';
import type { TenantRegistry } from '../tenants/tenant-registry';
import type { SignedInUser } from './admin-sign-in';
import { AdminSignIn, GRANTING_ROLES, SignInError, canGrantAppPermissions } from './admin-sign-in';
import type { ConsentStateStore, FlowStep } from './consent-state-store';
import { STATE_PATTERN, newRandomToken } from './consent-state-store';
import type { InvitationRefusal, InvitationStore } from './invitation-store';
import type { PageResponse } from './pages';
import { PAGE_HEADERS, connectedPage, landingPage, problemPage } from './pages';
import type { Verification } from './verify-consent';

/**
 * The browser binding's cookie. `__Host-`: the browser accepts it only with `Secure`, `Path=/` and no `Domain`, so a
 * sibling subdomain can neither set nor overwrite it.
 */
export const CONSENT_COOKIE = '__Host-dc_consent';
const COOKIE_MAX_AGE_S = 3600;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;
/** Entra ID's authorization codes run to 1,000-2,000 characters; nothing else it sends is longer. */
const MAX_PARAM_LENGTH = 4096;
const MAX_QUERY_LENGTH = 8192;
/** Parameters Entra ID may send back; anything else is ignored, never trusted. */
const CALLBACK_PARAMS = new Set([
  'code',
  'session_state',
  'client_info',
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
  invitations: InvitationStore;
  /** `invite`: only through an operator's invitation; `open`: any admin who signs in. */
  onboarding: 'invite' | 'open';
  /** The ISV's own tenant: never onboarded. */
  homeTenantId: string;
  /** Signs the admin in (OpenID Connect with PKCE) and verifies the ID token. */
  signIn: Pick<AdminSignIn, 'authorizeUrl' | 'redeem'>;
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

const INVITATION_REFUSALS: Record<InvitationRefusal, string> = {
  unknown: 'This invitation link is not valid. Ask for a new one.',
  expired: 'This invitation has expired. Ask for a new one.',
  used: 'This invitation was already used to connect an organization. Ask for a new one if you need to.',
  foreign: 'This invitation was made for another organization. Ask for one for yours.',
};

const invitationRefused = (reason: InvitationRefusal): PageResponse =>
  problemPage(403, 'This invitation cannot be used', INVITATION_REFUSALS[reason]);

/** The landing page (`GET /api/consent`), with the invitation from the link checked and carried into its form. */
export async function showLanding(
  request: ConsentRequest,
  deps: Pick<ConsentFlowDeps, 'isvName' | 'authorityHost' | 'onboarding' | 'invitations'>,
): Promise<PageResponse> {
  const token = request.query.get('invitation') ?? '';
  const base = { isvName: deps.isvName, authorityHost: deps.authorityHost };
  if (token === '') return landingPage({ ...base, invitationNeeded: deps.onboarding === 'invite' });
  const checked = await deps.invitations.check(token);
  if (!checked.ok) return invitationRefused(checked.reason);
  return landingPage({ ...base, invitation: token, invitationNeeded: false });
}

function redirect(location: string, binding: string): PageResponse {
  return {
    status: 302,
    headers: {
      ...PAGE_HEADERS,
      Location: location,
      // A Secure cookie is what production needs; browsers also accept it on http://localhost and 127.0.0.1.
      'Set-Cookie': bindingCookie(binding, true),
    },
    body: '',
  };
}

/**
 * `GET /api/consent/start`: under `ONBOARDING=invite`, a valid invitation first (nothing is stored without one);
 * then a fresh single-use state bound to this browser through an HttpOnly cookie, with a nonce and a PKCE
 * verifier, and a redirect to Entra ID's sign-in page (for the invited tenant, or `organizations` with the
 * domain the admin typed as a hint).
 */
export async function startConsent(request: ConsentRequest, deps: ConsentFlowDeps): Promise<PageResponse> {
  const raw = request.query.get('tenant') ?? '';
  let hint: string | undefined;
  if (raw.trim() !== '') {
    hint = raw.length <= 253 ? normaliseTenant(raw) : undefined;
    if (!hint) {
      return problemPage(
        400,
        'That organization name is not valid',
        'Enter your domain (for example contoso.onmicrosoft.com) or your tenant ID, or leave the field empty.',
      );
    }
  }
  const token = request.query.get('invitation') ?? '';
  let invitation: { key: string; expectedTenantId?: string } | undefined;
  if (token !== '' || deps.onboarding === 'invite') {
    const checked = await deps.invitations.check(token);
    if (!checked.ok) {
      deps.logger.warn('consent start refused', { outcome: `invitation_${checked.reason}` });
      return token === ''
        ? landingPage({ ...deps, invitationNeeded: true })
        : invitationRefused(checked.reason);
    }
    invitation = { key: checked.key, expectedTenantId: checked.invitation.expectedTenantId };
  }
  const binding = readCookie(request.cookieHeader, CONSENT_COOKIE) ?? newRandomToken();
  const state = newRandomToken();
  const { verifier, challenge } = await AdminSignIn.pkce();
  const step: FlowStep = {
    phase: 'signin',
    nonce: newRandomToken(),
    verifier,
    // Only an operator's invitation chooses the tenant to sign in to; what an anonymous visitor typed is a hint.
    authority: invitation?.expectedTenantId ?? 'organizations',
    ...(hint ? { hint } : {}),
    ...(invitation ? { invitation: invitation.key } : {}),
  };
  await deps.states.save(state, binding, step);
  const location = await deps.signIn.authorizeUrl({
    ...step,
    state,
    challenge,
    ...(hint && !GUID.test(hint) ? { domainHint: hint } : {}),
  });
  deps.logger.info('consent started', { authority: step.authority, invited: invitation !== undefined });
  return redirect(location, binding);
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

const STATE_REFUSALS = {
  unknown:
    'This answer does not belong to a sign-in started here: it was already used, or it is from an old session. ' +
    'Start again.',
  expired: 'This sign-in expired (it lasts an hour). Start again.',
  other_browser:
    'This was started in another browser (or cookies are blocked). Finish it in the browser where you started, ' +
    'or start again here.',
} as const;

const unusable = (reason: string): PageResponse =>
  problemPage(400, 'This sign-in answer cannot be used', reason);

/**
 * `GET /api/consent/callback`, the one redirect URI for both steps. In this order: reject malformed input; use up
 * the state (known, fresh, this browser's); an `error` ends the flow; then the step the state was issued for:
 * after sign-in, the code is redeemed and the admin checked (`finishSignIn`); after consent, consent is proven for
 * the tenant the admin signed in to and only then recorded (`finishConsent`).
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
  if (!state) {
    deps.logger.warn('consent callback refused', { outcome: 'state_missing' });
    return unusable('It does not carry the state this site issued.');
  }
  const consumed = await deps.states.consume(state, binding);
  if (params.has('error')) {
    const signingIn = consumed.ok && consumed.step.phase === 'signin';
    deps.logger.info('consent declined', { outcome: signingIn ? 'signin_failed' : 'declined' });
    return signingIn
      ? problemPage(
          403,
          'Sign-in did not finish',
          'Microsoft reports that the sign-in did not finish, so nothing was connected. Start again when you are ready.',
        )
      : problemPage(
          403,
          'Consent was not granted',
          'Microsoft reports that the permissions were not granted, so nothing was connected. An administrator of ' +
            'your organization can start again and choose Accept.',
        );
  }
  if (!consumed.ok) {
    deps.logger.warn('consent callback refused', { outcome: `state_${consumed.reason}` });
    return problemPage(
      consumed.reason === 'other_browser' ? 403 : 400,
      'This sign-in cannot be finished',
      STATE_REFUSALS[consumed.reason],
    );
  }
  const step = consumed.step;
  if (step.phase === 'signin') {
    const code = params.get('code');
    if (!code || params.has('admin_consent')) {
      deps.logger.warn('consent callback refused', { outcome: 'wrong_step' });
      return unusable('It is not the answer to the sign-in this site asked for.');
    }
    return finishSignIn({ ...step, state }, code, binding ?? newRandomToken(), deps);
  }
  if (params.has('code') || (params.get('admin_consent') ?? '').toLowerCase() !== 'true') {
    deps.logger.warn('consent callback refused', { outcome: 'wrong_step' });
    return unusable('It does not say that consent was granted.');
  }
  return finishConsent(step, params.get('tenant') ?? '', deps);
}

/** The admin signed in: redeem the code, check who it is, bind the invitation, and send them to consent. */
async function finishSignIn(
  step: Extract<FlowStep, { phase: 'signin' }> & { state: string },
  code: string,
  binding: string,
  deps: ConsentFlowDeps,
): Promise<PageResponse> {
  let user: SignedInUser;
  try {
    user = await deps.signIn.redeem(step, code);
  } catch (error) {
    if (error instanceof SignInError && error.reason !== 'unavailable') {
      deps.logger.warn('sign-in refused', { outcome: error.reason, detail: error.detail });
      return problemPage(
        403,
        'We could not confirm your sign-in',
        'Microsoft’s answer could not be verified, so nothing was connected. Start again.',
      );
    }
    deps.logger.error('sign-in unavailable', {
      outcome: 'unavailable',
      detail: error instanceof SignInError ? error.detail : error instanceof Error ? error.name : 'unknown',
    });
    return problemPage(
      503,
      'We could not finish your sign-in right now',
      'Please start again in a few minutes.',
    );
  }
  const tenantId = user.tenantId;
  if (tenantId === deps.homeTenantId) {
    deps.logger.warn('sign-in refused', { outcome: 'home_tenant' });
    return problemPage(
      403,
      'This organization cannot be connected',
      `You signed in to ${deps.isvName}'s own organization, which is not a customer. Sign in with an account of ` +
        'the organization you want to connect.',
    );
  }
  if (user.roles === undefined) {
    // The app registration does not emit directory roles: the ISV must fix it (docs/permissions.md).
    deps.logger.error('sign-in refused', { outcome: 'roles_unknown', tenantId });
    return problemPage(
      503,
      'We could not check your role',
      `Microsoft did not tell us your directory roles, so ${deps.isvName} cannot tell whether you may grant ` +
        'this. This is a setting of our app, not yours: we have been told. Please try again later.',
    );
  }
  if (!canGrantAppPermissions(user.roles)) {
    deps.logger.info('sign-in refused', { outcome: 'not_admin', tenantId });
    return problemPage(
      403,
      'An administrator needs to do this',
      `Only a ${Object.values(GRANTING_ROLES).join(' or a ')} of your organization can grant application ` +
        'permissions for Microsoft Graph. Your account is signed in, but does not hold either role. Ask one ' +
        'of your administrators to open the same link and sign in.',
    );
  }
  if (step.invitation) {
    const claimed = await deps.invitations.claim(step.invitation, tenantId);
    if (!claimed.ok) {
      deps.logger.warn('sign-in refused', { outcome: `invitation_${claimed.reason}`, tenantId });
      return invitationRefused(claimed.reason);
    }
  } else if (deps.onboarding === 'invite') {
    deps.logger.warn('sign-in refused', { outcome: 'invitation_missing', tenantId });
    return invitationRefused('unknown');
  }
  const next = newRandomToken();
  await deps.states.save(next, binding, {
    phase: 'consent',
    tenantId,
    ...(step.hint ? { hint: step.hint } : {}),
    ...(step.invitation ? { invitation: step.invitation } : {}),
  });
  const target = new URL(`${deps.authorityHost}/${tenantId}/v2.0/adminconsent`);
  target.searchParams.set('client_id', deps.appClientId);
  target.searchParams.set('scope', `${new URL(deps.graphEndpoint).origin}/.default`);
  target.searchParams.set('redirect_uri', deps.redirectUri);
  target.searchParams.set('state', next);
  deps.logger.info('admin signed in', { outcome: 'admin', tenantId });
  return redirect(target.toString(), binding);
}

/**
 * Consent came back: it must name the tenant the admin signed in to; consent is proven with an app-only token
 * whose `tid` matches and permission probes; the invitation is used up; only then is the tenant recorded.
 */
async function finishConsent(
  step: Extract<FlowStep, { phase: 'consent' }>,
  named: string,
  deps: ConsentFlowDeps,
): Promise<PageResponse> {
  const tenantId = step.tenantId;
  if (normaliseTenant(named) !== tenantId) {
    deps.logger.warn('consent callback refused', { outcome: 'other_tenant', tenantId });
    return problemPage(
      403,
      'Consent could not be verified',
      'The answer named a different organization than the one you signed in to. Nothing was stored.',
    );
  }
  let verification: Verification;
  try {
    verification = await deps.verify(tenantId);
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
    deps.logger.warn('consent not verified', { outcome: 'no_token', tenantId, aadsts: verification.aadsts });
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
      tenantId,
      tokenTenant: verification.tenantId,
    });
    return problemPage(
      403,
      'Consent could not be verified',
      'The answer named a different organization than the one the app could sign in to. Nothing was stored.',
    );
  }
  let invitationId: string | undefined;
  if (step.invitation) {
    const redeemed = await deps.invitations.redeem(step.invitation, tenantId);
    if (!redeemed.ok) {
      deps.logger.warn('consent callback refused', { outcome: `invitation_${redeemed.reason}`, tenantId });
      return invitationRefused(redeemed.reason);
    }
    invitationId = redeemed.invitation.id;
  }

  const status = verification.missing.length === 0 ? 'active' : 'consent_incomplete';
  // The domain the admin typed is shown only once proven to be the tenant's.
  const hint = step.hint;
  let domain: string | undefined;
  if (hint && !GUID.test(hint)) {
    domain = (await deps.tenantOfDomain(hint).catch(() => undefined)) === tenantId ? hint : undefined;
  }
  const now = (deps.now ?? (() => new Date()))();
  await deps.registry.recordConsent(tenantId, status, now, domain, invitationId);
  deps.logger.info('consent recorded', { outcome: status, tenantId });
  return connectedPage(domain ?? tenantId, nextScheduledRun(deps.crawlSchedule, now), verification.missing);
}
