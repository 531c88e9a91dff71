import { constants, verify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AppRecord } from './app-registry';
import type { CloudState } from './cloud-state';
import type { EntraError } from './entra-error';
import {
  assertionAudienceError,
  assertionClientMismatchError,
  assertionTimeError,
  assertionTypeError,
  badSignatureError,
  expiredSecretError,
  federatedMismatchError,
  keyExpiredError,
  keyNotFoundError,
  malformedAssertionError,
  missingCredentialError,
  missingParameterError,
  noFederatedMatchError,
  revokedCertificateError,
  subjectMismatchError,
  wrongSecretError,
} from './entra-error';
import { header } from './http-kit';
import type { SeededTenant } from './seeded-tenant';

/** The only client assertion type Entra ID takes (RFC 7523). */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Clock skew Entra ID allows on an assertion's `exp` and `nbf`. */
const SKEW_SECONDS = 300;

/** What a token request presents to authenticate the client: a secret (post or basic) or an assertion. */
export interface PresentedCredential {
  clientId?: string;
  secret?: string;
  assertionType?: string;
  assertion?: string;
}

/** Where the request came in: the grant, and the tenant as the path named it (the assertion's `aud` must match). */
export interface ClientAuthContext {
  grantType: 'client_credentials' | 'authorization_code';
  pathTenant: string;
  tenant: SeededTenant | undefined;
}

interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: Buffer;
  signature: Buffer;
}

/** The client ID and credential of a token request: `client_secret_basic`, else the form's fields. */
export function presentedCredential(req: IncomingMessage, form: URLSearchParams): PresentedCredential {
  const assertion = {
    assertionType: form.get('client_assertion_type') ?? undefined,
    assertion: form.get('client_assertion') ?? undefined,
  };
  const basic = /^Basic\s+(.+)$/i.exec(header(req.headers, 'authorization') ?? '');
  if (basic?.[1]) {
    const [id, ...rest] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    return {
      clientId: decodeURIComponent(id ?? ''),
      secret: decodeURIComponent(rest.join(':')),
      ...assertion,
    };
  }
  return {
    clientId: form.get('client_id') ?? undefined,
    secret: form.get('client_secret') ?? undefined,
    ...assertion,
  };
}

/**
 * Authenticates the client of a token request, for both grants (the credential step of Entra ID's order, after
 * the tenant, the request's shape and the service principal): an assertion when one is sent (a secret sent along
 * is then ignored), else the secret; neither is AADSTS7000216 (client credentials) or 7000218 (a code). Returns
 * the refusal, or undefined when the client proved who it is.
 */
export function authenticateClient(
  state: CloudState,
  app: AppRecord,
  presented: PresentedCredential,
  context: ClientAuthContext,
): EntraError | undefined {
  const now = state.wall();
  if (presented.assertion !== undefined || presented.assertionType !== undefined) {
    if (presented.assertionType !== JWT_BEARER) return assertionTypeError(presented.assertionType);
    if (!presented.assertion) return missingParameterError('client_assertion');
    const jwt = decodeJwt(presented.assertion);
    if (!jwt) return malformedAssertionError();
    const certificate = 'x5t#S256' in jwt.header || 'x5t' in jwt.header;
    return certificate
      ? checkCertificateAssertion(state, app, jwt, context, now)
      : checkFederatedAssertion(state, app, presented.assertion, jwt, now);
  }
  if (!presented.secret) return missingCredentialError(context.grantType);
  const secretCheck = state.apps.checkSecret(app, presented.secret, now);
  if (secretCheck === 'wrong') return wrongSecretError(app.clientId);
  if (secretCheck === 'expired') return expiredSecretError(app.clientId);
  return undefined;
}

