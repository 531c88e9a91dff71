import type { SimClient } from '../../dev/sim/sim-client';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, uniqueSeed } from '../support/test-app';
import { adminOf, consentClient, grantedQuery } from './consent-client';

describe('consent callback', () => {
  let cloud: SimClient;
  let app: TestApp;
  let client: ReturnType<typeof consentClient>;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp();
    client = consentClient(app.context);
  });

  const newTenant = async (options: { consent?: boolean; users?: number } = {}) => {
    const tenant = await cloud.createTenant({
      seed: uniqueSeed(),
      users: options.users ?? 12,
      withoutDriveShare: 0,
    });
    if (options.consent !== false) await cloud.consent(tenant.tenantId, app.clientId);
    return tenant;
  };

  it('records the tenant as active when consent is verified', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    expect(flow.answer.status).toBe(302);
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain(tenant.tenantId);
    expect(answer.body).toMatch(/first be read at\s+the next scheduled run/);
    const row = await app.context.registry.get(tenant.tenantId);
    expect(row).toMatchObject({ tenantId: tenant.tenantId, status: 'active' });
    expect(row?.consentedAt).toBeInstanceOf(Date);
  });

  it('names the organization by the domain the admin gave and keys it by the token tenant ID', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant), { tenant: tenant.domain });
    expect(flow.location?.pathname).toBe(`/${tenant.tenantId}/v2.0/adminconsent`);
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain(tenant.domain);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
  });

  it('stores nothing when the admin declined', async () => {
    const tenant = await newTenant({ consent: false });
    const flow = await client.signIn(adminOf(tenant));
    const query = new URLSearchParams({
      error: 'access_denied',
      error_description: 'AADSTS65004: User declined to consent to access the app.',
      state: flow.state,
    });
    const answer = await client.callback(query, flow.cookie);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('Consent was not granted');
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
  });

  it('treats admin_consent=True next to an error as declined', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    const query = grantedQuery(tenant.tenantId, flow.state);
    query.set('error', 'consent_required');
    query.set('error_description', 'AADSTS65004');
    const answer = await client.callback(query, flow.cookie);
    expect(answer.status).toBe(403);
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
  });

  it('stores nothing when the token Entra ID hands out belongs to another tenant than the one named', async () => {
    const named = await newTenant();
    const other = await newTenant();
    const flow = await client.signIn(adminOf(named));
    // A token endpoint answering for the wrong tenant (a misrouted authority, a hostile proxy): the simulated
    // Entra ID never does this by itself, so the credential asks it for the other tenant's token instead.
    const credentials = app.context.credentials;
    const real = credentials.getToken.bind(credentials);
    const swap = jest
      .spyOn(credentials, 'getToken')
      .mockImplementation((tenantId, scopes, options) =>
        real(tenantId === named.tenantId ? other.tenantId : tenantId, scopes, options),
      );
    try {
      const answer = await client.callback(grantedQuery(named.tenantId, flow.state), flow.cookie);
      expect(answer.status).toBe(403);
      expect(answer.body).toContain('named a different organization');
      expect(swap).toHaveBeenCalledWith(named.tenantId, expect.anything());
    } finally {
      swap.mockRestore();
    }
    expect(await app.context.registry.get(named.tenantId)).toBeUndefined();
    expect(await app.context.registry.get(other.tenantId)).toBeUndefined();
  });

  it('refuses a callback without a state', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    const query = grantedQuery(tenant.tenantId, flow.state);
    query.delete('state');
    expect((await client.callback(query, flow.cookie)).status).toBe(400);
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
  });

  it('refuses a state it never issued', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, 'A'.repeat(43)), flow.cookie);
    expect(answer.status).toBe(400);
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
  });

  it('refuses an expired state', async () => {
    let clock = Date.now();
    const timed = await createTestApp({ now: () => new Date(clock) });
    const timedClient = consentClient(timed.context);
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 5 });
    await cloud.consent(tenant.tenantId, timed.clientId);
    const flow = await timedClient.signIn(adminOf(tenant));
    clock += 61 * 60_000;
    const answer = await timedClient.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('expired');
    expect(await timed.context.registry.get(tenant.tenantId)).toBeUndefined();
  });

  it('refuses a replayed state', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    expect((await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie)).status).toBe(200);
    const replay = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain('already used');
  });

  it('refuses a state presented by another browser and leaves it usable for the right one', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    const other = await client.start();
    expect(other.cookie).not.toBe(flow.cookie);
    const foreign = await client.callback(grantedQuery(tenant.tenantId, flow.state), other.cookie);
    expect(foreign.status).toBe(403);
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
    const noCookie = await client.callback(grantedQuery(tenant.tenantId, flow.state));
    expect(noCookie.status).toBe(403);
    expect((await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie)).status).toBe(200);
  });

  it('accepts a state with text appended by Entra ID', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(
      grantedQuery(tenant.tenantId, `${flow.state} Sign in to your account`),
      flow.cookie,
    );
    expect(answer.status).toBe(200);
  });

  it('stores nothing when the admin comes back without the app being consented (AADSTS700016)', async () => {
    const victim = await newTenant({ consent: false });
    const flow = await client.signIn(adminOf(victim));
    const answer = await client.callback(grantedQuery(victim.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('could not sign in');
    expect(await app.context.registry.get(victim.tenantId)).toBeUndefined();
    expect(
      client.logs.some((line) => line.includes('consent not verified') && line.includes('"aadsts":700016')),
    ).toBe(true);
  });

  it('keeps no credential for tenants that forged callbacks name', async () => {
    const before = app.context.credentials.cachedTenants;
    const forged = [
      ...Array.from(
        { length: 20 },
        (_, i) => `0000${String(i).padStart(4, '0')}-dead-4bee-8f00-00000000f00d`,
      ),
      (await newTenant({ consent: false })).tenantId,
      'unknown-customer.onmicrosoft.test',
    ];
    const signedInTo = await newTenant();
    for (const tenant of forged) {
      const flow = await client.signIn(adminOf(signedInTo));
      const answer = await client.callback(grantedQuery(tenant, flow.state), flow.cookie);
      expect(answer.status).toBe(403);
    }
    expect(app.context.credentials.cachedTenants).toBe(before);
  });

  it('records consent_incomplete when the token lacks a role', async () => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 8, withoutDriveShare: 0 });
    await cloud.consent(tenant.tenantId, app.clientId, { roles: ['User.Read.All'] });
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('Files.Read.All');
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('consent_incomplete');
  });

  it('brings a consent_incomplete tenant back to active when consent is granted again', async () => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 8, withoutDriveShare: 0 });
    await cloud.consent(tenant.tenantId, app.clientId, { roles: ['Files.Read.All'] });
    let flow = await client.signIn(adminOf(tenant));
    await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('consent_incomplete');
    await cloud.consent(tenant.tenantId, app.clientId);
    flow = await client.signIn(adminOf(tenant));
    expect((await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie)).status).toBe(200);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
  });

  it('retries through replication lag right after consent and then succeeds', async () => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 6 });
    await cloud.consent(tenant.tenantId, app.clientId, { replicationLagMs: 1_200, lagCode: 700016 });
    const flow = await client.signIn(adminOf(tenant));
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
  });

  it('sends the security headers on every page', async () => {
    const pages = [
      await client.landing(),
      (await client.start({ tenant: 'not a tenant!' })).answer,
      await client.callback(''),
    ];
    for (const page of pages) {
      expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
      expect(page.headers['content-security-policy']).not.toMatch(/script-src/);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      expect(page.headers['strict-transport-security']).toMatch(/^max-age=31536000/);
    }
    expect(pages[1]?.status).toBe(400);
  });

  it('binds the state to the browser with an HttpOnly, Secure, SameSite=Lax cookie', async () => {
    const flow = await client.start();
    expect(flow.setCookie).toMatch(/HttpOnly/);
    expect(flow.setCookie).toMatch(/Secure/);
    expect(flow.setCookie).toMatch(/SameSite=Lax/);
    expect(flow.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const signIn = flow.location?.searchParams;
    expect(signIn?.get('client_id')).toBe(app.clientId);
    expect(signIn?.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile']));
    expect(signIn?.get('response_type')).toBe('code');
    expect(signIn?.get('code_challenge_method')).toBe('S256');
    expect(signIn?.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(signIn?.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(flow.location?.pathname).toBe('/organizations/oauth2/v2.0/authorize');
    // The same browser keeps its binding for a second flow.
    const again = await client.start({ cookie: flow.cookie });
    expect(again.cookie).toBe(flow.cookie);
    expect(again.state).not.toBe(flow.state);
  });
});
