/** The consent callback: the one redirect URI for both steps, sign-in and consent. */
import { nextScheduledRun } from '../config';
import { CredentialError, TokenError } from '../errors';
import type { SignedInUser } from './admin-sign-in';
import { GRANTING_ROLES, SignInError, canGrantAppPermissions } from './admin-sign-in';
import type { ConsentFlowDeps, ConsentRequest } from './consent-flow';
import {
  CONSENT_COOKIE,
  GUID,
  invitationRefused,
  normaliseTenant,
  readCookie,
  redirect,
} from './consent-flow';
import type { FlowStep } from './consent-state-store';
import { STATE_PATTERN, newRandomToken } from './consent-state-store';
import type { PageResponse } from './pages';
import { connectedPage, problemPage } from './pages';
import type { Verification } from './verify-consent';

/** Entra ID's authorization codes are long (the simulator's are 800 characters); nothing else it sends is longer. */
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
    if (error instanceof TokenError || error instanceof CredentialError) {
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
