import type { AuthenticationResult } from '@azure/msal-node';
import { AuthError, ConfidentialClientApplication, CryptoProvider, LogLevel } from '@azure/msal-node';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { MsalClientAuth } from '../identity/app-credential';
import { LOWERCASE_GUID } from '../guid';

/**
 * Directory roles that can grant application permissions for Microsoft Graph to an app, by the role template ID
 * the ID token's `wids` claim carries (docs/permissions.md, "Who can grant").
 */
export const GRANTING_ROLES: Readonly<Record<string, string>> = {
  '62e90394-69f5-4237-9190-012177145e10': 'Global Administrator',
  'e8611ab8-c189-46e8-94e1-60213ab1f814': 'Privileged Role Administrator',
};

/** Tenants whose signing keys and issuer are kept per process; the cache starts over past this. */
const MAX_KEY_SETS = 256;
const METADATA_TIMEOUT_MS = 10_000;
/** Clock skew allowed between Entra ID and this host when checking `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE_S = 300;

/** Who signed in, from a verified ID token. */
export interface SignedInUser {
  tenantId: string;
  objectId: string;
  /** Directory role template IDs; undefined when the token has no `wids` claim (see `docs/permissions.md`). */
  roles: string[] | undefined;
}

/** Why a sign-in could not be turned into a verified user; `unavailable` is ours or Entra ID's, not the admin's. */
export class SignInError extends Error {
  constructor(
    readonly reason: 'code_rejected' | 'token_invalid' | 'unavailable',
    /** What happened, for the log (no token, code or secret). */
    readonly detail: string,
  ) {
    super(`sign-in ${reason}: ${detail}`);
    this.name = 'SignInError';
  }
}

export interface AdminSignInOptions {
  clientId: string;
  /** The authority host root, e.g. `https://login.microsoftonline.com`. */
  authorityHost: string;
  authorityIsPublicCloud: boolean;
  /** The registered redirect URI the code comes back to. */
  redirectUri: string;
  /** How MSAL authenticates as the app: the configured credential's current version (docs/credentials.md). */
  clientAuth: () => Promise<MsalClientAuth>;
}

/** What a sign-in request needs to carry, fresh for every flow. */
export interface SignInRequest {
  /** The tenant segment of the authority: `organizations`, or the tenant an invitation names. */
  authority: string;
  state: string;
  nonce: string;
  verifier: string;
}

/**
 * Signs the customer's admin in before consent: the OpenID Connect authorization code flow with PKCE and a nonce,
 * through MSAL (`@azure/msal-node`) with the app's credential, then the ID token verified here with `jose`:
 * signature by the keys of the tenant it names, issuer from that tenant's metadata, audience, nonce and lifetime.
 * MSAL reads the ID token but does not check its signature, so nothing from it is trusted before this check.
 *
 * Every code redemption uses its own short-lived MSAL application: its token cache then holds one user and is
 * dropped with it, so sign-ins do not pile up in memory.
 */
export class AdminSignIn {
  readonly #options: AdminSignInOptions;
  readonly #keySets = new Map<string, { issuer: string; keys: JWTVerifyGetKey }>();
  /**
   * The MSAL application that only builds sign-in URLs: it holds no tokens, and its cache keeps the authority's
   * metadata, so an anonymous visit to the start route costs Entra ID no request after the first.
   */
  #urlClient: Promise<ConfidentialClientApplication> | undefined;

  constructor(options: AdminSignInOptions) {
    this.#options = options;
  }

  /** A fresh PKCE verifier and its S256 challenge. */
  static async pkce(): Promise<{ verifier: string; challenge: string }> {
    return new CryptoProvider().generatePkceCodes();
  }

