import type { SimClient } from '../../dev/sim/sim-client';
import { sim } from '../support/sim';
import { createTestApp, uniqueSeed } from '../support/test-app';
import type { TestApp } from '../support/test-app';

const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

describe('TenantCredentials token cache', () => {
  let cloud: SimClient;
  let app: TestApp;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp();
  });

  async function consentedTenant(): Promise<string> {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 2 });
    await cloud.consent(tenant.tenantId, app.clientId);
    return tenant.tenantId;
  }

  const tokenRequests = async (tenantId: string): Promise<number> =>
    (await cloud.requestLog({ tenantId, clientId: app.clientId, service: 'token' })).length;

  it('asks Entra ID once for many calls, and again after forget()', async () => {
    const tenantId = await consentedTenant();
    const credentials = app.context.credentials;

    const first = await credentials.getToken(tenantId, GRAPH_SCOPE);
    const again = await Promise.all(
      Array.from({ length: 10 }, () => credentials.getToken(tenantId, GRAPH_SCOPE)),
    );
    expect(again.every((token) => token.token === first.token)).toBe(true);
    expect(await tokenRequests(tenantId)).toBe(1);

    credentials.forget(tenantId);
    await credentials.getToken(tenantId, GRAPH_SCOPE);
    expect(await tokenRequests(tenantId)).toBe(2);
  });

  it('keeps tokens apart per tenant', async () => {
    const [one, two] = [await consentedTenant(), await consentedTenant()];
    const credentials = app.context.credentials;

    const [tokenOne, tokenTwo] = [
      await credentials.getToken(one, GRAPH_SCOPE),
      await credentials.getToken(two, GRAPH_SCOPE),
    ];
    credentials.forget(one);
    await credentials.getToken(two, GRAPH_SCOPE);

    expect(tokenOne.token).not.toBe(tokenTwo.token);
    expect(await tokenRequests(one)).toBe(1);
    expect(await tokenRequests(two)).toBe(1);
  });
});
