import type { SimClient } from '../../dev/sim/sim-client';
import { planCrawl, recheckIncompleteConsent } from '../../src/crawl/plan-crawl';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, uniqueSeed } from '../support/test-app';
import { adminOf, consentClient, grantedQuery } from './consent-client';

/**
 * Consent that survives propagation (docs/permissions.md, "Right after consent"): Entra ID issues tokens without
 * the new roles for a while after consent, and Graph answers them `403`. The callback keeps proving with fresh
 * tokens through its window; past it the tenant waits as `consent_incomplete`, and every plan proves it again until
 * both permissions arrive.
 */
describe('consent while the new roles propagate', () => {
  let cloud: SimClient;

  beforeAll(() => {
    cloud = sim();
  });

  const tenantWithLag = async (app: TestApp, rolesLagMs: number) => {
    const tenant = await cloud.createTenant({
      seed: uniqueSeed(),
      users: 8,
      withoutDriveShare: 0,
      rolesLagMs,
    });
    await cloud.consent(tenant.tenantId, app.clientId);
    return tenant;
  };

  it('proves through the lag with fresh tokens and records the tenant active', async () => {
    const app = await createTestApp({ consentPropagationWindowMs: 20_000 });
    const client = consentClient(app.context);
    const tenant = await tenantWithLag(app, 3_000);
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/is connected/);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
    // Graph answered 403 to the roleless tokens first: the callback did not give up on them.
    const log = await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph' });
    expect(log.some((entry) => entry.status === 403)).toBe(true);
    expect(log.at(-1)?.status).toBe(200);
  }, 60_000);

  it('past its window, says the permissions are still arriving; the next plan proves them and crawls the tenant', async () => {
    const app = await createTestApp({ consentPropagationWindowMs: 0 });
    const client = consentClient(app.context);
    const tenant = await tenantWithLag(app, 2_500);
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.body).toContain('Consent is incomplete');
    expect(answer.body).toMatch(/checked again automatically/);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('consent_incomplete');

    // Still inside the lag: the re-check keeps it waiting, with what is missing.
    const early = await recheckIncompleteConsent(app.context.crawlDeps(), tenant.tenantId);
    expect(early).toEqual({ granted: [], waiting: [tenant.tenantId] });
    expect((await app.context.registry.get(tenant.tenantId))?.lastError).toMatch(/User\.Read\.All/);

    await new Promise((resolve) => setTimeout(resolve, 2_600));
    const queued: string[] = [];
    const deps = app.context.crawlDeps({
      enqueueTenant: (message) => {
        queued.push(message.tenantId);
        return Promise.resolve();
      },
    });
    const { planned } = await planCrawl(deps);
    expect(planned.map((run) => run.tenantId)).toContain(tenant.tenantId);
    expect(queued).toContain(tenant.tenantId);
    const after = await app.context.registry.get(tenant.tenantId);
    expect(after?.status).toBe('active');
    expect(after?.lastError).toBeUndefined();
  }, 60_000);
});
