import type { AccessToken } from '@azure/identity';
import { verifyConsent } from '../../src/consent/verify-consent';
import type { TenantGraph } from '../../src/graph/tenant-graph';
import type { TenantCredentials } from '../../src/identity/tenant-credentials';

/**
 * The check that the app-only token belongs to the tenant the redirect named. The simulated Entra ID only ever
 * issues a tenant's token to that tenant, so this branch is driven here with a credential that hands out a token
 * of another tenant, as a misconfigured or hostile token endpoint could.
 */
const REQUESTED = '0b1e5c3a-6f1d-4c2e-9a7b-3d5e8f9a1b2c';
const OTHER = '7c4d2e1f-8a9b-4c3d-b2e1-f0a9b8c7d6e5';

function fakeToken(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

/** A credential that answers every tenant with `token`, and records which tenants were forgotten. */
function credentialsAnswering(token: string): { credentials: TenantCredentials; forgotten: string[] } {
  const forgotten: string[] = [];
  const fake = {
    getToken: (): Promise<AccessToken> =>
      Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
    forget: (tenantId: string): void => {
      forgotten.push(tenantId);
    },
    release: (tenantId: string): void => {
      forgotten.push(tenantId);
    },
  };
  return { credentials: fake as unknown as TenantCredentials, forgotten };
}

/** Graph access that records the tenants asked for and stops the verification there. */
function graphRecorder(): { graphFor: (tenantId: string) => TenantGraph; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    graphFor: (tenantId: string): TenantGraph => {
      asked.push(tenantId);
      throw new Error(`graph asked for ${tenantId}`);
    },
  };
}

const GRAPH_ENDPOINT = 'https://graph.example.test';

describe("verifyConsent: the token must be the named tenant's", () => {
  it('refuses a token of another tenant than the GUID the redirect named, before any Graph call', async () => {
    const { credentials } = credentialsAnswering(fakeToken({ tid: OTHER, roles: ['User.Read.All'] }));
    const graph = graphRecorder();

    const verification = await verifyConsent(REQUESTED, {
      credentials,
      graphEndpoint: GRAPH_ENDPOINT,
      graphFor: graph.graphFor,
    });

    expect(verification).toEqual({ kind: 'tenant_mismatch', tenantId: OTHER });
    expect(graph.asked).toEqual([]);
  });

  it('refuses a token that names no tenant at all', async () => {
    const { credentials } = credentialsAnswering(fakeToken({ roles: ['User.Read.All'] }));
    const graph = graphRecorder();

    const verification = await verifyConsent(REQUESTED, {
      credentials,
      graphEndpoint: GRAPH_ENDPOINT,
      graphFor: graph.graphFor,
    });

    expect(verification).toEqual({ kind: 'tenant_mismatch', tenantId: 'unknown' });
    expect(graph.asked).toEqual([]);
  });

  it('accepts the same GUID in another letter case and goes on to Graph for that tenant', async () => {
    const { credentials } = credentialsAnswering(fakeToken({ tid: REQUESTED }));
    const graph = graphRecorder();

    await expect(
      verifyConsent(REQUESTED.toUpperCase(), {
        credentials,
        graphEndpoint: GRAPH_ENDPOINT,
        graphFor: graph.graphFor,
      }),
    ).rejects.toThrow(`graph asked for ${REQUESTED}`);
    expect(graph.asked).toEqual([REQUESTED]);
  });

  it('for a domain name, proves consent against the tenant ID the token carries', async () => {
    const { credentials, forgotten } = credentialsAnswering(fakeToken({ tid: OTHER }));
    const graph = graphRecorder();

    await expect(
      verifyConsent('contoso.onmicrosoft.com', {
        credentials,
        graphEndpoint: GRAPH_ENDPOINT,
        graphFor: graph.graphFor,
      }),
    ).rejects.toThrow(`graph asked for ${OTHER}`);
    expect(graph.asked).toEqual([OTHER]);
    // Fresh tokens for both names of the tenant: none cached before this consent is used.
    expect(forgotten).toEqual(['contoso.onmicrosoft.com', OTHER]);
  });
});