  async #client(): Promise<ConfidentialClientApplication> {
    const host = new URL(this.#options.authorityHost).host;
    return new ConfidentialClientApplication({
      auth: {
        clientId: this.#options.clientId,
        authority: `${this.#options.authorityHost}/organizations`,
        ...(await this.#options.clientAuth()),
        ...(this.#options.authorityIsPublicCloud ? {} : { knownAuthorities: [host] }),
      },
      system: {
        loggerOptions: {
          logLevel: LogLevel.Error,
          piiLoggingEnabled: false,
          loggerCallback: () => undefined,
        },
      },
    });
  }

  #authority(segment: string): string {
    return `${this.#options.authorityHost}/${encodeURIComponent(segment)}`;
  }

  /** The URL of Entra ID's sign-in page for this request (`domainHint`: the domain the admin typed, if any). */
  async authorizeUrl(request: SignInRequest & { challenge: string; domainHint?: string }): Promise<string> {
    this.#urlClient ??= this.#client();
    try {
      const client = await this.#urlClient;
      return await client.getAuthCodeUrl({
        authority: this.#authority(request.authority),
        scopes: ['openid', 'profile'],
        redirectUri: this.#options.redirectUri,
        responseMode: 'query',
        state: request.state,
        nonce: request.nonce,
        codeChallenge: request.challenge,
        codeChallengeMethod: 'S256',
        prompt: 'select_account',
        ...(request.domainHint ? { domainHint: request.domainHint } : {}),
      });
    } catch (error) {
      this.#urlClient = undefined;
      throw new SignInError('unavailable', describe(error));
    }
  }

  /** Redeems the code with the PKCE verifier and returns the verified user. Throws `SignInError`. */
  async redeem(request: SignInRequest, code: string): Promise<SignedInUser> {
    const client = await this.#client();
    let result: AuthenticationResult;
    try {
      result = await client.acquireTokenByCode(
        {
          authority: this.#authority(request.authority),
          code,
          scopes: ['openid', 'profile'],
          redirectUri: this.#options.redirectUri,
          codeVerifier: request.verifier,
          state: request.state,
        },
        { code, state: request.state, nonce: request.nonce },
      );
    } catch (error) {
      const rejected = error instanceof AuthError && /invalid_grant|nonce|state/i.test(error.errorCode);
      throw new SignInError(rejected ? 'code_rejected' : 'unavailable', describe(error));
    }
    if (!result.idToken) throw new SignInError('token_invalid', 'no ID token in the answer');
    return this.verifyIdToken(result.idToken, request.nonce);
  }

  /** Verifies an ID token as issued to this app for this nonce. Throws `SignInError`. */
  async verifyIdToken(idToken: string, nonce: string): Promise<SignedInUser> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(idToken);
    } catch {
      throw new SignInError('token_invalid', 'the ID token is not a JWT');
    }
    const tenantId = typeof unverified.tid === 'string' ? unverified.tid.toLowerCase() : '';
    if (!LOWERCASE_GUID.test(tenantId))
      throw new SignInError('token_invalid', 'the ID token has no tenant ID');
    const { issuer, keys } = await this.#keysOf(tenantId);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, keys, {
        issuer,
        audience: this.#options.clientId,
        algorithms: ['RS256'],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'iat', 'nonce', 'tid', 'oid'],
      }));
    } catch (error) {
      throw new SignInError(
        'token_invalid',
        error instanceof Error ? `${error.name}: ${error.message}` : 'invalid',
      );
    }
    if (payload.nonce !== nonce) throw new SignInError('token_invalid', 'the nonce does not match');
    if (payload.tid !== tenantId) throw new SignInError('token_invalid', 'the tenant ID changed');
    const wids = payload.wids;
    return {
      tenantId,
      objectId: String(payload.oid),
      roles: Array.isArray(wids) ? wids.filter((id): id is string => typeof id === 'string') : undefined,
    };
  }

  /** The issuer and signing keys of one tenant, from its OpenID configuration on the configured authority. */
  async #keysOf(tenantId: string): Promise<{ issuer: string; keys: JWTVerifyGetKey }> {
    const known = this.#keySets.get(tenantId);
    if (known) return known;
    const authority = this.#options.authorityHost;
    let metadata: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const answer = await fetch(`${authority}/${tenantId}/v2.0/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(METADATA_TIMEOUT_MS),
        redirect: 'error',
      });
      if (!answer.ok) throw new Error(`OpenID configuration answered ${answer.status}`);
      metadata = (await answer.json()) as typeof metadata;
    } catch (error) {
      throw new SignInError('unavailable', describe(error));
    }
    const { issuer, jwks_uri: jwksUri } = metadata;
    if (
      typeof issuer !== 'string' ||
      typeof jwksUri !== 'string' ||
      !URL.canParse(jwksUri) ||
      new URL(jwksUri).origin !== new URL(authority).origin ||
      !issuer.startsWith('https://') ||
      !issuer.endsWith(`/${tenantId}/v2.0`)
    ) {
      throw new SignInError('token_invalid', "the tenant's OpenID configuration is not usable");
    }
    const entry = {
      issuer,
      keys: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: METADATA_TIMEOUT_MS }),
    };
    if (this.#keySets.size >= MAX_KEY_SETS) this.#keySets.clear();
    this.#keySets.set(tenantId, entry);
    return entry;
  }
}

/** Whether any of the roles can grant application permissions for Microsoft Graph. */
export function canGrantAppPermissions(roles: readonly string[]): boolean {
  return roles.some((role) => role.toLowerCase() in GRANTING_ROLES);
}

function describe(error: unknown): string {
  if (error instanceof AuthError) return `${error.errorCode}${error.subError ? `/${error.subError}` : ''}`;
  return error instanceof Error ? error.name : 'unknown';
}
