import { ClientAssertionCredential, ManagedIdentityCredential } from '@azure/identity';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { FederatedCredentialSpec, ManagedIdentityEnv, ManagedIdentityInfo } from '../../dev/sim/types';
import { failureOf, jwtPayload, logDuring, newTenant } from './sim-sdk';

const EXCHANGE = 'api://AzureADTokenExchange';

describe('simulated managed identities and federated credentials', () => {
  let cloud: SimulatedCloud;
  let endpoint: ManagedIdentityEnv;
  const saved: Partial<Record<keyof ManagedIdentityEnv, string>> = {};

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
    endpoint = await cloud.managedIdentityEnv();
    // The SDK reads the endpoint from the environment, as it does on App Service; put back whatever was there.
    for (const name of ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER'] as const) {
      saved[name] = process.env[name];
      process.env[name] = endpoint[name];
    }
  });
  afterAll(async () => {
    for (const name of ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER'] as const) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    await cloud.close();
  });

  /**
   * No retries: MSAL keeps the first credential's HTTP client for the whole process, so every credential of this
   * file must be made alike, and a down endpoint then fails at once.
   */
  const identityCredential = (identity: ManagedIdentityInfo) =>
    new ManagedIdentityCredential({ clientId: identity.clientId, retryOptions: { maxRetries: 0 } });

  const identityToken = async (identity: ManagedIdentityInfo) =>
    (await identityCredential(identity).getToken(`${EXCHANGE}/.default`)).token;

  /** The credential the product builds for a tenant: the app's ID, the identity's token as the assertion. */
  const appCredential = (tenantId: string, clientId: string, assertion: () => Promise<string>) =>
    new ClientAssertionCredential(tenantId, clientId, assertion, {
      authorityHost: cloud.url,
      disableInstanceDiscovery: true,
    });

  /** The federated credential that trusts `identity`, as "Configure an application to trust a managed identity". */
  const trusting = (identity: ManagedIdentityInfo): FederatedCredentialSpec => ({
    name: 'crawler-identity',
    issuer: `${cloud.url}/${identity.tenantId}/v2.0`,
    subject: identity.principalId,
    audiences: [EXCHANGE],
  });

  it("issues the identity's token for the exchange audience, issued by the operator's tenant", async () => {
    const identity = await cloud.createManagedIdentity({});
    const env = await cloud.env();

    const log = await logDuring(cloud, { service: 'msi' }, async () => {
      const token = await identityToken(identity);
      const claims = jwtPayload(token);
      expect(claims).toMatchObject({
        iss: `${cloud.url}/${env.AZURE_TENANT_ID}/v2.0`,
        sub: identity.principalId,
        oid: identity.principalId,
        aud: EXCHANGE,
        tid: env.AZURE_TENANT_ID,
        azp: identity.clientId,
        appid: identity.clientId,
      });
      expect((claims.exp as number) - (claims.iat as number)).toBe(24 * 3600);
      expect(JSON.stringify(await cloud.requestLog({ service: 'msi' }))).not.toContain(token);
    });

    expect(identity.tenantId).toBe(env.AZURE_TENANT_ID);
    expect(log).toEqual([
      expect.objectContaining({ status: 200, clientId: identity.clientId, tenantId: env.AZURE_TENANT_ID }),
    ]);
  });

  it('exchanges the identity token for an app-only token where a federated credential trusts it', async () => {
    const identity = await cloud.createManagedIdentity({});
    const { clientId } = await cloud.createApp({ federatedCredentials: [trusting(identity)] });
    const tenant = await newTenant(cloud, clientId);

    const token = await appCredential(tenant.tenantId, clientId, () => identityToken(identity)).getToken(
      `${cloud.url}/.default`,
    );

    expect(jwtPayload(token.token)).toMatchObject({
      tid: tenant.tenantId,
      appid: clientId,
      roles: ['User.Read.All', 'Files.Read.All'],
    });
  });

  it.each([
    ['no federated credential at all', undefined, 70021],
    ['another issuer', { issuer: 'https://login.example.test/other/v2.0' }, 700211],
    ['another audience', { audiences: ['api://SomethingElse'] }, 700212],
    ['another subject', { subject: '00000000-0000-4000-8000-000000000001' }, 700213],
  ])('refuses the identity token when the app has %s', async (_case, change, code) => {
    const identity = await cloud.createManagedIdentity({});
    const { clientId } = await cloud.createApp({});
    if (change) await cloud.addFederatedCredential(clientId, { ...trusting(identity), ...change });
    const tenant = await newTenant(cloud, clientId);

    const error = await failureOf(
      appCredential(tenant.tenantId, clientId, () => identityToken(identity)).getToken(
        `${cloud.url}/.default`,
      ),
    );

    expect(error.message).toContain(`AADSTS${code}: No matching federated identity record found`);
  });

  it('trusts the identity again once the right credential is added beside a wrong one', async () => {
    const identity = await cloud.createManagedIdentity({});
    const { clientId } = await cloud.createApp({
      federatedCredentials: [{ ...trusting(identity), name: 'wrong-subject', subject: 'someone-else' }],
    });
    const tenant = await newTenant(cloud, clientId);
    await cloud.addFederatedCredential(clientId, trusting(identity));
    await cloud.removeFederatedCredential(clientId, 'wrong-subject');

    const token = await appCredential(tenant.tenantId, clientId, () => identityToken(identity)).getToken(
      `${cloud.url}/.default`,
    );

    expect(jwtPayload(token.token).tid).toBe(tenant.tenantId);
  });

  it('answers AADSTS700024 for an expired identity token and 700027 for a forged one', async () => {
    const identity = await cloud.createManagedIdentity({});
    const { clientId } = await cloud.createApp({ federatedCredentials: [trusting(identity)] });
    const tenant = await newTenant(cloud, clientId);
    const realNow = Date.now;
    // A token the endpoint issued 25 hours ago: its 24 hours are over.
    jest.spyOn(Date, 'now').mockReturnValue(realNow() - 25 * 3_600_000);
    const old = await rawTokenRequest(identity.clientId, EXCHANGE).finally(() => jest.restoreAllMocks());
    const [header, payload] = (await identityToken(identity)).split('.');
    const forged = `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;

    const expired = await failureOf(
      appCredential(tenant.tenantId, clientId, () => Promise.resolve(old.access_token)).getToken(
        `${cloud.url}/.default`,
      ),
    );
    const unsigned = await failureOf(
      appCredential(tenant.tenantId, clientId, () => Promise.resolve(forged)).getToken(
        `${cloud.url}/.default`,
      ),
    );

    expect(expired.message).toContain('AADSTS700024: Client assertion is not within its valid time range.');
    expect(unsigned.message).toContain('AADSTS700027: Client assertion failed signature validation.');
  });

  it('fails ManagedIdentityCredential while the endpoint of that identity is down, then works again', async () => {
    const identity = await cloud.createManagedIdentity({});
    const other = await cloud.createManagedIdentity({});
    await cloud.setManagedIdentityEndpoint('down', identity.clientId);

    const error = await failureOf(identityToken(identity));
    const unaffected = await identityToken(other);
    const raw = await fetch(`${endpoint.IDENTITY_ENDPOINT}?${query(identity.clientId, EXCHANGE)}`, {
      headers: { 'X-IDENTITY-HEADER': endpoint.IDENTITY_HEADER },
    });
    await cloud.setManagedIdentityEndpoint('up', identity.clientId);

    expect(error.name).toBe('CredentialUnavailableError');
    expect(error.message).toMatch(/An unexpected error occured while fetching the AAD Token/);
    expect(jwtPayload(unaffected).sub).toBe(other.principalId);
    expect(raw.status).toBe(503);
    expect(await raw.json()).not.toHaveProperty('access_token');
    expect(jwtPayload(await identityToken(identity)).sub).toBe(identity.principalId);
  });

  it('checks the request as App Service does: header, identity and resource', async () => {
    const identity = await cloud.createManagedIdentity({});
    const call = (headers: Record<string, string>, clientId: string, resource: string) =>
      fetch(`${endpoint.IDENTITY_ENDPOINT}?${query(clientId, resource)}`, { headers });
    const good = { 'X-IDENTITY-HEADER': endpoint.IDENTITY_HEADER };

    const answers = await Promise.all([
      call({}, identity.clientId, EXCHANGE),
      call({ 'X-IDENTITY-HEADER': 'guessed' }, identity.clientId, EXCHANGE),
      call(good, '11111111-2222-4333-8444-555555555555', EXCHANGE),
      call(good, identity.clientId, 'https://vault.azure.net'),
      call(good, identity.clientId, `${EXCHANGE}USGov/.default`),
    ]);

    expect(answers.map((answer) => answer.status)).toEqual([400, 401, 400, 400, 200]);
    expect(await answers[2].json()).toMatchObject({
      statusCode: 400,
      message: 'Unable to load the proper Managed Identity.',
    });
    expect(await answers[4].json()).toMatchObject({
      resource: `${EXCHANGE}USGov/.default`,
      token_type: 'Bearer',
      client_id: identity.clientId,
      expires_on: expect.stringMatching(/^\d+$/) as unknown,
    });
  });

  /** A token straight from the endpoint (no SDK, no cache). */
  async function rawTokenRequest(clientId: string, resource: string): Promise<{ access_token: string }> {
    const response = await fetch(`${endpoint.IDENTITY_ENDPOINT}?${query(clientId, resource)}`, {
      headers: { 'X-IDENTITY-HEADER': endpoint.IDENTITY_HEADER },
    });
    return (await response.json()) as { access_token: string };
  }
});

function query(clientId: string, resource: string): string {
  return new URLSearchParams({ 'api-version': '2019-08-01', resource, client_id: clientId }).toString();
}
