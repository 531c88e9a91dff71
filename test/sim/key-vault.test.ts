import { SecretClient } from '@azure/keyvault-secrets';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { SimEnvironment } from '../../dev/sim/types';
import { credential, failureOf, graphToken, logDuring, newApp, newTenant } from './sim-sdk';

describe('simulated Key Vault', () => {
  let cloud: SimulatedCloud;
  let env: SimEnvironment;
  let secrets: SecretClient;

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    env = await cloud.env();
    const operator = credential(cloud, env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET);
    secrets = new SecretClient(env.KEY_VAULT_URL, operator, { disableChallengeResourceVerification: true });
  });
  afterAll(() => cloud.close());

  it('answers an unauthenticated request with the challenge naming the operator tenant', async () => {
    const response = await fetch(`${env.KEY_VAULT_URL}/secrets/anything/?api-version=2025-07-01`);

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer authorization="${cloud.url}/${env.AZURE_TENANT_ID}", resource="https://vault.azure.net"`,
    );
  });

  it('reads the latest version through the challenge and sees a rotated value', async () => {
    await cloud.setVaultSecret('rotating-secret', 'first-value');
    const first = await secrets.getSecret('rotating-secret');
    const { version } = await cloud.setVaultSecret('rotating-secret', 'second-value', {
      expiresOn: '2031-06-30T00:00:00Z',
    });
    const second = await secrets.getSecret('rotating-secret');

    expect(first.value).toBe('first-value');
    expect(second.value).toBe('second-value');
    expect(second.properties.version).toBe(version);
    expect(second.properties.expiresOn?.toISOString()).toBe('2031-06-30T00:00:00.000Z');
    expect(second.properties.id).toBe(`${cloud.url}/secrets/rotating-secret/${version}`);
  });

  it('reads an older version by its ID', async () => {
    const { version } = await cloud.setVaultSecret('versioned-secret', 'old');
    await cloud.setVaultSecret('versioned-secret', 'new');

    const old = await secrets.getSecret('versioned-secret', { version });

    expect(old.value).toBe('old');
  });

  it("returns a certificate's backing secret as Key Vault does: content type, managed, the key's ID", async () => {
    const pem = await cloud.setVaultSecret('app-certificate', 'PEM text', {
      contentType: 'application/x-pem-file',
      expiresOn: '2031-01-01T00:00:00Z',
    });
    const pfx = await cloud.setVaultSecret('app-certificate-pfx', 'PKCS12', {
      contentType: 'application/x-pkcs12',
    });

    const asPem = await secrets.getSecret('app-certificate');
    const asPfx = await secrets.getSecret('app-certificate-pfx');

    expect(asPem.properties).toMatchObject({
      contentType: 'application/x-pem-file',
      managed: true,
      certificateKeyId: `${cloud.url}/keys/app-certificate/${pem.version}`,
      version: pem.version,
    });
    expect(asPfx.properties).toMatchObject({ contentType: 'application/x-pkcs12', managed: true });
    expect(asPfx.properties.certificateKeyId).toBe(`${cloud.url}/keys/app-certificate-pfx/${pfx.version}`);
  });

  it('keeps the content type of a plain secret set through Key Vault, which is not managed', async () => {
    await secrets.setSecret('typed-secret', 'value', { contentType: 'text/plain' });

    const read = await secrets.getSecret('typed-secret');

    expect(read.properties.contentType).toBe('text/plain');
    expect(read.properties.managed).toBeUndefined();
    expect(read.properties.certificateKeyId).toBeUndefined();
  });

  it('answers SecretNotFound for a missing or deleted secret', async () => {
    await cloud.setVaultSecret('short-lived', 'value');
    await cloud.deleteVaultSecret('short-lived');

    const error = (await failureOf(secrets.getSecret('short-lived'))) as Error & {
      statusCode?: number;
      code?: string;
    };

    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('SecretNotFound');
  });

  it('refuses a Graph token', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, app.clientId);
    const token = await graphToken(cloud, tenant.tenantId, app);

    const response = await fetch(`${env.KEY_VAULT_URL}/secrets/anything/`, {
      headers: { Authorization: `Bearer ${token}` },
    });

    expect(response.status).toBe(401);
  });

  it('answers 500 or 503 when vault faults are injected', async () => {
    const operator = credential(cloud, env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET);
    const token = await operator.getToken('https://vault.azure.net/.default');
    await cloud.setVaultSecret('faulty', 'value');
    await cloud.setFaults('*', { vault5xx: 1 });

    const response = await fetch(`${env.KEY_VAULT_URL}/secrets/faulty/`, {
      headers: { Authorization: `Bearer ${token.token}` },
    });
    await cloud.setFaults('*', {});

    expect([500, 503]).toContain(response.status);
  });

  it('logs vault requests with whether a bearer token arrived', async () => {
    await cloud.setVaultSecret('logged-secret', 'value');
    const fresh = new SecretClient(
      env.KEY_VAULT_URL,
      credential(cloud, env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET),
      { disableChallengeResourceVerification: true },
    );

    const log = await logDuring(cloud, { service: 'vault' }, () => fresh.getSecret('logged-secret'));

    expect(log.map((entry) => [entry.status, entry.authorized])).toEqual([
      [401, false],
      [200, true],
    ]);
  });
});