function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  const [headerPart, payloadPart, signaturePart] = parts;
  if (parts.length !== 3 || !headerPart || !payloadPart || !signaturePart) return undefined;
  try {
    const decoded = [headerPart, payloadPart].map((part): unknown =>
      JSON.parse(Buffer.from(part, 'base64url').toString('utf8')),
    );
    const [jwtHeader, claims] = decoded;
    if (!isObject(jwtHeader) || !isObject(claims)) return undefined;
    return {
      header: jwtHeader,
      claims,
      signingInput: Buffer.from(`${headerPart}.${payloadPart}`),
      signature: Buffer.from(signaturePart, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `exp` (required) and `nbf` (optional) against now, with Entra ID's five minutes of skew. */
function checkLifetime(claims: Record<string, unknown>, nowMs: number): EntraError | undefined {
  const nowSeconds = nowMs / 1000;
  const exp = typeof claims.exp === 'number' ? claims.exp : 0;
  const nbf = typeof claims.nbf === 'number' ? claims.nbf : 0;
  if (exp + SKEW_SECONDS < nowSeconds || nbf - SKEW_SECONDS > nowSeconds) {
    return assertionTimeError(nowMs, nbf * 1000, exp * 1000);
  }
  return undefined;
}

/**
 * The token endpoint URLs an assertion may name as `aud`: the one the request was sent to (MSAL puts the
 * endpoint of the authority it was given, so the path's tenant, a GUID or a domain) and the same with the
 * tenant's GUID or domain, v2.0 or v1.
 */
function tokenEndpoints(state: CloudState, context: ClientAuthContext): string[] {
  const names = new Set([context.pathTenant.toLowerCase()]);
  if (context.tenant) {
    names.add(context.tenant.tenantId);
    names.add(context.tenant.domain.toLowerCase());
  }
  return [...names].flatMap((name) => [
    `${state.url}/${name}/oauth2/v2.0/token`,
    `${state.url}/${name}/oauth2/token`,
  ]);
}

/**
 * A certificate assertion ("Microsoft identity platform certificate credentials"), as MSAL 5.6 makes one: PS256
 * with `x5t#S256` (base64url of the SHA-256 thumbprint) or RS256 with `x5t` (SHA-1). Checks the key (700027 not
 * found or expired, 7000214 revoked), the algorithm and signature (700027), `aud` (700023), `sub` = `iss` (50048)
 * = the client ID (700021), and `exp`/`nbf` (700024). `jti` is not checked for replay: MSAL reuses one assertion
 * for its ten minutes, and Entra ID accepts that.
 */
function checkCertificateAssertion(
  state: CloudState,
  app: AppRecord,
  jwt: DecodedJwt,
  context: ClientAuthContext,
  now: number,
): EntraError | undefined {
  const sha256 = 'x5t#S256' in jwt.header;
  const presented = jwt.header[sha256 ? 'x5t#S256' : 'x5t'];
  const thumbprint = typeof presented === 'string' ? Buffer.from(presented, 'base64url').toString('hex') : '';
  const shown = thumbprint.toUpperCase();
  const key = app.certificates.find(
    (certificate) =>
      (sha256 ? certificate.thumbprintSha256Hex : certificate.thumbprintSha1Hex) === thumbprint,
  );
  if (!thumbprint || !key) return keyNotFoundError(app.clientId, shown);
  if (now > key.notAfter) return keyExpiredError(shown, key.notBefore, key.notAfter);
  if (key.revoked) return revokedCertificateError();
  if (jwt.header.alg !== (sha256 ? 'PS256' : 'RS256')) return badSignatureError(shown);
  const publicKey = sha256
    ? {
        key: key.publicKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      }
    : key.publicKey;
  if (!verify('sha256', jwt.signingInput, publicKey, jwt.signature)) return badSignatureError(shown);

  const { aud, iss, sub } = jwt.claims;
  if (typeof aud !== 'string' || !tokenEndpoints(state, context).includes(aud.toLowerCase())) {
    return assertionAudienceError();
  }
  if (sub !== iss) return subjectMismatchError();
  if (typeof iss !== 'string' || iss.toLowerCase() !== app.clientId) return assertionClientMismatchError();
  return checkLifetime(jwt.claims, now);
}

/** The simulator's tenant whose issuer (`<sim url>/<tenant ID>/v2.0`) the assertion names, if any. */
function simulatorIssuerTenant(state: CloudState, issuer: string): SeededTenant | undefined {
  const prefix = `${state.url}/`;
  if (!issuer.startsWith(prefix) || !issuer.endsWith('/v2.0')) return undefined;
  const tenant = state.tenant(issuer.slice(prefix.length, -'/v2.0'.length));
  return tenant && issuer === `${prefix}${tenant.tenantId}/v2.0` ? tenant : undefined;
}

/**
 * A federated assertion ("Configure an application to trust a managed identity"): a token of another issuer,
 * here the simulator's managed-identity endpoint. Its signature is checked with the issuing tenant's published
 * key (700027) and its lifetime (700024); then the app's federated credentials, exactly and case-sensitively: none
 * at all 70021, else the most specific miss, issuer 700211, audience 700212, subject 700213. The simulator holds
 * keys of its own tenants only: a token of any other issuer that matches a credential fails signature validation.
 */
function checkFederatedAssertion(
  state: CloudState,
  app: AppRecord,
  token: string,
  jwt: DecodedJwt,
  now: number,
): EntraError | undefined {
  const { iss, sub, aud } = jwt.claims;
  const issuer = typeof iss === 'string' ? iss : '';
  const subject = typeof sub === 'string' ? sub : '';
  const audiences = (Array.isArray(aud) ? aud : [aud]).filter(
    (value): value is string => typeof value === 'string',
  );
  const issuerTenant = simulatorIssuerTenant(state, issuer);
  if (issuerTenant && !state.idTokenKeys.verifies(issuerTenant.tenantId, token)) return badSignatureError();
  const lifetime = checkLifetime(jwt.claims, now);
  if (lifetime) return lifetime;

  const credentials = app.federatedCredentials;
  if (credentials.length === 0) return noFederatedMatchError(issuer, subject, audiences.join(', '));
  const byIssuer = credentials.filter((credential) => credential.issuer === issuer);
  if (byIssuer.length === 0) return federatedMismatchError('issuer', issuer);
  const byAudience = byIssuer.filter((credential) => credential.audiences.some((a) => audiences.includes(a)));
  if (byAudience.length === 0) return federatedMismatchError('audience', audiences.join(', '));
  if (!byAudience.some((credential) => credential.subject === subject)) {
    return federatedMismatchError('subject', subject);
  }
  return issuerTenant ? undefined : badSignatureError();
}
