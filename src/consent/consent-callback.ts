/** The consent callback: the one redirect URI for both steps, sign-in and consent. */
import { nextScheduledRun } from '../config';
import { CredentialError, TokenError } from '../errors';
import type { ConsentOutcome, ConsentRefusal } from '../telemetry/crawl-metrics';
import type { SignedInUser } from './admin-sign-in';
import { GRANTING_ROLES, SignInError, canGrantAppPermissions } from './admin-sign-in';
import type { ConsentFlowDeps, ConsentRequest } from './consent-flow';
import { CONSENT_COOKIE, invitationRefused, normaliseTenant, readCookie, redirect } from './consent-flow';
import type { FlowStep } from './consent-state-store';
import { STATE_PATTERN, newRandomToken } from './consent-state-store';
import type { PageResponse } from './pages';
import { connectedPage, problemPage } from './pages';
import type { Verification } from './verify-consent';
import { GUID } from '../guid';

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
/** A page, and how the callback ended (for the metrics): every answer names its outcome. */
type Answer = { page: PageResponse; outcome: ConsentOutcome };

const refused = (page: PageResponse, reason: ConsentRefusal): Answer => ({
  page,
  outcome: { outcome: 'refused', reason },
});

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
 * the tenant the admin signed in to and only then recorded (`finishConsent`). Every answer is counted by its
 * outcome (docs/telemetry.md).
 */
export async function completeConsent(request: ConsentRequest, deps: ConsentFlowDeps): Promise<PageResponse> {
  const { page, outcome } = await answerCallback(request, deps);
  deps.metrics.recordConsentOutcome(outcome);
  return page;
}

async function answerCallback(request: ConsentRequest, deps: ConsentFlowDeps): Promise<Answer> {
  const parsed = parseCallback(request.query);
  if (!parsed.ok) {
    deps.logger.warn('consent callback refused', { outcome: 'malformed' });
    return refused(parsed.page, 'malformed');
  }
  const params = parsed.params;
  const binding = readCookie(request.cookieHeader, CONSENT_COOKIE);
  // docs/graph-facts.md, "Admin consent": Entra ID has appended text to the state; keep only the part we issued.
  const state = STATE_PATTERN.exec(params.get('state') ?? '')?.[0];
  if (!state) {
    deps.logger.warn('consent callback refused', { outcome: 'state_missing' });
    return refused(unusable('It does not carry the state this site issued.'), 'state_missing');
  }
  const consumed = await deps.states.consume(state, binding);
  if (params.has('error')) {
    const signingIn = consumed.ok && consumed.step.phase === 'signin';
    const reason = signingIn ? 'signin_failed' : 'declined';
    deps.logger.info('consent declined', { outcome: reason });
    const page = signingIn
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
    return { page, outcome: { outcome: 'declined', reason } };
  }
  if (!consumed.ok) {
    const reason = `state_${consumed.reason}` as const;
    deps.logger.warn('consent callback refused', { outcome: reason });
    return refused(
      problemPage(
        consumed.reason === 'other_browser' ? 403 : 400,
        'This sign-in cannot be finished',
        STATE_REFUSALS[consumed.reason],
      ),
      reason,
    );
  }
  const step = consumed.step;
  if (step.phase === 'signin') {
    const code = params.get('code');
    if (!code || params.has('admin_consent')) {
      deps.logger.warn('consent callback refused', { outcome: 'wrong_step' });
      return refused(unusable('It is not the answer to the sign-in this site asked for.'), 'wrong_step');
    }
    return finishSignIn({ ...step, state }, code, binding ?? newRandomToken(), deps);
  }
  if (params.has('code') || (params.get('admin_consent') ?? '').toLowerCase() !== 'true') {
    deps.logger.warn('consent callback refused', { outcome: 'wrong_step' });
    return refused(unusable('It does not say that consent was granted.'), 'wrong_step');
  }
  return finishConsent(step, params.get('tenant') ?? '', deps);
}

