import type { TokenErrorCode } from '../errors';

/** AADSTS numbers that mean the app is gone from, disabled in, or not consented by the tenant. */
const REVOKED = new Set([700016, 7000229, 65001, 7000112]);
/**
 * The app's own credential was refused, with what each number means in plain words (docs/credentials.md,
 * "When Entra ID refuses the app's credential").
 */
const APP_CREDENTIAL_REFUSALS: ReadonlyMap<number, string> = new Map([
  [7000215, 'the client secret is wrong'],
  [7000222, 'the client secret has expired'],
  [700027, 'the certificate is not registered on the app registration, or has expired'],
  [700024, "the certificate's signed assertion is outside its valid time range (check the clock)"],
  [7000214, 'the certificate was revoked'],
  [
    70021,
    'no federated credential of the app registration matches the managed identity (a new one takes minutes)',
  ],
  [700211, "the federated credential's issuer does not match the managed identity's"],
  [700212, "the federated credential's audience does not match the token exchange's"],
  [700213, "the federated credential's subject is not the managed identity's principal ID"],
]);

/** Why Entra ID refused the app's credential, in plain words (a number it did not document: a generic reason). */
export function credentialRefusalReason(aadsts: number | undefined): string {
  return (
    (aadsts !== undefined && APP_CREDENTIAL_REFUSALS.get(aadsts)) || "Entra ID refused the app's credential"
  );
}
/** Entra ID's transient failures. */
const TRANSIENT = new Set([50033, 90006, 90024, 90033, 90055]);
/** Right after consent, these can be replication lag rather than a real refusal (docs/graph-facts.md). */
export const REPLICATION_LAG_CODES: ReadonlySet<number> = new Set([700016, 65001]);

/** Extracts the AADSTS number from an @azure/identity error (portable across versions: the message). */
export function aadstsOf(error: unknown): number | undefined {
  const text = [
    (error as { message?: unknown }).message,
    ((error as { cause?: { message?: unknown } }).cause ?? {}).message,
  ]
    .filter((part): part is string => typeof part === 'string')
    .join(' ');
  const match = /AADSTS(\d+)/.exec(text);
  return match?.[1] ? Number(match[1]) : undefined;
}

/** Maps a token failure to what the product does about it (docs/graph-facts.md, "Token errors"). */
export function classifyTokenFailure(error: unknown): { code: TokenErrorCode; aadsts: number | undefined } {
  const aadsts = aadstsOf(error);
  if (aadsts !== undefined) {
    if (REVOKED.has(aadsts)) return { code: 'tenant_revoked', aadsts };
    if (APP_CREDENTIAL_REFUSALS.has(aadsts)) return { code: 'app_credential_rejected', aadsts };
    if (TRANSIENT.has(aadsts)) return { code: 'transient', aadsts };
    // 90002 (tenant not found), 53003 (conditional access) and anything unknown are the tenant's side.
    return { code: 'tenant_error', aadsts };
  }
  const name = (error as { name?: unknown }).name;
  const raw = (error as { message?: unknown }).message;
  const message = typeof raw === 'string' ? raw : '';
  // MSAL reads the tenant's OpenID document first: an unknown tenant (AADSTS90002) surfaces only as this.
  if (name === 'CredentialUnavailableError' || /endpoints_resolution_error/.test(message)) {
    return { code: 'tenant_error', aadsts: undefined };
  }
  // Network failures and Entra ID 5xx after the SDK's own retries.
  return { code: 'transient', aadsts: undefined };
}
