import { CredentialUnavailableError } from '@azure/identity';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import { credential, failureOf, jwtPayload, newApp, newTenant } from './sim-sdk';

describe('simulated Entra ID token endpoint', () => {
  let cloud: SimulatedCloud;
  let scope: string;

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    scope = `${cloud.url}/.default`;
  });
  afterAll(() => cloud.close());

  it('issues a token per tenant with the tenant GUID as tid and the granted roles', async () => {
    const app = await newApp(cloud);
    const full = await newTenant(cloud, app.clientId);
    const partial = await newTenant(cloud, undefined, {
      consentedApps: [{ clientId: app.clientId, roles: ['User.Read.All'] }],
    });

    const fullToken = await credential(cloud, full.domain, app.clientId, app.secret).getToken(scope);
    const partialToken = await credential(cloud, partial.tenantId, app.clientId, app.secret).getToken(scope);

    expect(jwtPayload(fullToken.token)).toMatchObject({
      tid: full.tenantId,
      appid: app.clientId,
      idtyp: 'app',
      roles: ['User.Read.All', 'Files.Read.All'],
    });
    expect(jwtPayload(partialToken.token)).toMatchObject({ tid: partial.tenantId, roles: ['User.Read.All'] });
  });

  it('issues tokens without the roles while a new consent propagates (rolesLagMs), and Graph answers 403', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined, { rolesLagMs: 400 });
    await cloud.consent(tenant.tenantId, app.clientId);

    const early = await credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope);
    const users = await fetch(`${cloud.url}/v1.0/users?$top=1`, {
      headers: { Authorization: `Bearer ${early.token}` },
    });
    await new Promise((resolve) => setTimeout(resolve, 450));
    const late = await credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope);

    expect(jwtPayload(early.token)).not.toHaveProperty('roles');
    expect(users.status).toBe(403);
    expect(((await users.json()) as { error: { code: string } }).error.code).toBe(
      'Authorization_RequestDenied',
    );
    expect(jwtPayload(late.token)).toMatchObject({ roles: ['User.Read.All', 'Files.Read.All'] });
  });

  it('omits the roles claim when consent granted no role', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined, {
      consentedApps: [{ clientId: app.clientId, roles: [] }],
    });

    const token = await credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope);

    expect(jwtPayload(token.token)).not.toHaveProperty('roles');
  });

  it('accepts the public Graph scope as well as its own', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, app.clientId);

    const token = await credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(
      'https://graph.microsoft.com/.default',
    );

    expect(jwtPayload(token.token).aud).toBe('https://graph.microsoft.com');
  });

  it('answers AADSTS7000229 once the service principal is removed', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, app.clientId);
    await cloud.revoke(tenant.tenantId, app.clientId);

    const error = await failureOf(
      credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope),
    );

    expect(error.message).toMatch(/AADSTS7000229:/);
  });

  it('answers the revocation code it was given', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, app.clientId);
    await cloud.revoke(tenant.tenantId, app.clientId, 7000112);

    const error = await failureOf(
      credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope),
    );

    expect(error.message).toMatch(/AADSTS7000112:/);
  });

  it('answers AADSTS7000215 for a wrong secret', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, app.clientId);

    const error = await failureOf(
      credential(cloud, tenant.tenantId, app.clientId, 'not-the-secret').getToken(scope),
    );

    expect(error.message).toMatch(/AADSTS7000215:/);
  });

  it('answers AADSTS7000222 for an expired secret', async () => {
    const expired = 'expired-secret-value';
    const { clientId } = await cloud.createApp({
      secrets: [{ value: expired, expiresOn: '2020-01-01T00:00:00Z' }],
    });
    const tenant = await newTenant(cloud, clientId);

    const error = await failureOf(credential(cloud, tenant.tenantId, clientId, expired).getToken(scope));

    expect(error.message).toMatch(/AADSTS7000222:/);
  });

  it('answers AADSTS700016 in a tenant that never consented', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);

    const error = await failureOf(
      credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope),
    );

    expect(error.message).toMatch(/AADSTS700016:/);
  });

  it('answers AADSTS700016 for an unknown client ID', async () => {
    const tenant = await newTenant(cloud, undefined);

    const error = await failureOf(
      credential(cloud, tenant.tenantId, '11111111-2222-4333-8444-555555555555', 'x').getToken(scope),
    );

    expect(error.message).toMatch(/AADSTS700016:/);
  });

  it('fails endpoint resolution for an unknown tenant, whose OpenID document answers AADSTS90002', async () => {
    const app = await newApp(cloud);

    const error = await failureOf(
      credential(cloud, 'nowhere.onmicrosoft.test', app.clientId, app.secret).getToken(scope),
    );
    const document = await fetch(
      `${cloud.url}/nowhere.onmicrosoft.test/v2.0/.well-known/openid-configuration`,
    );

    expect(error).toBeInstanceOf(CredentialUnavailableError);
    expect(error.message).toMatch(/endpoints_resolution_error/);
    expect(document.status).toBe(400);
    expect(await document.json()).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
  });

  it('answers the lag code during replication lag after consent, then issues tokens', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);
    await cloud.consent(tenant.tenantId, app.clientId, { replicationLagMs: 400, lagCode: 65001 });

    const early = await failureOf(
      credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope),
    );
    await new Promise((resolve) => setTimeout(resolve, 450));
    const token = await credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(scope);

    expect(early.message).toMatch(/AADSTS65001:/);
    expect(jwtPayload(token.token).tid).toBe(tenant.tenantId);
  });

  it('answers Entra-shaped 500 or 503 bodies when token faults are injected', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, app.clientId);
    await cloud.setFaults(tenant.tenantId, { token5xx: 1 });

    const response = await fetch(`${cloud.url}/${tenant.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: app.clientId,
        client_secret: app.secret,
        scope,
      }),
    });
    await cloud.setFaults(tenant.tenantId, {});
    const body = (await response.json()) as {
      error_description: string;
      error_codes: number[];
      trace_id: string;
    };

    expect([500, 503]).toContain(response.status);
    expect(body.error_description).toMatch(/^AADSTS\d+: /);
    expect(body.trace_id).toBeTruthy();
  });

  it('issues Key Vault tokens to the operator identity only', async () => {
    const env = await cloud.env();
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, app.clientId);

    const operatorToken = await credential(
      cloud,
      env.AZURE_TENANT_ID,
      env.AZURE_CLIENT_ID,
      env.AZURE_CLIENT_SECRET,
    ).getToken('https://vault.azure.net/.default');
    const error = await failureOf(
      credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(
        'https://vault.azure.net/.default',
      ),
    );

    expect(jwtPayload(operatorToken.token)).toMatchObject({
      aud: 'https://vault.azure.net',
      tid: env.AZURE_TENANT_ID,
    });
    expect(error.message).toMatch(/AADSTS500011:/);
  });
});
