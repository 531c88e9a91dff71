/**
 * The start of onboarding: the landing page and the start route, and what the callback (consent-callback.ts)
 * shares with them: the dependencies, the browser binding's cookie, tenant names, invitation refusals.
 */
import type { Logger } from '../logging/logger';
import type { TenantRegistry } from '../tenants/tenant-registry';
import type { CrawlMetrics } from '../telemetry/crawl-metrics';
import { AdminSignIn } from './admin-sign-in';
import type { ConsentStateStore, FlowStep } from './consent-state-store';
import { newRandomToken } from './consent-state-store';
import type { InvitationRefusal, InvitationStore } from './invitation-store';
import type { PageResponse } from './pages';
import { PAGE_HEADERS, landingPage, problemPage } from './pages';
import type { Verification } from './verify-consent';
import { GUID } from '../guid';

/**
 * The browser binding's cookie. `__Host-`: the browser accepts it only with `Secure`, `Path=/` and no `Domain`, so a
 * sibling subdomain can neither set nor overwrite it.
 */
export const CONSENT_COOKIE = '__Host-dc_consent';
const COOKIE_MAX_AGE_S = 3600;

const DOMAIN = /^(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;

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
  /** How each callback ended (docs/telemetry.md). */
  metrics: CrawlMetrics;
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

export function readCookie(header: string | null, name: string): string | undefined {
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

export const invitationRefused = (reason: InvitationRefusal): PageResponse =>
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

export function redirect(location: string, binding: string): PageResponse {
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
