import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { TokenError } from '../errors';
import type { AppCredential, AppCredentialVersion } from './app-credential';
import { classifyTokenFailure } from './token-errors';

/** A cached token is handed out until this long before it expires (unless MSAL names an earlier refresh time). */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;

/** Whether a cached token may still be handed out. */
function isFresh(token: AccessToken): boolean {
  return Date.now() < (token.refreshAfterTimestamp ?? token.expiresOnTimestamp - REFRESH_BEFORE_EXPIRY_MS);
}

/**
 * App-only credentials for customer tenants: one SDK credential per tenant (its token cache lives in the
 * instance), of the kind `APP_CREDENTIAL` names, rebuilt when the app's credential is rotated. Failures become
 * `TokenError`s with a code that says what to do; a rejected credential is read again once (a rotated secret or
 * certificate may be in the vault already) before it is reported.
 */
export class TenantCredentials {
  readonly #app: AppCredential;
  readonly #byTenant = new Map<string, { version: string; credential: TokenCredential }>();
  /**
   * The latest token per tenant and scopes. MSAL caches tokens too, but each lookup there costs about 0.7 ms of
   * CPU (cache filtering, authority resolution, logging), once per Graph round trip: measured as 6 µs per stored
   * item on the benchmark's large tenant. Dropped with the tenant's credential.
   */
  readonly #tokens = new Map<string, AccessToken>();
  /** Bumped by `forget`: a token fetched across a `forget` is handed out once but not cached. */
  readonly #epochs = new Map<string, number>();

  constructor(app: AppCredential) {
    this.#app = app;
  }

  /** A TokenCredential for one tenant, for SDK clients (the Graph client's auth provider). */
  forTenant(tenantId: string): TokenCredential {
    return { getToken: (scopes, options) => this.getToken(tenantId, scopes, options) };
  }

  /** Gets an app-only token for the tenant. Throws `TokenError`. */
  async getToken(
    tenantId: string,
    scopes: string | string[],
    options?: GetTokenOptions,
  ): Promise<AccessToken> {
    const key = `${tenantId} ${Array.isArray(scopes) ? scopes.join(' ') : scopes}`;
    const cached = this.#tokens.get(key);
    if (cached && !options?.claims && isFresh(cached)) return cached;
    const epoch = this.#epochs.get(tenantId) ?? 0;
    const token = await this.#acquire(tenantId, scopes, options);
    if ((this.#epochs.get(tenantId) ?? 0) === epoch) this.#tokens.set(key, token);
    return token;
  }

  async #acquire(
    tenantId: string,
    scopes: string | string[],
    options: GetTokenOptions | undefined,
  ): Promise<AccessToken> {
    let current = await this.#app.current();
    try {
      return await this.#request(tenantId, current, scopes, options);
    } catch (error) {
      const failure = classifyTokenFailure(error);
      // MSAL answers a request that just got a 5xx or 429 from its own throttling cache for up to 60 s, without
      // asking Entra ID: after a transient failure the next attempt must come from a fresh credential.
      if (failure.code === 'transient') this.forget(tenantId);
      if (failure.code !== 'app_credential_rejected')
        throw new TokenError(failure.code, tenantId, failure.aadsts, { cause: error });
      // A rotated secret or certificate may be in the vault already: read it again once, and use it if it is new.
      const fresh = await this.#app.refresh();
      if (fresh.version === current.version) {
        throw new TokenError(failure.code, tenantId, failure.aadsts, { cause: error });
      }
      current = fresh;
    }
    try {
      return await this.#request(tenantId, current, scopes, options);
    } catch (error) {
      const failure = classifyTokenFailure(error);
      if (failure.code === 'transient') this.forget(tenantId);
      throw new TokenError(failure.code, tenantId, failure.aadsts, { cause: error });
    }
  }

  async #request(
    tenantId: string,
    current: AppCredentialVersion,
    scopes: string | string[],
    options: GetTokenOptions | undefined,
  ): Promise<AccessToken> {
    let entry = this.#byTenant.get(tenantId);
    if (!entry || entry.version !== current.version) {
      entry = { version: current.version, credential: current.forTenant(tenantId) };
      this.#byTenant.set(tenantId, entry);
    }
    const token = await entry.credential.getToken(scopes, options);
    // The TokenCredential contract allows null; the SDK's credentials throw instead, but a null is no token.
    if (!token) throw new Error(`No token for tenant ${tenantId}`);
    return token;
  }

  /**
   * The tenant ID a domain signs in to (the `tid` of an app-only token for it), keeping no credential for the
   * domain afterwards. Throws `TokenError` when Entra ID gives no token.
   */
  async tenantIdOf(domain: string, scopes: string): Promise<string | undefined> {
    try {
      return tokenClaims((await this.getToken(domain, scopes)).token).tid;
    } finally {
      this.release(domain);
    }
  }

  /** Tenants this process holds a credential or a token for (their number is what memory grows with). */
  get cachedTenants(): number {
    const tenants = new Set(this.#byTenant.keys());
    for (const key of this.#tokens.keys()) tenants.add(key.slice(0, key.indexOf(' ')));
    return tenants.size;
  }

  /**
   * Drops everything held for a tenant that is not going to be used again (a consent callback's tenant that proved
   * not to be a customer): unlike `forget`, not even its counter stays, so anonymous callers cannot grow memory.
   */
  release(tenantId: string): void {
    this.forget(tenantId);
    this.#epochs.delete(tenantId);
  }

  /** Forgets a tenant's credential (after revocation), so its cached token is not reused. */
  forget(tenantId: string): void {
    this.#epochs.set(tenantId, (this.#epochs.get(tenantId) ?? 0) + 1);
    this.#byTenant.delete(tenantId);
    for (const key of this.#tokens.keys()) if (key.startsWith(`${tenantId} `)) this.#tokens.delete(key);
  }
}

/** The claims the product reads from an access token: only as hints (docs/graph-facts.md, "Access tokens"). */
export function tokenClaims(token: string): { tid?: string; roles?: string[] } {
  const payload = token.split('.')[1];
  if (!payload) return {};
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    return {
      tid: typeof claims.tid === 'string' ? claims.tid.toLowerCase() : undefined,
      roles: Array.isArray(claims.roles)
        ? claims.roles.filter((r): r is string => typeof r === 'string')
        : undefined,
    };
  } catch {
    return {};
  }
}
