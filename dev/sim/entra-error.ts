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

/** AADSTS7000216: client credentials without any credential. */
export function missingCredentialError(): EntraError {
  return {
    status: 401,
    error: 'invalid_client',
    code: 7000216,
    text: "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
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
