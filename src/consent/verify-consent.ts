import { TokenError } from '../errors';
import type { TenantGraph } from '../graph/tenant-graph';
import type { TenantCredentials } from '../identity/tenant-credentials';
import { tokenClaims } from '../identity/tenant-credentials';
import { REPLICATION_LAG_CODES } from '../identity/token-errors';
import type { AppRole } from '../tenants/prove-permissions';
import { provePermissions } from '../tenants/prove-permissions';
import { GUID } from '../guid';

export type Verification =
  | { kind: 'verified'; tenantId: string; missing: AppRole[] }
  /** No app-only token for that tenant: never consented, revoked, or Entra ID refused the tenant. */
  | { kind: 'no_token'; aadsts: number | undefined; code: TokenError['code'] }
  /** The token is for another tenant than the redirect named. */
  | { kind: 'tenant_mismatch'; tenantId: string };

export interface VerifyConsentDeps {
  credentials: TenantCredentials;
  graphEndpoint: string;
  /** The Graph access for a tenant (paced like every other Graph call). */
  graphFor: (tenantId: string) => TenantGraph;
  /** How long to keep retrying the codes that replication lag produces right after consent. */
  retryWindowMs?: number;
  /**
   * How long to keep proving permissions that are missing, with fresh tokens: right after consent Entra ID may
   * issue tokens without the new roles for a while (docs/permissions.md, "Right after consent"). Default 60 s.
   */
  propagationWindowMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Proves consent instead of trusting the redirect (whose `tenant` can be forged): takes an app-only token for
 * the tenant, reads the tenant ID from it, and proves each application permission with the cheapest call it
 * allows (`provePermissions`, the one rule for `403`). The token's `roles` only break a tie when no call can
 * decide (a tenant where no licensed user has a OneDrive yet).
 */
export async function verifyConsent(tenant: string, deps: VerifyConsentDeps): Promise<Verification> {
  const verification = await verifyOnce(tenant, deps);
  // Only a verified tenant keeps a credential (under its tenant ID); whatever string an anonymous caller sent
  // leaves nothing behind (docs/contract.md, consent callback).
  if (verification.kind !== 'verified' || verification.tenantId !== tenant) deps.credentials.release(tenant);
  return verification;
}

async function verifyOnce(tenant: string, deps: VerifyConsentDeps): Promise<Verification> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const deadline = now() + (deps.retryWindowMs ?? 30_000);
  const scope = `${new URL(deps.graphEndpoint).origin}/.default`;

  // A fresh credential: a token cached before this consent would carry the roles of the previous one.
  deps.credentials.forget(tenant);
  let token: string;
  for (let delay = 500; ; delay = Math.min(delay * 2, 8_000)) {
    try {
      token = (await deps.credentials.getToken(tenant, scope)).token;
      break;
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      const lagging = error.aadsts !== undefined && REPLICATION_LAG_CODES.has(error.aadsts);
      const retryable = lagging || error.code === 'transient';
      if (!retryable || now() + delay > deadline) {
        if (error.code === 'transient' || error.code === 'app_credential_rejected') throw error;
        return { kind: 'no_token', aadsts: error.aadsts, code: error.code };
      }
      await sleep(delay);
    }
  }

  const claims = tokenClaims(token);
  const tenantId = claims.tid;
  if (!tenantId || (GUID.test(tenant) && tenantId !== tenant.toLowerCase())) {
    return { kind: 'tenant_mismatch', tenantId: tenantId ?? 'unknown' };
  }

  if (tenantId !== tenant) deps.credentials.forget(tenantId);
  const propagationEnd = now() + (deps.propagationWindowMs ?? 60_000);
  let missing = await provePermissions(deps.graphFor(tenantId), new Set(claims.roles ?? []));
  for (
    let delay = 2_000;
    missing.length > 0 && now() + delay <= propagationEnd;
    delay = Math.min(delay * 2, 15_000)
  ) {
    await sleep(delay);
    // A fresh token each time: a cached one keeps the roles (none) it was issued with until it expires.
    deps.credentials.forget(tenantId);
    const roles = tokenClaims((await deps.credentials.getToken(tenantId, scope)).token).roles ?? [];
    missing = await provePermissions(deps.graphFor(tenantId), new Set(roles));
  }
  return { kind: 'verified', tenantId, missing };
}
