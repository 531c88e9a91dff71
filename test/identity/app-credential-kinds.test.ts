import { createAppCertificate } from '../../dev/sim/app-certificate';
import type { SimClient } from '../../dev/sim/sim-client';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { CredentialError } from '../../src/errors';
import { adminOf, consentClient, grantedQuery } from '../consent/consent-client';
import { expectTableEqualsDrives, onboardTenant } from '../crawl/crawl-helpers';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, uniqueSeed } from '../support/test-app';

/**
 * Each kind of `APP_CREDENTIAL` through the real `@azure/identity` and MSAL against the simulator (docs/credentials.md):
 * onboarding (the sign-in's code redemption and the consent proof), a crawl, rotation, expiry and refusals, each
 * reported in plain words and never with a secret, a private key or an assertion in a log or a run's error.
 */
const KINDS = ['secret', 'certificate', 'managed-identity'] as const;
const SMALL_PAGES = { userPageSize: 7, childrenPageSize: 4, usersPerBatch: 9, graphBackoffMs: 20 };
const PEM_BODY = /MII[A-Za-z0-9+/]{40,}/;
const JWT = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;

/** Nothing secret in anything the app said: its logs, its run errors. */
function expectNothingSecret(app: TestApp, ...texts: unknown[]): void {
  const said = JSON.stringify([app.logs, texts]);
  expect(said).not.toMatch(PEM_BODY);
  expect(said).not.toMatch(JWT);
  expect(said).not.toContain(app.clientSecret);
}

const crawlTenant = async (app: TestApp, tenantId: string, options: { onProgress?: () => void } = {}) => {
  const tenant = await app.context.registry.get(tenantId);
  const [result] = await crawlInline(app.context.crawlDeps(), {
    tenants: tenant ? [tenant] : [],
    ...(options.onProgress ? { onProgress: options.onProgress, progressIntervalMs: 10 } : {}),
  });
  return result;
};

/** What a promise was rejected with (undefined when it resolved). */
const failureOf = (work: Promise<unknown>): Promise<unknown> =>
  work.then(
    () => undefined,
    (error: unknown) => error,
  );

describe.each(KINDS)('APP_CREDENTIAL=%s', (kind) => {
  let cloud: SimClient;
  let app: TestApp;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ crawlSettings: SMALL_PAGES }, { credential: kind });
  });

  it('onboards a tenant through sign-in and consent, then crawls it exactly', async () => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 14, withoutDriveShare: 0.1 });
    await cloud.consent(tenant.tenantId, app.clientId);
    const client = consentClient(app.context);
    const flow = await client.signIn(adminOf(tenant));
    expect(flow.answer.status).toBe(302);
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');

    const result = await crawlTenant(app, tenant.tenantId);
    expect(result?.run?.status).toBe('succeeded');
    await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    // Every token request of the app was made with this kind's credential and answered.
    const tokens = await cloud.requestLog({
      tenantId: tenant.tenantId,
      service: 'token',
      clientId: app.clientId,
    });
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.every((entry) => entry.status === 200)).toBe(true);
    expectNothingSecret(app, client.logs, result);
  });
});

