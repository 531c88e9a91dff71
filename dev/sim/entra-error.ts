import { randomUUID } from 'node:crypto';
import type { RevocationCode } from './types';

/** An error as Entra ID's token endpoint reports it: HTTP status, OAuth `error`, AADSTS number and text. */
export interface EntraError {
  status: number;
  error: string;
  code: number;
  /** The description after `AADSTSnnnn: `. */
  text: string;
}

/** Entra ID's timestamp format (`2024-05-01 10:11:12Z`). */
function entraTimestamp(now: Date): string {
  return now
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The JSON body Entra ID answers with: `error_description` starts with `AADSTSnnnn:` and ends with the trace and
 * correlation IDs, and the number is repeated in `error_codes`.
 */
export function entraErrorBody(
  error: EntraError,
  correlationId: string | undefined,
  now: Date,
): Record<string, unknown> {
  const traceId = randomUUID();
  const correlation = correlationId ?? randomUUID();
  const timestamp = entraTimestamp(now);
  return {
    error: error.error,
    error_description:
      `AADSTS${error.code}: ${error.text} Trace ID: ${traceId} Correlation ID: ${correlation} ` +
      `Timestamp: ${timestamp}`,
    error_codes: [error.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlation,
    error_uri: `https://login.microsoftonline.com/error?code=${error.code}`,
  };
}

/** AADSTS90002: the tenant in the URL does not exist. */
export function unknownTenantError(tenant: string): EntraError {
  return {
    status: 400,
    error: 'invalid_tenant',
    code: 90002,
    text:
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the ` +
      'correct cloud. Check with your subscription administrator, this may happen if there are no active ' +
      'subscriptions for the tenant.',
  };
}

/** AADSTS700016: no service principal of that app in the tenant (never consented, or unknown app). */
export function appNotFoundError(clientId: string, tenantLabel: string): EntraError {
  return {
    status: 400,
    error: 'unauthorized_client',
    code: 700016,
    text:
      `Application with identifier '${clientId}' was not found in the directory '${tenantLabel}'. This can happen ` +
      'if the application has not been installed by the administrator of the tenant or consented to by any user ' +
      'in the tenant. You may have sent your authentication request to the wrong tenant.',
  };
}

/** The error for a revocation or replication-lag code, worded as Entra ID words it. */
export function revocationError(code: RevocationCode, clientId: string, tenantLabel: string): EntraError {
  switch (code) {
    case 700016:
      return appNotFoundError(clientId, tenantLabel);
    case 7000229:
      return {
        status: 400,
        error: 'invalid_client',
        code,
        text:
          `The client application ${clientId} is missing service principal in the tenant ${tenantLabel}. See ` +
          'instructions here: https://go.microsoft.com/fwlink/?linkid=2225119',
      };
    case 7000112:
      return {
        status: 400,
        error: 'unauthorized_client',
        code,
        text: `Application '${clientId}' is disabled.`,
      };
    case 65001:
      return {
        status: 400,
        error: 'invalid_grant',
        code,
        text:
          `The user or administrator has not consented to use the application with ID '${clientId}'. Send an ` +
          'interactive authorization request for this user and resource.',
      };
    case 53003:
      return {
        status: 400,
        error: 'invalid_grant',
        code,
        text: 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
      };
  }
}

/** AADSTS7000215: the secret is not one of the app's. */
export function wrongSecretError(clientId: string): EntraError {
  return {
    status: 401,
    error: 'invalid_client',
    code: 7000215,
    text:
      'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, ' +
      `not the client secret ID, for a secret added to app '${clientId}'.`,
  };
}

/** AADSTS7000222: the secret was the app's but has expired. */
export function expiredSecretError(clientId: string): EntraError {
  return {
    status: 401,
    error: 'invalid_client',
    code: 7000222,
    text:
      `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new ` +
      'keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added ' +
      'security: https://aka.ms/certCreds.',
  };
}

/** AADSTS900144: a required form parameter is missing. */
export function missingParameterError(name: string): EntraError {
  return {
    status: 400,
    error: 'invalid_request',
    code: 900144,
    text: `The request body must contain the following parameter: '${name}'.`,
  };
}

/**
 * No credential at all: AADSTS7000216 for client credentials, AADSTS7000218 when redeeming an authorization code
 * (the wording each grant gets from Entra ID).
 */
export function missingCredentialError(grantType = 'client_credentials'): EntraError {
  return grantType === 'client_credentials'
    ? {
        status: 401,
        error: 'invalid_client',
        code: 7000216,
        text: "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      }
    : {
        status: 401,
        error: 'invalid_client',
        code: 7000218,
        text: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      };
}

/** AADSTS70003: a grant type other than client credentials. */
export function unsupportedGrantError(grantType: string): EntraError {
  return {
    status: 400,
    error: 'unsupported_grant_type',
    code: 70003,
    text: `The app requested an unsupported grant type '${grantType}'.`,
  };
}

/** AADSTS1002012: client credentials need `<resource>/.default`. */
export function invalidScopeError(scope: string): EntraError {
  return {
    status: 400,
    error: 'invalid_scope',
    code: 1002012,
    text:
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with ` +
      '/.default suffixed to the resource identifier (application ID URI).',
  };
}

/** AADSTS500011: a resource this tenant does not know. */
export function unknownResourceError(resource: string, tenantLabel: string): EntraError {
  return {
    status: 400,
    error: 'invalid_resource',
    code: 500011,
    text:
      `The resource principal named ${resource} was not found in the tenant named ${tenantLabel}. This can happen ` +
      'if the application has not been installed by the administrator of the tenant or consented to by any user ' +
      'in the tenant. You might have sent your authentication request to the wrong tenant.',
  };
}

/** AADSTS900023: `common`/`organizations` cannot issue app-only tokens. */
export function tenantRequiredError(tenant: string): EntraError {
  return {
    status: 400,
    error: 'invalid_request',
    code: 900023,
    text: `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`,
  };
}

/** An injected outage of the token endpoint (transient codes a daemon retries). */
export function transientError(status: 500 | 503): EntraError {
  return status === 500
    ? {
        status,
        error: 'server_error',
        code: 50033,
        text: 'A transient error has occurred. Please try again.',
      }
    : {
        status,
        error: 'temporarily_unavailable',
        code: 90033,
        text: 'A transient error has occurred. Please try again.',
      };
}

// Client assertions (certificates and federated credentials): dev/sim/client-assertion.ts.

/** Where Entra ID's assertion errors send the reader (named in each message, as Entra ID names it). */
const CERTIFICATE_DOCS = 'https://learn.microsoft.com/entra/identity-platform/certificate-credentials';
const FEDERATION_DOCS = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation';

/** A time as Entra ID prints it in AADSTS700024: ISO 8601 with seven fractional digits. */
function ticks(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/** A certificate's validity as Entra ID quotes a found key: `MM/dd/yyyy HH:mm:ss` (UTC). */
function keyDate(ms: number): string {
  const date = new Date(ms).toISOString();
  return `${date.slice(5, 7)}/${date.slice(8, 10)}/${date.slice(0, 4)} ${date.slice(11, 19)}`;
}

function invalidClient(code: number, text: string): EntraError {
  return { status: 401, error: 'invalid_client', code, text };
}

/** AADSTS50027: the assertion is not a JWT Entra ID can read. */
export function malformedAssertionError(): EntraError {
  return { status: 400, error: 'invalid_request', code: 50027, text: 'JWT token is invalid or malformed.' };
}

/** AADSTS700027: no certificate on the app has the assertion's thumbprint (removed, or never uploaded). */
export function keyNotFoundError(clientId: string, thumbprintHex: string): EntraError {
  return invalidClient(
    700027,
    'The certificate with identifier used to sign the client assertion is not registered on application. ' +
      `[Reason - The key was not found., Thumbprint of key used by client: '${thumbprintHex}', Please visit the ` +
      `Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${clientId}'.]`,
  );
}

/** AADSTS700027: the certificate is the app's but past its end date. */
export function keyExpiredError(thumbprintHex: string, notBefore: number, notAfter: number): EntraError {
  return invalidClient(
    700027,
    `Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used ` +
      `by client: '${thumbprintHex}', Found key 'Start=${keyDate(notBefore)}, End=${keyDate(notAfter)}']`,
  );
}

/** AADSTS700027: the key was found, but the signature does not verify with it (or uses another algorithm). */
export function badSignatureError(thumbprintHex?: string): EntraError {
  return invalidClient(
    700027,
    thumbprintHex === undefined
      ? 'Client assertion failed signature validation.'
      : 'Client assertion failed signature validation. [Reason - Key was found, but use of the key to verify ' +
          `the signature failed., Thumbprint of key used by client: '${thumbprintHex}']`,
  );
}

/** AADSTS7000214: the certificate was revoked. */
export function revokedCertificateError(): EntraError {
  return invalidClient(7000214, 'Certificate has been revoked.');
}

/** AADSTS700023: `aud` is not this tenant's token endpoint. */
export function assertionAudienceError(): EntraError {
  return invalidClient(
    700023,
    `Client assertion audience claim does not match Realm issuer. Review the documentation at ${CERTIFICATE_DOCS} .`,
  );
}

/** AADSTS50048: `sub` differs from `iss`. */
export function subjectMismatchError(): EntraError {
  return invalidClient(50048, 'Subject mismatches Issuer claim in the client assertion.');
}

/** AADSTS700021: `iss` is another application than `client_id` (wording not confirmed; see README). */
export function assertionClientMismatchError(): EntraError {
  return invalidClient(
    700021,
    `Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at ` +
      `${CERTIFICATE_DOCS} .`,
  );
}

/** AADSTS700024: `exp`/`nbf` do not cover now (five minutes of skew allowed). */
export function assertionTimeError(nowMs: number, validFromMs: number, expiresMs: number): EntraError {
  return invalidClient(
    700024,
    `Client assertion is not within its valid time range. Current time: ${ticks(nowMs)}, assertion valid from ` +
      `${ticks(validFromMs)}, expiry time of assertion ${ticks(expiresMs)}. Review the documentation at ` +
      `${CERTIFICATE_DOCS} .`,
  );
}

/** AADSTS70021: the app has no federated credential that matches issuer, subject and audience. */
export function noFederatedMatchError(issuer: string, subject: string, audience: string): EntraError {
  return {
    status: 400,
    error: 'invalid_request',
    code: 70021,
    text:
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${issuer}'. ` +
      `Assertion Subject: '${subject}'. Assertion Audience: '${audience}'. ${FEDERATION_DOCS}`,
  };
}

/** AADSTS700211 / 700212 / 700213: credentials exist, but none matches the issuer, audience or subject. */
export function federatedMismatchError(field: 'issuer' | 'audience' | 'subject', value: string): EntraError {
  const code = { issuer: 700211, audience: 700212, subject: 700213 }[field];
  return invalidClient(
    code,
    `No matching federated identity record found for presented assertion ${field} '${value}'. Please check your ` +
      `federated identity credential Subject, Audience and Issuer against the presented assertion. ${FEDERATION_DOCS}`,
  );
}

/** An assertion without the jwt-bearer type: Entra ID reads no other kind (wording simplified, see README). */
export function assertionTypeError(type: string | undefined): EntraError {
  return {
    status: 400,
    error: 'invalid_request',
    code: 900144,
    text:
      type === undefined
        ? "The request body must contain the following parameter: 'client_assertion_type'."
        : `The client_assertion_type '${type}' is not supported; use ` +
          "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
  };
}
