import type { SimClient } from '../../dev/sim/sim-client';
import { DIMENSIONS, METRICS } from '../../src/telemetry/crawl-metrics';
import { adminOf, consentClient, grantedQuery } from '../consent/consent-client';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, uniqueSeed } from '../support/test-app';
import type { Point } from './metric-capture';
import { captureMetrics } from './metric-capture';

/**
 * Consent outcomes as metrics (docs/telemetry.md), read from the OpenTelemetry SDK's in-memory exporter: the
 * tenant ID is a dimension only once consent was proven for it, never the tenant a request named.
 */
describe('consent metrics', () => {
  let cloud: SimClient;
  let app: TestApp;
  let client: ReturnType<typeof consentClient>;
  let capture: ReturnType<typeof captureMetrics>;

  beforeAll(async () => {
    cloud = sim();
    capture = captureMetrics();
    // No propagation window: a consent without one of the roles is answered `consent_incomplete` at once.
    app = await createTestApp({ meter: capture.meter, consentPropagationWindowMs: 0 });
    client = consentClient(app.context);
  });

  afterAll(() => capture.shutdown());

  const newTenant = async (consent: 'all' | 'users only' | 'none') => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 4, withoutDriveShare: 0 });
    if (consent === 'all') await cloud.consent(tenant.tenantId, app.clientId);
    if (consent === 'users only')
      await cloud.consent(tenant.tenantId, app.clientId, { roles: ['User.Read.All'] });
    return tenant;
  };

  /** The consent outcomes counted since `before`, as `outcome/reason[/tenant]` with their counts. */
  const outcomesSince = async (before: Point[]) => {
    const counted = new Map<string, number>();
    const key = (point: Point) =>
      [
        point.attributes[DIMENSIONS.consentOutcome],
        point.attributes[DIMENSIONS.consentReason],
        point.attributes[DIMENSIONS.tenantId],
      ]
        .filter((part) => part !== undefined)
        .join('/');
    for (const point of before.filter((p) => p.metric === METRICS.consentOutcomes)) {
      counted.set(key(point), -point.value);
    }
    for (const point of (await capture.points()).filter((p) => p.metric === METRICS.consentOutcomes)) {
      counted.set(key(point), (counted.get(key(point)) ?? 0) + point.value);
    }
    return Object.fromEntries([...counted].filter(([, count]) => count !== 0));
  };

  it('counts a verified consent as granted, with the tenant the token proved', async () => {
    const tenant = await newTenant('all');
    const before = await capture.points();
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    // The sign-in step counts too, without a tenant: consent is not proven yet.
    expect(await outcomesSince(before)).toEqual({
      'signed_in/admin': 1,
      [`granted/active/${tenant.tenantId}`]: 1,
    });
  });

  it('counts a consent missing a permission as incomplete, with its verified tenant', async () => {
    const tenant = await newTenant('users only');
    const before = await capture.points();
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.body).toContain('Consent is incomplete');
    expect(await outcomesSince(before)).toEqual({
      'signed_in/admin': 1,
      [`incomplete/consent_incomplete/${tenant.tenantId}`]: 1,
    });
  });

  it('counts a consent it cannot prove as not verified, without the tenant the answer named', async () => {
    const tenant = await newTenant('none');
    const before = await capture.points();
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(403);
    expect(await outcomesSince(before)).toEqual({ 'signed_in/admin': 1, 'not_verified/no_token': 1 });
  });

  it('counts a declined consent without a tenant', async () => {
    const tenant = await newTenant('none');
    const before = await capture.points();
    const flow = await client.signIn(adminOf(tenant));
    const query = new URLSearchParams({ error: 'access_denied', state: flow.state, tenant: tenant.tenantId });
    expect((await client.callback(query, flow.cookie)).status).toBe(403);
    expect(await outcomesSince(before)).toEqual({ 'signed_in/admin': 1, 'declined/declined': 1 });
  });

  it('never takes a tenant ID a caller chose as a dimension', async () => {
    const tenant = await newTenant('all');
    const before = await capture.points();
    // A state it never issued, naming a tenant that consented: refused, and the tenant is nowhere in the metrics.
    const forged = await client.callback(grantedQuery(tenant.tenantId, 'A'.repeat(43)));
    expect(forged.status).toBe(400);
    // A malformed answer naming it too.
    const malformed = grantedQuery(tenant.tenantId, 'A'.repeat(43));
    malformed.append('tenant', tenant.tenantId);
    expect((await client.callback(malformed)).status).toBe(400);
    expect(await outcomesSince(before)).toEqual({ 'refused/state_unknown': 1, 'refused/malformed': 1 });
    const values = (await capture.points()).flatMap((point) => Object.values(point.attributes));
    expect(values).not.toContain(tenant.tenantId);
  });
});
