import type { SimClient } from '../../dev/sim/sim-client';
import { TABLES } from '../../src/storage/storage-clients';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, uniqueSeed } from '../support/test-app';
import { adminOf, consentClient, grantedQuery } from './consent-client';

describe('onboarding by invitation (ONBOARDING=invite)', () => {
  let cloud: SimClient;
  let clock = Date.now();
  let app: TestApp;
  let client: ReturnType<typeof consentClient>;

  beforeAll(async () => {
    cloud = sim();
    app = await createTestApp({ now: () => new Date(clock) }, { onboarding: 'invite' });
    client = consentClient(app.context);
  });

  const newTenant = async () => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 4, withoutDriveShare: 0 });
    await cloud.consent(tenant.tenantId, app.clientId);
    return tenant;
  };

  /** Creates an invitation through the route; returns its ID and the token from its link. */
  const invite = async (body: Record<string, unknown> = {}) => {
    const answer = await client.invite(body);
    expect(answer.status).toBe(201);
    const created = JSON.parse(answer.body) as { id: string; link: string; expiresAt: string };
    return { ...created, token: new URL(created.link).searchParams.get('invitation') ?? '' };
  };

  async function stateRows(): Promise<number> {
    let count = 0;
    try {
      for await (const _row of app.context.storage.table(TABLES.consentStates).listEntities()) count += 1;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    return count;
  }

  it('creates a single-use invitation whose link goes to the landing page', async () => {
    const created = await invite({ label: 'Contoso Ltd' });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.link).toMatch(/^http:\/\/127\.0\.0\.1:7071\/api\/consent\?invitation=[\w-]{43}$/);
    const days = (Date.parse(created.expiresAt) - clock) / 86_400_000;
    expect(days).toBeCloseTo(7, 3);
    const landing = await client.landing(`invitation=${created.token}`);
    expect(landing.status).toBe(200);
    expect(landing.body).toContain(`name="invitation" value="${created.token}"`);
  });

  it.each([
    ['a tenant that is not a GUID', { tenant: 'contoso.com' }, 'tenant must be a tenant ID'],
    ["the ISV's own tenant", 'home', 'HOME_TENANT_ID'],
    ['a lifetime past 30 days', { expiresInHours: 721 }, 'at most 720'],
    ['a fractional lifetime', { expiresInHours: 1.5 }, 'whole number'],
    ['an unknown field', { tenantId: 'x' }, 'Unrecognized key'],
    ['a body that is not JSON', '{tenant:', 'must be JSON'],
  ])('refuses an invitation for %s with a 400 that says why', async (_case, body, message) => {
    const env = await cloud.env();
    const answer = await client.invite(body === 'home' ? { tenant: env.AZURE_TENANT_ID } : body);
    expect(answer.status).toBe(400);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_request' });
    expect(answer.body).toContain(message);
  });

  it('asks for an invitation and stores nothing when there is none', async () => {
    const landing = await client.landing();
    expect(landing.body).toContain('You need an invitation link');
    expect(landing.body).not.toContain('<form');
    const before = await stateRows();
    const started = await client.start();
    expect(started.answer.status).toBe(200);
    expect(started.answer.body).toContain('You need an invitation link');
    const invented = await client.start({ invitation: 'A'.repeat(43) });
    expect(invented.answer.status).toBe(403);
    expect(invented.answer.body).toContain('not valid');
    expect(await stateRows()).toBe(before);
  });

  it('onboards through an invitation once, records it on the tenant, and refuses it afterwards', async () => {
    const tenant = await newTenant();
    const created = await invite();
    const flow = await client.signIn(adminOf(tenant), { invitation: created.token });
    expect(flow.answer.status).toBe(302);
    expect((await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie)).status).toBe(200);
    expect(await app.context.registry.get(tenant.tenantId)).toMatchObject({
      status: 'active',
      invitationId: created.id,
    });
    const again = await client.landing(`invitation=${created.token}`);
    expect(again.status).toBe(403);
    expect(again.body).toContain('already used');
    expect((await client.start({ invitation: created.token })).answer.status).toBe(403);
  });

  it('refuses an expired invitation', async () => {
    const created = await invite({ expiresInHours: 1 });
    clock += 61 * 60_000;
    try {
      const started = await client.start({ invitation: created.token });
      expect(started.answer.status).toBe(403);
      expect(started.answer.body).toContain('expired');
    } finally {
      clock = Date.now();
    }
  });

  it('signs in at the invited tenant and refuses an admin of another one', async () => {
    const invited = await newTenant();
    const stranger = await newTenant();
    const created = await invite({ tenant: invited.tenantId });
    const started = await client.start({ invitation: created.token });
    expect(started.location?.pathname).toBe(`/${invited.tenantId}/oauth2/v2.0/authorize`);
    // An admin of another tenant cannot even sign in at the invited tenant's authority...
    await expect(client.signIn(adminOf(stranger), { invitation: created.token })).rejects.toThrow(
      /AADSTS50020/,
    );
    // ...and the invitation still works for the tenant it names.
    const flow = await client.signIn(adminOf(invited), { invitation: created.token });
    expect((await client.callback(grantedQuery(invited.tenantId, flow.state), flow.cookie)).status).toBe(200);
    expect(await app.context.registry.get(stranger.tenantId)).toBeUndefined();
  });

  it('binds an open invitation to the first tenant whose admin signs in with it', async () => {
    const first = await newTenant();
    const second = await newTenant();
    const created = await invite();
    const claimed = await client.signIn(adminOf(first), { invitation: created.token });
    expect(claimed.answer.status).toBe(302);
    const foreign = await client.signIn(adminOf(second), { invitation: created.token });
    expect(foreign.answer.status).toBe(403);
    expect(foreign.answer.body).toContain('made for another organization');
    expect(await app.context.registry.get(second.tenantId)).toBeUndefined();
    // The first tenant's admin can still finish.
    expect((await client.callback(grantedQuery(first.tenantId, claimed.state), claimed.cookie)).status).toBe(
      200,
    );
  });

  it('lets only one of two browsers racing with one invitation onboard', async () => {
    const tenant = await newTenant();
    const created = await invite();
    const [one, two] = await Promise.all([
      client.signIn(adminOf(tenant), { invitation: created.token }),
      client.signIn(`roles-admin@${tenant.domain}`, { invitation: created.token }),
    ]);
    const answers = await Promise.all([
      client.callback(grantedQuery(tenant.tenantId, one.state), one.cookie),
      client.callback(grantedQuery(tenant.tenantId, two.state), two.cookie),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 403]);
  });
});

describe('an offboarded organization (ONBOARDING=open)', () => {
  it('is asked for a new invitation before it can consent again', async () => {
    const cloud = sim();
    const app = await createTestApp({}, { onboarding: 'open' });
    const client = consentClient(app.context);
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 4, withoutDriveShare: 0 });
    await cloud.consent(tenant.tenantId, app.clientId);
    const first = await client.signIn(adminOf(tenant));
    expect((await client.callback(grantedQuery(tenant.tenantId, first.state), first.cookie)).status).toBe(
      200,
    );

    await app.context.registry.markOffboarded(tenant.tenantId, new Date());
    const refused = await client.signIn(adminOf(tenant));
    expect(refused.answer.status).toBe(403);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('offboarded');

    const created = await client.invite({});
    const token =
      new URL((JSON.parse(created.body) as { link: string }).link).searchParams.get('invitation') ?? '';
    const back = await client.signIn(adminOf(tenant), { invitation: token });
    expect(back.answer.status).toBe(302);
    expect((await client.callback(grantedQuery(tenant.tenantId, back.state), back.cookie)).status).toBe(200);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
  });
});