/** The admin signed in: redeem the code, check who it is, bind the invitation, and send them to consent. */
async function finishSignIn(
  step: Extract<FlowStep, { phase: 'signin' }> & { state: string },
  code: string,
  binding: string,
  deps: ConsentFlowDeps,
): Promise<Answer> {
  let user: SignedInUser;
  try {
    user = await deps.signIn.redeem(step, code);
  } catch (error) {
    if (error instanceof SignInError && error.reason !== 'unavailable') {
      deps.logger.warn('sign-in refused', { outcome: error.reason, detail: error.detail });
      return refused(
        problemPage(
          403,
          'We could not confirm your sign-in',
          'Microsoft’s answer could not be verified, so nothing was connected. Start again.',
        ),
        error.reason,
      );
    }
    deps.logger.error('sign-in unavailable', {
      outcome: 'unavailable',
      detail: error instanceof SignInError ? error.detail : error instanceof Error ? error.name : 'unknown',
    });
    return {
      page: problemPage(
        503,
        'We could not finish your sign-in right now',
        'Please start again in a few minutes.',
      ),
      outcome: { outcome: 'unavailable', reason: 'unavailable' },
    };
  }
  const tenantId = user.tenantId;
  if (tenantId === deps.homeTenantId) {
    deps.logger.warn('sign-in refused', { outcome: 'home_tenant' });
    return refused(
      problemPage(
        403,
        'This organization cannot be connected',
        `You signed in to ${deps.isvName}'s own organization, which is not a customer. Sign in with an account ` +
          'of the organization you want to connect.',
      ),
      'home_tenant',
    );
  }
  if (user.roles === undefined) {
    // The app registration does not emit directory roles: the ISV must fix it (docs/permissions.md).
    deps.logger.error('sign-in refused', { outcome: 'roles_unknown', tenantId });
    return {
      page: problemPage(
        503,
        'We could not check your role',
        `Microsoft did not tell us your directory roles, so ${deps.isvName} cannot tell whether you may grant ` +
          'this. This is a setting of our app, not yours: we have been told. Please try again later.',
      ),
      outcome: { outcome: 'unavailable', reason: 'roles_unknown' },
    };
  }
  if (!canGrantAppPermissions(user.roles)) {
    deps.logger.info('sign-in refused', { outcome: 'not_admin', tenantId });
    return refused(
      problemPage(
        403,
        'An administrator needs to do this',
        `Only a ${Object.values(GRANTING_ROLES).join(' or a ')} of your organization can grant application ` +
          'permissions for Microsoft Graph. Your account is signed in, but does not hold either role. Ask one ' +
          'of your administrators to open the same link and sign in.',
      ),
      'not_admin',
    );
  }
  if (step.invitation) {
    const claimed = await deps.invitations.claim(step.invitation, tenantId);
    if (!claimed.ok) {
      const reason = `invitation_${claimed.reason}` as const;
      deps.logger.warn('sign-in refused', { outcome: reason, tenantId });
      return refused(invitationRefused(claimed.reason), reason);
    }
  } else if (deps.onboarding === 'invite' || (await deps.registry.get(tenantId))?.status === 'offboarded') {
    // An offboarded organization comes back only through a new invitation, whatever ONBOARDING says.
    deps.logger.warn('sign-in refused', { outcome: 'invitation_missing', tenantId });
    return refused(invitationRefused('unknown'), 'invitation_missing');
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
  return { page: redirect(target.toString(), binding), outcome: { outcome: 'signed_in', reason: 'admin' } };
}

/**
 * Consent came back: it must name the tenant the admin signed in to; consent is proven with an app-only token
 * whose `tid` matches and permission probes; the invitation is used up; only then is the tenant recorded.
 */
async function finishConsent(
  step: Extract<FlowStep, { phase: 'consent' }>,
  named: string,
  deps: ConsentFlowDeps,
): Promise<Answer> {
  const tenantId = step.tenantId;
  if (normaliseTenant(named) !== tenantId) {
    deps.logger.warn('consent callback refused', { outcome: 'other_tenant', tenantId });
    return {
      page: problemPage(
        403,
        'Consent could not be verified',
        'The answer named a different organization than the one you signed in to. Nothing was stored.',
      ),
      outcome: { outcome: 'not_verified', reason: 'other_tenant' },
    };
  }
  let verification: Verification;
  try {
    verification = await deps.verify(tenantId);
  } catch (error) {
    const known = error instanceof TokenError || error instanceof CredentialError;
    if (known) {
      deps.logger.error('consent verification unavailable', { outcome: 'unavailable', code: error.code });
    } else {
      deps.logger.error('consent verification failed', {
        outcome: 'error',
        error: error instanceof Error ? error.name : 'unknown',
      });
    }
    return {
      page: problemPage(
        503,
        'We could not check the consent right now',
        'Consent may have been granted, but this site could not confirm it. Please start again in a few minutes.',
      ),
      outcome: { outcome: 'unavailable', reason: known ? 'unavailable' : 'error' },
    };
  }
  if (verification.kind === 'no_token') {
    deps.logger.warn('consent not verified', { outcome: 'no_token', tenantId, aadsts: verification.aadsts });
    return {
      page: problemPage(
        403,
        'Consent could not be verified',
        'The app could not sign in to that organization, so nothing was stored. Make sure an administrator ' +
          'granted consent for this organization, then start again.',
      ),
      outcome: { outcome: 'not_verified', reason: 'no_token' },
    };
  }
  if (verification.kind === 'tenant_mismatch') {
    deps.logger.warn('consent not verified', {
      outcome: 'tenant_mismatch',
      tenantId,
      tokenTenant: verification.tenantId,
    });
    return {
      page: problemPage(
        403,
        'Consent could not be verified',
        'The answer named a different organization than the one the app could sign in to. Nothing was stored.',
      ),
      outcome: { outcome: 'not_verified', reason: 'tenant_mismatch' },
    };
  }
  let invitationId: string | undefined;
  if (step.invitation) {
    const redeemed = await deps.invitations.redeem(step.invitation, tenantId);
    if (!redeemed.ok) {
      const reason = `invitation_${redeemed.reason}` as const;
      deps.logger.warn('consent callback refused', { outcome: reason, tenantId });
      return refused(invitationRefused(redeemed.reason), reason);
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
  return {
    page: connectedPage(domain ?? tenantId, nextScheduledRun(deps.crawlSchedule, now), verification.missing),
    // Consent is proven for this tenant (the app-only token's `tid` matched): its ID may be a dimension now.
    outcome:
      status === 'active'
        ? { outcome: 'granted', reason: 'active', verifiedTenantId: tenantId }
        : { outcome: 'incomplete', reason: 'consent_incomplete', verifiedTenantId: tenantId },
  };
}
