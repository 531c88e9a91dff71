/**
 * The product's typed errors. Callers branch on `code` (a closed union per class) and on statuses, never on
 * message text. Messages never carry a secret, a token or a state value; ids travel as fields.
 */

/** Base of every error the product throws on purpose. */
export abstract class DriveCrawlerError<C extends string = string> extends Error {
  abstract override readonly name: string;
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** An error about one tenant; the tenant's id travels as a field (it is in the message too: it is not a secret). */
export abstract class TenantScopedError<C extends string = string> extends DriveCrawlerError<C> {
  readonly tenantId: string;
  constructor(code: C, tenantId: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.tenantId = tenantId;
  }
}

/** The environment is incomplete or wrong; every problem is listed. */
export class ConfigError extends DriveCrawlerError<'config_invalid'> {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('config_invalid', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** Why Entra ID refused a token, reduced to what the product does about it (docs/graph-facts.md, "Token errors"). */
export type TokenErrorCode =
  /** The app was removed, disabled or never consented in the tenant: mark it `revoked`. */
  | 'tenant_revoked'
  /** A reason on the tenant's side (not found, conditional access): mark it `error`, try next run. */
  | 'tenant_error'
  /** Worth retrying after a pause (Entra ID 5xx, transient AADSTS codes, replication lag). */
  | 'transient'
  /**
   * The app's own credential was refused (a wrong or expired secret or certificate, a federated credential that
   * does not match): the operator must act; fail the run loudly.
   */
  | 'app_credential_rejected';

export class TokenError extends TenantScopedError<TokenErrorCode> {
  override readonly name = 'TokenError';
  /** The AADSTS number when Entra ID gave one. */
  readonly aadsts: number | undefined;
  constructor(
    code: TokenErrorCode,
    tenantId: string,
    aadsts: number | undefined,
    options?: { cause?: unknown },
  ) {
    const reason = aadsts ? `${code}, AADSTS${aadsts}` : code;
    super(code, tenantId, `Token request for tenant ${tenantId} failed (${reason})`, options);
    this.aadsts = aadsts;
  }
}

export type CredentialErrorCode =
  /** The vault has no such secret or certificate, or no enabled value for it. */
  | 'credential_missing'
  /** Its end date has passed. */
  | 'credential_expired'
  /** The vault or the managed-identity endpoint did not answer. */
  | 'credential_unavailable'
  /** It is there but cannot be used as it is (a PKCS#12 certificate, a PEM without its key). */
  | 'credential_unusable';

/**
 * The app's own credential (a client secret or a certificate from Key Vault, or a managed identity's token) could
 * not be had, or is no longer valid. `credential` names it (`client secret "name"`), never its value.
 */
export class CredentialError extends DriveCrawlerError<CredentialErrorCode> {
  override readonly name = 'CredentialError';
  readonly credential: string;
  constructor(code: CredentialErrorCode, credential: string, detail: string, options?: { cause?: unknown }) {
    super(code, `The app's ${credential}: ${detail}`, options);
    this.credential = credential;
  }
}

export type GraphErrorCode =
  | 'graph_not_found'
  | 'graph_forbidden'
  | 'graph_unauthorized'
  | 'graph_throttled'
  | 'graph_unavailable'
  | 'graph_bad_request'
  | 'graph_failed';

/** A Microsoft Graph answer that was not a success, with Graph's own error code kept as a field. */
export class GraphError extends TenantScopedError<GraphErrorCode> {
  override readonly name = 'GraphError';
  readonly status: number;
  readonly graphCode: string | undefined;
  constructor(
    code: GraphErrorCode,
    tenantId: string,
    status: number,
    graphCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    const answer = graphCode ? `${status} ${graphCode}` : String(status);
    super(code, tenantId, `Graph answered ${answer} for tenant ${tenantId}`, options);
    this.status = status;
    this.graphCode = graphCode;
  }
}

export type RegistryErrorCode = 'tenant_not_found' | 'tenant_not_crawlable' | 'run_in_progress';

/** A request about a tenant that the registry cannot honour. */
export class RegistryError extends TenantScopedError<RegistryErrorCode> {
  override readonly name = 'RegistryError';
}

/** Turns anything thrown into an Error, so it can be logged and rethrown with a stack. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(`Non-error thrown: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}
