import type { SimClient } from '../../dev/sim/sim-client';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, uniqueSeed } from '../support/test-app';
import { adminOf, consentClient, grantedQuery } from './consent-client';

describe('signing the admin in before consent', () => {
  let cloud: SimClient;
  let app: TestApp;
  let client: ReturnType<typeof consentClient>;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp();
    client = consentClient(app.context);
  });

  const newTenant = async (options: { consent?: boolean } = {}) => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 6, withoutDriveShare: 0 });
    if (options.consent !== false) await cloud.consent(tenant.tenantId, app.clientId);
    return tenant;
  };

  it('sends a Global Administrator from sign-in to the adminconsent page of their own tenant', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    expect(flow.answer.status).toBe(302);
    expect(flow.location?.pathname).toBe(`/${tenant.tenantId}/v2.0/adminconsent`);
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
  });
});
