import { ClientCertificateCredential } from '@azure/identity';
import { ConfidentialClientApplication } from '@azure/msal-node';
import forge from 'node-forge';
import { X509Certificate, constants, createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { AppCertificate } from '../../dev/sim/app-certificate';
import { createAppCertificate } from '../../dev/sim/app-certificate';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { TenantInfo } from '../../dev/sim/types';
import { failureOf, jwtPayload, newTenant } from './sim-sdk';

/** The Entra ID error of a raw token request. */
interface TokenError {
  error: string;
  error_description: string;
  error_codes: number[];
}

const DAY = 86_400_000;

describe('simulated Entra ID: certificate credentials', () => {
  let cloud: SimulatedCloud;
  let scope: string;
  /** One certificate for the whole file (RSA keys take a while to make); each test registers it on its own app. */
  let certificate: AppCertificate;

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    scope = `${cloud.url}/.default`;
    certificate = createAppCertificate({ commonName: 'Simulator test app' });
  });
  afterAll(() => cloud.close());

  /** A new app holding `cert` (and no secret), consented in a new tenant. */
  async function certificateApp(cert = certificate): Promise<{ clientId: string; tenant: TenantInfo }> {
    const { clientId } = await cloud.createApp({ certificates: [{ certificatePem: cert.certificatePem }] });
    return { clientId, tenant: await newTenant(cloud, clientId) };
  }

  function certificateCredential(tenant: string, clientId: string, cert = certificate, chain = false) {
    return new ClientCertificateCredential(
      tenant,
      clientId,
      { certificate: cert.pem },
      { authorityHost: cloud.url, disableInstanceDiscovery: true, sendCertificateChain: chain },
    );
  }

  /**
   * A client assertion as MSAL makes one (PS256, `x5t#S256` of the file's certificate), with claims overridden and
   * signed with `signer`'s key (another certificate's key makes a bad signature).
   */
  function assertion(
    clientId: string,
    audience: string,
    claims: Record<string, unknown> = {},
    signer = certificate,
  ) {
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const thumbprint = Buffer.from(certificate.thumbprintSha256Hex, 'hex').toString('base64url');
    const header = { alg: 'PS256', typ: 'JWT', 'x5t#S256': thumbprint };
    const payload = {
      aud: audience,
      iss: clientId,
      sub: clientId,
      jti: randomUUID(),
      nbf: now,
      exp: now + 600,
    };
    const input = `${encode(header)}.${encode({ ...payload, ...claims })}`;
    const key = {
      key: signer.privateKeyPem,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    };
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  }

  async function tokenRequest(tenant: string, fields: Record<string, string>): Promise<TokenError> {
    const response = await fetch(`${cloud.url}/${tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams(fields),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    return (await response.json()) as TokenError;
  }

  const assertionFields = (clientId: string, value: string, grant = 'client_credentials') => ({
    grant_type: grant,
    client_id: clientId,
    scope: `${cloud.url}/.default`,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: value,
  });

  it('issues an app-only token to ClientCertificateCredential in a consented tenant, by GUID or domain', async () => {
    const { clientId, tenant } = await certificateApp();

    const byId = await certificateCredential(tenant.tenantId, clientId).getToken(scope);
    const byDomain = await certificateCredential(tenant.domain, clientId, certificate, true).getToken(scope);

    for (const token of [byId, byDomain]) {
      expect(jwtPayload(token.token)).toMatchObject({
        tid: tenant.tenantId,
        appid: clientId,
        idtyp: 'app',
        roles: ['User.Read.All', 'Files.Read.All'],
      });
    }
  });

  it('takes the older RS256 assertion with a SHA-1 x5t, as MSAL makes it from a SHA-1 thumbprint', async () => {
    const { clientId, tenant } = await certificateApp();
    const der = new X509Certificate(certificate.certificatePem).raw;
    const msal = new ConfidentialClientApplication({
      auth: {
        clientId,
        authority: `${cloud.url}/${tenant.tenantId}`,
        knownAuthorities: [new URL(cloud.url).host],
        clientCertificate: {
          thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
          privateKey: certificate.privateKeyPem,
        },
      },
    });

    const result = await msal.acquireTokenByClientCredential({ scopes: [scope] });

    expect(jwtPayload(result?.accessToken ?? '')).toMatchObject({ tid: tenant.tenantId, appid: clientId });
  });

  it('answers AADSTS700027 (key not found) once the certificate is removed', async () => {
    const { clientId, tenant } = await certificateApp();
    await cloud.removeAppCertificate(clientId, certificate.thumbprintSha256Hex.toUpperCase());

    const error = await failureOf(certificateCredential(tenant.tenantId, clientId).getToken(scope));

    expect(error.message).toMatch(/AADSTS700027: .*The key was not found/);
    expect(error.message).toContain(certificate.thumbprintSha256Hex.toUpperCase());
  });

  it('answers AADSTS700027 (key expired) for a certificate past its end date', async () => {
    const expired = createAppCertificate({
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const { clientId, tenant } = await certificateApp(expired);

    const error = await failureOf(certificateCredential(tenant.tenantId, clientId, expired).getToken(scope));

    expect(error.message).toMatch(/AADSTS700027: .*The key used is expired/);
  });

  it('answers AADSTS7000214 for a revoked certificate', async () => {
    const { clientId, tenant } = await certificateApp();
    await cloud.revokeAppCertificate(clientId, certificate.thumbprintSha256Hex);

    const error = await failureOf(certificateCredential(tenant.tenantId, clientId).getToken(scope));

    expect(error.message).toMatch(/AADSTS7000214: Certificate has been revoked\./);
  });

  it('answers AADSTS700027 for an assertion signed with another key than the registered certificate', async () => {
    const { clientId, tenant } = await certificateApp();
    const stranger = createAppCertificate({});
    const audience = `${cloud.url}/${tenant.tenantId}/oauth2/v2.0/token`;

    const body = await tokenRequest(
      tenant.tenantId,
      assertionFields(clientId, assertion(clientId, audience, {}, stranger)),
    );

    expect(body).toMatchObject({ error: 'invalid_client', error_codes: [700027] });
    expect(body.error_description).toMatch(/failed signature validation/);
  });

  it.each([
    [
      'another tenant token endpoint as aud',
      { aud: 'https://login.example.test/other/oauth2/v2.0/token' },
      700023,
    ],
    ['an expired assertion', { exp: Math.floor(Date.now() / 1000) - 3600, nbf: 0 }, 700024],
    ['an assertion not valid before an hour from now', { nbf: Math.floor(Date.now() / 1000) + 3600 }, 700024],
    ['sub other than iss', { sub: '11111111-2222-4333-8444-555555555555' }, 50048],
  ])('answers the code Entra ID gives for %s', async (_case, claims, code) => {
    const { clientId, tenant } = await certificateApp();
    const audience = `${cloud.url}/${tenant.tenantId}/oauth2/v2.0/token`;

    const body = await tokenRequest(
      tenant.tenantId,
      assertionFields(clientId, assertion(clientId, audience, claims)),
    );

    expect(body.error_codes).toEqual([code]);
  });

  it('answers AADSTS50027 for an assertion that is not a JWT, and 7000216 without any credential', async () => {
    const { clientId, tenant } = await certificateApp();

    const malformed = await tokenRequest(tenant.tenantId, assertionFields(clientId, 'not-a-jwt'));
    const missing = await tokenRequest(tenant.tenantId, {
      grant_type: 'client_credentials',
      client_id: clientId,
      scope,
    });

    expect(malformed).toMatchObject({ error: 'invalid_request', error_codes: [50027] });
    expect(missing).toMatchObject({ error: 'invalid_client', error_codes: [7000216] });
  });

  it('authenticates a code redemption with the same checks (7000218 without a credential)', async () => {
    const { clientId } = await certificateApp();
    const audience = `${cloud.url}/organizations/oauth2/v2.0/token`;
    const redeem = (extra: Record<string, string>) =>
      tokenRequest('organizations', {
        grant_type: 'authorization_code',
        client_id: clientId,
        code: 'unknown',
        ...extra,
      });
    const valid = assertionFields(clientId, assertion(clientId, audience), 'authorization_code');

    const passed = await redeem(valid);
    const missing = await redeem({});
    await cloud.removeAppCertificate(clientId, certificate.thumbprintSha256Hex);
    const removed = await redeem(valid);

    // A valid assertion gets as far as the code, which is unknown (70000).
    expect(passed.error_codes).toEqual([70000]);
    expect(missing.error_codes).toEqual([7000218]);
    expect(removed.error_codes).toEqual([700027]);
  });

  it('makes certificates whose PEM and PKCS#12 hold the same key and certificate', () => {
    const pfxDer = Buffer.from(certificate.pkcs12Base64, 'base64');
    // No password at all, as Key Vault exports a certificate's PKCS#12 secret.
    const pfx = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfxDer.toString('binary')));
    const bagsOf = (type: string | undefined) =>
      (type ? pfx.getBags({ bagType: type })[type] : undefined) ?? [];
    const [bag] = bagsOf(forge.pki.oids.certBag);
    const [keyBag] = bagsOf(forge.pki.oids.keyBag);
    const x509 = new X509Certificate(certificate.certificatePem);

    expect(certificate.pem).toBe(
      `${certificate.privateKeyPem.trim()}\n${certificate.certificatePem.trim()}\n`,
    );
    expect(createHash('sha256').update(x509.raw).digest('hex')).toBe(certificate.thumbprintSha256Hex);
    expect(x509.checkPrivateKey(createPrivateKey(certificate.pem))).toBe(true);
    expect(bag?.cert && forge.pki.certificateToPem(bag.cert).trim()).toBe(certificate.certificatePem.trim());
    expect(keyBag?.key && forge.pki.privateKeyToPem(keyBag.key)).toBeTruthy();
    expect(() => createSecureContext({ pfx: pfxDer })).not.toThrow();
    expect(x509.subject).toBe('CN=Simulator test app');
    expect(new Date(x509.validTo).getTime()).toBe(Math.floor(certificate.notAfter.getTime() / 1000) * 1000);
  });

  it('keeps the secret checks for apps with secrets', async () => {
    const { clientId } = await cloud.createApp({ secrets: [{ value: 'still-a-secret' }] });
    const tenant = await newTenant(cloud, clientId);

    const body = await tokenRequest(tenant.tenantId, {
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: 'wrong',
      scope,
    });

    expect(body.error_codes).toEqual([7000215]);
  });
});
