import { signInAt } from '../../dev/browserless-consent';
import type { SimClient } from '../../dev/sim/sim-client';
import { AdminSignIn, SignInError } from '../../src/consent/admin-sign-in';
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
  const tokenRequestsSince = (since: number) =>
    cloud.requestLog({ service: 'token', clientId: app.clientId, since });

  it('sends a Global Administrator from sign-in to the adminconsent page of their own tenant', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(adminOf(tenant));
    expect(flow.answer.status).toBe(302);
    expect(flow.location?.pathname).toBe(`/${tenant.tenantId}/v2.0/adminconsent`);
    expect(flow.location?.searchParams.get('client_id')).toBe(app.clientId);
    expect(flow.location?.searchParams.get('scope')).toMatch(/\/\.default$/);
    const answer = await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(200);
    expect((await app.context.registry.get(tenant.tenantId))?.status).toBe('active');
  });

  it('lets a Privileged Role Administrator onboard too', async () => {
    const tenant = await newTenant();
    const flow = await client.signIn(`roles-admin@${tenant.domain}`);
    expect(flow.answer.status).toBe(302);
    expect((await client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie)).status).toBe(200);
  });

  it.each([
    ['a member without admin roles', (domain: string) => `user1@${domain}`],
    ['a Helpdesk Administrator', (domain: string) => `helpdesk@${domain}`],
  ])('tells %s who can grant it, and stores nothing', async (_who, login) => {
    const tenant = await newTenant();
    const flow = await client.signIn(login(tenant.domain));
    expect(flow.answer.status).toBe(403);
    expect(flow.answer.body).toContain('An administrator needs to do this');
    expect(flow.answer.body).toContain('Global Administrator');
    expect(flow.answer.body).toContain('Privileged Role Administrator');
    expect(flow.location).toBeUndefined();
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
  });

  it('refuses a forged "granted" answer carrying a sign-in state, before any token is asked', async () => {
    // The target consented to this app registration elsewhere (another product, a customer who left).
    const target = await newTenant();
    const since = Date.now();
    const flow = await client.start();
    const answer = await client.callback(grantedQuery(target.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(400);
    expect(await app.context.registry.get(target.tenantId)).toBeUndefined();
    expect(await tokenRequestsSince(since)).toEqual([]);
  });

  it('refuses to let an admin of tenant A onboard tenant B', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const flow = await client.signIn(adminOf(a));
    const since = Date.now();
    const answer = await client.callback(grantedQuery(b.tenantId, flow.state), flow.cookie);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('different organization than the one you signed in to');
    expect(await app.context.registry.get(a.tenantId)).toBeUndefined();
    expect(await app.context.registry.get(b.tenantId)).toBeUndefined();
    expect(await tokenRequestsSince(since)).toEqual([]);
  });

  it("refuses the ISV's own home tenant", async () => {
    const env = await cloud.env();
    const flow = await client.signIn('admin@operator.onmicrosoft.test');
    expect(flow.answer.status).toBe(403);
    expect(flow.answer.body).toContain('own organization');
    expect(await app.context.registry.get(env.AZURE_TENANT_ID)).toBeUndefined();
  });

  it('says the app registration must emit directory roles when the ID token has no wids claim', async () => {
    const noRoles = await createTestApp({}, { groupMembershipClaims: 'None' });
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 3 });
    const noRolesClient = consentClient(noRoles.context);
    const flow = await noRolesClient.signIn(adminOf(tenant));
    expect(flow.answer.status).toBe(503);
    expect(flow.answer.body).toContain('could not check your role');
    expect(noRolesClient.logs.some((line) => line.includes('"outcome":"roles_unknown"'))).toBe(true);
  });

  it('refuses a sign-in answer replayed, or brought back by another browser', async () => {
    const tenant = await newTenant();
    const started = await client.start();
    const back = new URL(await signInAt(started.location?.toString() ?? '', adminOf(tenant)));
    const stranger = await client.start();
    expect((await client.callback(back.searchParams, stranger.cookie)).status).toBe(403);
    expect((await client.callback(back.searchParams, started.cookie)).status).toBe(302);
    const replay = await client.callback(back.searchParams, started.cookie);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain('already used');
  });

  it('refuses a code whose PKCE verifier or nonce does not match the flow (the code is redeemed once)', async () => {
    const tenant = await newTenant();
    const started = await client.start();
    const signInUrl = started.location?.toString() ?? '';
    const code = new URL(await signInAt(signInUrl, adminOf(tenant))).searchParams.get('code') ?? '';
    const env = await cloud.env();
    const signIn = new AdminSignIn({
      clientId: app.clientId,
      authorityHost: env.AUTHORITY_HOST,
      authorityIsPublicCloud: false,
      redirectUri: 'http://127.0.0.1:7071/api/consent/callback',
      clientAuth: () => Promise.resolve({ clientSecret: app.clientSecret }),
    });
    const request = {
      authority: 'organizations',
      state: started.state,
      nonce: started.location?.searchParams.get('nonce') ?? '',
      verifier: (await AdminSignIn.pkce()).verifier,
    };
    await expect(signIn.redeem(request, code)).rejects.toMatchObject({ reason: 'code_rejected' });
    // The right verifier is too late: a code is redeemed once, whatever the outcome.
    await expect(signIn.redeem(request, code)).rejects.toBeInstanceOf(SignInError);
  });

  it('verifies the ID token: a token of tenant A presented as tenant B, or for another app or nonce, is refused', async () => {
    const tenant = await newTenant();
    const other = await newTenant();
    const env = await cloud.env();
    const options = {
      clientId: app.clientId,
      authorityHost: env.AUTHORITY_HOST,
      authorityIsPublicCloud: false,
      redirectUri: 'http://127.0.0.1:7071/api/consent/callback',
      clientAuth: () => Promise.resolve({ clientSecret: app.clientSecret }),
    };
    const verifier = new AdminSignIn(options);
    const idToken = await realIdToken(env.AUTHORITY_HOST, app, tenant.domain);
    const [header, payload, signature] = idToken.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const reissued = (changes: Record<string, unknown>) =>
      `${header}.${Buffer.from(JSON.stringify({ ...claims, ...changes })).toString('base64url')}.${signature}`;

    await expect(verifier.verifyIdToken(idToken.token, idToken.nonce)).resolves.toMatchObject({
      tenantId: tenant.tenantId,
      roles: expect.arrayContaining(['62e90394-69f5-4237-9190-012177145e10']),
    });
    await expect(verifier.verifyIdToken(idToken.token, 'another nonce')).rejects.toMatchObject({
      reason: 'token_invalid',
    });
    // Claims changed after signing: tenant B (checked with B's keys), or roles added.
    await expect(
      verifier.verifyIdToken(
        reissued({ tid: other.tenantId, iss: `${env.AUTHORITY_HOST}/${other.tenantId}/v2.0` }),
        idToken.nonce,
      ),
    ).rejects.toMatchObject({ reason: 'token_invalid' });
    await expect(
      verifier.verifyIdToken(reissued({ wids: ['62e90394-69f5-4237-9190-012177145e10'] }), idToken.nonce),
    ).rejects.toMatchObject({
      reason: 'token_invalid',
    });
    const otherApp = new AdminSignIn({ ...options, clientId: '00000000-0000-4000-8000-000000000abc' });
    await expect(otherApp.verifyIdToken(idToken.token, idToken.nonce)).rejects.toMatchObject({
      reason: 'token_invalid',
    });
  });
});

/** A real ID token from the simulator for the tenant's admin: sign in, then redeem the code with its verifier. */
async function realIdToken(
  authorityHost: string,
  app: TestApp,
  domain: string,
): Promise<{ token: string; nonce: string }> {
  const { verifier, challenge } = await AdminSignIn.pkce();
  const nonce = 'n'.repeat(43);
  const authorize = new URL(`${authorityHost}/organizations/oauth2/v2.0/authorize`);
  for (const [name, value] of Object.entries({
    client_id: app.clientId,
    response_type: 'code',
    redirect_uri: 'http://127.0.0.1:7071/api/consent/callback',
    scope: 'openid profile',
    state: 's'.repeat(43),
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(name, value);
  }
  const code =
    new URL(await signInAt(authorize.toString(), `admin@${domain}`)).searchParams.get('code') ?? '';
  const answer = await fetch(`${authorityHost}/organizations/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: app.clientId,
      client_secret: app.clientSecret,
      code,
      redirect_uri: 'http://127.0.0.1:7071/api/consent/callback',
      code_verifier: verifier,
    }),
  });
  const body = (await answer.json()) as { id_token?: string };
  if (!body.id_token) throw new Error(`no ID token: ${answer.status}`);
  return { token: body.id_token, nonce };
}
