import type { JsonWebKey, KeyObject } from 'node:crypto';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: JsonWebKey;
}

/** The claims of an ID token as Entra ID's v2.0 endpoint issues it (the subset the simulator fills). */
export interface IdTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  tid: string;
  oid: string;
  sub: string;
  name: string;
  preferred_username: string;
  nonce?: string;
  /** Directory role template IDs; only when the app registration asks for them (`groupMembershipClaims`). */
  wids?: string[];
  ver: '2.0';
  uti: string;
}

/**
 * RS256 signing keys, one per tenant, made on first use (an RSA key takes tens of milliseconds to generate, and
 * most simulated tenants never sign anyone in). A tenant's keys are published at its `discovery/v2.0/keys`; a
 * token signed with one tenant's key does not verify with another's.
 */
export class IdTokenKeys {
  private readonly keys = new Map<string, SigningKey>();

  private keyOf(tenantId: string): SigningKey {
    let key = this.keys.get(tenantId);
    if (!key) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const kid = randomBytes(20).toString('base64url');
      key = {
        kid,
        privateKey,
        jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' },
      };
      this.keys.set(tenantId, key);
    }
    return key;
  }

  /** The public keys of one tenant (or of every tenant that has keys, for `common` and `organizations`). */
  jwks(tenantId: string | undefined): { keys: JsonWebKey[] } {
    if (tenantId !== undefined) return { keys: [this.keyOf(tenantId).jwk] };
    return { keys: [...this.keys.values()].map((key) => key.jwk) };
  }

  /** Signs the claims with the tenant's key: `header.payload.signature`, RS256. */
  issue(claims: IdTokenClaims): string {
    return this.sign(claims.tid, claims);
  }

  /** Signs any claims with the tenant's key (the managed-identity endpoint's tokens are signed so too). */
  sign(tenantId: string, claims: object): string {
    const key = this.keyOf(tenantId);
    const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signingInput = `${encode({ typ: 'JWT', alg: 'RS256', kid: key.kid })}.${encode(claims)}`;
    const signature = sign('sha256', Buffer.from(signingInput), key.privateKey).toString('base64url');
    return `${signingInput}.${signature}`;
  }

  /**
   * True when `token` is RS256-signed with the key of `tenantId` (the one its `kid` names), as a relying party
   * checks it against the tenant's published keys. Never makes a key: a tenant without one signed nothing.
   */
  verifies(tenantId: string, token: string): boolean {
    const key = this.keys.get(tenantId);
    const [header, payload, signature] = token.split('.');
    if (!key || !header || !payload || !signature) return false;
    try {
      const parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as {
        alg?: unknown;
        kid?: unknown;
      };
      if (parsed.alg !== 'RS256' || parsed.kid !== key.kid) return false;
      const publicKey = { key: key.jwk, format: 'jwk' } as const;
      return verify(
        'sha256',
        Buffer.from(`${header}.${payload}`),
        publicKey,
        Buffer.from(signature, 'base64url'),
      );
    } catch {
      return false;
    }
  }
}
