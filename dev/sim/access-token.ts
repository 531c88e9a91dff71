import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Lifetime of an access token, in real seconds, as Entra ID reports it for client credentials. */
export const TOKEN_LIFETIME_SECONDS = 3599;

/** Verified tokens remembered at most (then the memory starts over). */
const CHECKED_TOKENS = 10_000;

/** The claims the simulator puts in an access token (a subset of Entra ID's): app-only, or a signed-in user's. */
export interface AccessTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  appid: string;
  azp: string;
  tid: string;
  oid: string;
  sub: string;
  roles?: string[];
  /** Delegated permissions, in a token issued to a signed-in user. */
  scp?: string;
  idtyp: 'app' | 'user';
  ver: '2.0';
  uti: string;
}

/**
 * The claims every access token of the simulator has: issuer and tenant, lifetime from `nowMs`, the app, the
 * subject, a unique ID. Callers add the audience, roles or delegated scopes.
 */
export function baseAccessClaims(fields: {
  url: string;
  tenantId: string;
  clientId: string;
  nowMs: number;
  oid: string;
  sub: string;
  aud: string;
  idtyp: 'app' | 'user';
}): AccessTokenClaims {
  const issuedAt = Math.floor(fields.nowMs / 1000);
  return {
    aud: fields.aud,
    iss: `${fields.url}/${fields.tenantId}/v2.0`,
    iat: issuedAt,
    nbf: issuedAt,
    exp: issuedAt + TOKEN_LIFETIME_SECONDS,
    appid: fields.clientId,
    azp: fields.clientId,
    tid: fields.tenantId,
    oid: fields.oid,
    sub: fields.sub,
    idtyp: fields.idtyp,
    ver: '2.0',
    uti: randomBytes(16).toString('base64url'),
  };
}

/** Why a presented token was refused, in Graph's words. */
export type TokenCheck = { valid: true; claims: AccessTokenClaims } | { valid: false; reason: string };

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

function isClaims(value: unknown): value is AccessTokenClaims {
  if (typeof value !== 'object' || value === null) return false;
  const claims = value as Record<string, unknown>;
  return (
    typeof claims.aud === 'string' &&
    typeof claims.tid === 'string' &&
    typeof claims.appid === 'string' &&
    typeof claims.exp === 'number' &&
    typeof claims.nbf === 'number' &&
    (claims.roles === undefined ||
      (Array.isArray(claims.roles) && claims.roles.every((r) => typeof r === 'string')))
  );
}

function checkLifetime(claims: AccessTokenClaims, nowSeconds: number): TokenCheck {
  if (claims.exp <= nowSeconds)
    return { valid: false, reason: 'Lifetime validation failed, the token is expired.' };
  if (claims.nbf > nowSeconds + 300) {
    return { valid: false, reason: 'Lifetime validation failed, the token is not yet valid.' };
  }
  return { valid: true, claims };
}

/**
 * Issues and checks the simulator's JWT-shaped access tokens (HS256 with a key made per simulator), so Graph and
 * Key Vault accept exactly the tokens this simulator's token endpoint handed out, and nothing else.
 */
export class TokenSigner {
  private readonly key = randomBytes(32);
  /** Tokens whose signature and shape were checked already (a crawl presents the same few tokens over and over). */
  private readonly checked = new Map<string, AccessTokenClaims>();

  /** Signs the claims into `header.payload.signature`. */
  issue(claims: AccessTokenClaims): string {
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'HS256', kid: 'sim' }));
    const payload = base64url(JSON.stringify(claims));
    return `${header}.${payload}.${this.sign(`${header}.${payload}`)}`;
  }

  /** Checks signature, shape and lifetime at wall-clock time `nowSeconds`. */
  verify(token: string, nowSeconds: number): TokenCheck {
    const known = this.checked.get(token);
    if (known) return checkLifetime(known, nowSeconds);
    const parts = token.split('.');
    const [header, payload, signature] = parts;
    if (parts.length !== 3 || !header || !payload || !signature) {
      return { valid: false, reason: 'IDX14100: JWT is not well formed, there are no dots (.).' };
    }
    const expected = Buffer.from(this.sign(`${header}.${payload}`));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return { valid: false, reason: 'Access token validation failure. Invalid signature.' };
    }
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { valid: false, reason: 'Access token validation failure.' };
    }
    if (!isClaims(claims)) return { valid: false, reason: 'Access token validation failure.' };
    if (this.checked.size >= CHECKED_TOKENS) this.checked.clear();
    this.checked.set(token, claims);
    return checkLifetime(claims, nowSeconds);
  }

  private sign(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64url');
  }
}