describe('APP_CREDENTIAL=certificate', () => {
  let cloud: SimClient;

  beforeAll(() => {
    cloud = sim();
  });

  it('picks up a rotated certificate mid-run, when Entra ID refuses the removed one, without a restart', async () => {
    // The vault is read once an hour here, so only Entra ID's refusal (AADSTS700027) can make the app read it again.
    const app = await createTestApp(
      { crawlSettings: SMALL_PAGES, vaultCacheMs: 3_600_000 },
      { credential: 'certificate' },
    );
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 40, withoutDriveShare: 0 });
    const oldCertificate = (await app.context.appCredential.current()).msalAuth();
    const replacement = createAppCertificate({ commonName: 'Drive Crawler rotated' });
    let rotation: Promise<void> | undefined;
    const since = Date.now();
    const result = await crawlTenant(app, tenant.tenantId, {
      onProgress: () => {
        rotation ??= (async () => {
          await cloud.addAppCertificate(app.clientId, { certificatePem: replacement.certificatePem });
          await cloud.setVaultSecret(app.certificateName ?? '', replacement.pem, {
            contentType: 'application/x-pem-file',
          });
          if (!('clientCertificate' in oldCertificate)) throw new Error('not a certificate');
          await cloud.removeAppCertificate(app.clientId, oldCertificate.clientCertificate.thumbprintSha256);
          // As when the tenant's token expires mid-run: the next request needs a new token.
          app.context.credentials.forget(tenant.tenantId);
        })();
      },
    });
    await rotation;
    expect(result?.run?.status).toBe('succeeded');
    await expectTableEqualsDrives(cloud, app.context, tenant.tenantId);
    // The old certificate was refused once after the rotation, then the new one was used.
    const tokens = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'token', since });
    expect(tokens.filter((entry) => entry.status !== 200).length).toBeGreaterThanOrEqual(1);
    expect(tokens.at(-1)?.status).toBe(200);
    expect((await app.context.appCredential.current()).msalAuth()).toMatchObject({
      clientCertificate: { thumbprintSha256: replacement.thumbprintSha256Hex.toUpperCase() },
    });
    expectNothingSecret(app, result);
  });

  it('warns 30 days before the certificate ends and stops the crawl once it has', async () => {
    const app = await createTestApp({ crawlSettings: SMALL_PAGES }, { credential: 'certificate' });
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 5 });
    const day = 86_400_000;
    const ending = createAppCertificate({ notAfter: new Date(Date.now() + 10 * day) });
    await cloud.addAppCertificate(app.clientId, { certificatePem: ending.certificatePem });
    await cloud.setVaultSecret(app.certificateName ?? '', ending.pem, {
      contentType: 'application/x-pem-file',
    });
    expect((await crawlTenant(app, tenant.tenantId))?.run?.status).toBe('succeeded');
    expect(app.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: "the app's credential expires soon",
        fields: expect.objectContaining({ credential: `certificate "${app.certificateName}"`, daysLeft: 9 }),
      }),
    );

    const ended = createAppCertificate({
      notBefore: new Date(Date.now() - 30 * day),
      notAfter: new Date(Date.now() - day),
    });
    await cloud.addAppCertificate(app.clientId, { certificatePem: ended.certificatePem });
    await cloud.setVaultSecret(app.certificateName ?? '', ended.pem, {
      contentType: 'application/x-pem-file',
    });
    const failure = await failureOf(crawlTenant(app, tenant.tenantId));
    expect(failure).toBeInstanceOf(CredentialError);
    expect(failure).toMatchObject({ code: 'credential_expired' });
    expect((failure as Error).message).toMatch(/^The app's certificate "app-cert-[0-9a-f]{8}": expired on /);
    expectNothingSecret(app, (failure as Error).message);
  });

  it('refuses a PKCS#12 certificate with a message that says what to change', async () => {
    const app = await createTestApp({ crawlSettings: SMALL_PAGES }, { credential: 'certificate' });
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 3 });
    const pkcs12 = createAppCertificate({});
    await cloud.setVaultSecret(app.certificateName ?? '', pkcs12.pkcs12Base64, {
      contentType: 'application/x-pkcs12',
    });
    await expect(crawlTenant(app, tenant.tenantId)).rejects.toMatchObject({
      code: 'credential_unusable',
      message: expect.stringMatching(/PKCS#12 .*application\/x-pem-file/),
    });
  });

  it('fails the run in plain words when the certificate is not registered on the app', async () => {
    const app = await createTestApp({ crawlSettings: SMALL_PAGES }, { credential: 'certificate' });
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 3 });
    const stranger = createAppCertificate({});
    await cloud.setVaultSecret(app.certificateName ?? '', stranger.pem, {
      contentType: 'application/x-pem-file',
    });
    const result = await crawlTenant(app, tenant.tenantId);
    expect(result?.run).toMatchObject({
      status: 'failed',
      error:
        "The app's credential was rejected: the certificate is not registered on the app registration, or has expired (AADSTS700027)",
    });
    // The app is at fault, not the tenant: its status stays.
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
    expectNothingSecret(app, result);
  });
});

describe('APP_CREDENTIAL=managed-identity', () => {
  let cloud: SimClient;

  beforeAll(() => {
    cloud = sim();
  });

  it.each([
    [
      'subject',
      { subject: '00000000-0000-4000-8000-000000000001' },
      700213,
      /subject is not the managed identity/,
    ],
    ['audience', { audiences: ['api://SomethingElse'] }, 700212, /audience does not match/],
    ['issuer', { issuer: 'https://login.example.test/other/v2.0' }, 700211, /issuer does not match/],
  ])(
    'fails the run in plain words when the federated credential has the wrong %s',
    async (_field, change, aadsts, reason) => {
      const app = await createTestApp({ crawlSettings: SMALL_PAGES }, { credential: 'managed-identity' });
      const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 3 });
      const env = await cloud.env();
      const identity = app.identity!;
      await cloud.removeFederatedCredential(app.clientId, 'drive-crawler');
      await cloud.addFederatedCredential(app.clientId, {
        name: 'drive-crawler-wrong',
        issuer: `${env.AUTHORITY_HOST}/${identity.tenantId}/v2.0`,
        subject: identity.principalId,
        audiences: ['api://AzureADTokenExchange'],
        ...change,
      });
      const result = await crawlTenant(app, tenant.tenantId);
      expect(result?.run?.status).toBe('failed');
      expect(result?.run?.error).toMatch(/^The app's credential was rejected: /);
      expect(result?.run?.error).toMatch(reason);
      expect(result?.run?.error).toContain(`(AADSTS${aadsts})`);
      expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
      expect(app.logs).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message: "the app's credential was rejected by Entra ID",
          fields: expect.objectContaining({ aadsts, credential: `managed identity ${identity.clientId}` }),
        }),
      );
      expectNothingSecret(app, result);
    },
  );

  it('says so plainly when the managed-identity endpoint is down, and crawls again once it is back', async () => {
    const app = await createTestApp({ crawlSettings: SMALL_PAGES }, { credential: 'managed-identity' });
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 4 });
    await cloud.setManagedIdentityEndpoint('down', app.identity!.clientId);
    try {
      const failure = await failureOf(crawlTenant(app, tenant.tenantId));
      expect(failure).toBeInstanceOf(CredentialError);
      expect(failure).toMatchObject({ code: 'credential_unavailable' });
      expect((failure as Error).message).toMatch(
        /^The app's managed identity [0-9a-f-]{36}: the managed-identity endpoint gave no token \(\w+\)$/,
      );
    } finally {
      await cloud.setManagedIdentityEndpoint('up', app.identity!.clientId);
    }
    expect((await crawlTenant(app, tenant.tenantId))?.run?.status).toBe('succeeded');
    expectNothingSecret(app);
  });
});
