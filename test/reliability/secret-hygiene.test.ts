import { walkConsent } from '../../dev/browserless-consent';
import { startLocalHost } from '../../dev/local-host/local-functions-host';
import type { TenantInfo } from '../../dev/sim/types';
import { crawlInline } from '../../src/crawl/inline-crawl';
import { freePort, uniqueSeed } from '../support/test-app';
import { runCrawl } from './support/crawl-process';
import { httpClient } from './support/raw-http';
import { createReliabilityApp } from './support/reliability-app';

/** Anything shaped like a JWT (every access token Entra ID, and the simulator, issues). */
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]*/;

/**
 * Records what the browser side of consent flows carries: the state of every redirect and the value of every
 * cookie set. `walkConsent` uses the global `fetch`, so the recorder wraps it for the duration of `work`.
 */
async function recordingConsent<T>(
  seen: { states: Set<string>; cookies: Set<string> },
  work: () => Promise<T>,
): Promise<T> {
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const answer = await original(input, init);
    const location = answer.headers.get('location');
    if (location) {
      const params = new URL(location, 'http://127.0.0.1').searchParams;
      // The states we issue, and the authorization codes, nonces and PKCE challenges of the sign-in step.
      for (const name of ['state', 'code', 'nonce', 'code_challenge', 'invitation']) {
        const value = params.get(name);
        if (value) seen.states.add(value);
      }
    }
    for (const cookie of answer.headers.getSetCookie()) {
      const value = /^[^=]+=([^;]*)/.exec(cookie)?.[1];
      if (value) seen.cookies.add(value);
    }
    return answer;
  };
  try {
    return await work();
  } finally {
    globalThis.fetch = original;
  }
}

describe('secret hygiene', () => {
  it('logs no client secret, access token, state or cookie value in a whole demo run', async () => {
    const port = await freePort();
    const tokens = new Set<string>();
    const app = await createReliabilityApp({
      onboarding: 'invite',
      redirectUri: `http://127.0.0.1:${port}/api/consent/callback`,
      onAppToken: (token) => tokens.add(token),
    });
    const cloud = app.cloud;
    const output: string[] = [];
    const host = await startLocalHost(app.context, {
      port,
      workers: false,
      log: (level, text) => output.push(`${level} ${text}`),
    });
    const seen = { states: new Set<string>(), cookies: new Set<string>() };
    let invitationTokens: string[] = [];
    const rotatedSecret = `r0tated~${Date.now().toString(36)}-${uniqueSeed().toString(36)}`;
    const tenants: TenantInfo[] = [];
    try {
      // Sign-in and consent through the real endpoints: three tenants accept (named by domain, by ID, or not
      // named at all and signed in by a Privileged Role Administrator), one declines.
      for (let i = 0; i < 4; i += 1)
        tenants.push(await cloud.createTenant({ seed: uniqueSeed(), users: 12 }));
      const [byDomain, byId, picked, declined] = tenants as [TenantInfo, TenantInfo, TenantInfo, TenantInfo];
      // Invitations (ONBOARDING=invite): one per accepted tenant, created through the operator's route.
      const invite = httpClient(port);
      const links: string[] = [];
      try {
        for (const tenant of [byDomain, byId, picked, declined]) {
          const created = await invite.send({
            method: 'POST',
            path: '/api/invitations',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(tenant === byId ? { tenant: byId.tenantId } : {}),
          });
          expect(created.status).toBe(201);
          links.push(String((JSON.parse(created.body) as { link: string }).link));
        }
      } finally {
        invite.close();
      }
      invitationTokens = links.map((link) => new URL(link).searchParams.get('invitation') ?? '');
      const startOf = (i: number, tenant?: string) =>
        `http://127.0.0.1:${port}/api/consent/start?invitation=${invitationTokens[i]}` +
        (tenant ? `&tenant=${tenant}` : '');
      await recordingConsent(seen, async () => {
        const walks = [
          await walkConsent(startOf(0, byDomain.domain), `admin@${byDomain.domain}`, 'Accept'),
          await walkConsent(startOf(1, byId.tenantId), `admin@${byId.domain}`, 'Accept'),
          await walkConsent(startOf(2), `roles-admin@${picked.domain}`, 'Accept'),
          await walkConsent(startOf(3), `admin@${declined.domain}`, 'Cancel'),
        ];
        expect(walks.map((walk) => walk.status)).toEqual([200, 200, 200, 403]);
      });

      // A crawl by `npm run crawl` (info level: every line it has), one through the queues after
      // POST /api/tenants/{id}/crawl, and the operator's tenant list.
      const first = await runCrawl({ ...app.env, CRAWL_LOG_LEVEL: 'info' });
      output.push(first.stdout, first.stderr);
      expect(first.code).toBe(0);
      const client = httpClient(port);
      try {
        const queued = await client.send({ method: 'POST', path: `/api/tenants/${byDomain.tenantId}/crawl` });
        expect(queued.status).toBe(202);
        await host.drain();
        const listed = await client.send({ method: 'GET', path: '/api/tenants' });
        output.push(listed.body);
      } finally {
        client.close();
      }

      // The client secret is rotated: a new one on the app and in the vault, the old one removed. The running
      // app picks it up (in process), and so does the next `npm run crawl`.
      await cloud.addAppSecret(app.clientId, { value: rotatedSecret });
      await cloud.setVaultSecret(app.secretName, rotatedSecret);
      await cloud.removeAppSecret(app.clientId, app.clientSecret);
      for (const tenant of [byDomain, byId, picked]) app.context.credentials.forget(tenant.tenantId);
      const crawlable = await app.context.registry.listCrawlable();
      const rotated = await crawlInline(app.context.crawlDeps(), { tenants: crawlable });
      expect(rotated.map((result) => result.run?.status)).toEqual(crawlable.map(() => 'succeeded'));

      // One tenant withdraws consent; the next crawl marks it revoked.
      await cloud.revoke(byId.tenantId, app.clientId, 7000229);
      const last = await runCrawl({ ...app.env, CRAWL_LOG_LEVEL: 'info' });
      output.push(last.stdout, last.stderr);
      expect(last.code).toBe(0);
      expect((await app.context.registry.get(byId.tenantId))?.status).toBe('revoked');

      // The tokens the app used in this process, from its credential caches.
      const graphScope = `${new URL(app.env.GRAPH_ENDPOINT ?? '').origin}/.default`;
      for (const tenant of [byDomain, picked]) {
        tokens.add((await app.context.credentials.getToken(tenant.tenantId, graphScope)).token);
      }
      tokens.add((await app.context.credentials.getToken(byDomain.domain, graphScope)).token);
    } finally {
      await host.stop();
    }

    output.push(...app.logs.map((line) => `${line.level} ${line.message} ${JSON.stringify(line.fields)}`));
    const everything = output.join('\n');

    // The capture is real: it holds the run's story, and what is searched for was collected.
    expect(everything).toMatch(/consent recorded/);
    expect(everything).toMatch(/crawl run succeeded/);
    expect(everything).toContain(tenants[0]?.tenantId ?? '-');
    expect(seen.states.size).toBeGreaterThanOrEqual(4 * 4);
    expect(invitationTokens.filter((token) => /^[\w-]{43}$/.test(token))).toHaveLength(4);
    expect(seen.cookies.size).toBeGreaterThanOrEqual(4);
    expect(tokens.size).toBeGreaterThanOrEqual(3);
    for (const token of tokens) expect(token).toMatch(JWT);

    const secrets: Array<[string, string]> = [
      ['the client secret', app.clientSecret],
      ['the rotated client secret', rotatedSecret],
      ["the operator's own secret", app.env.AZURE_CLIENT_SECRET ?? ''],
      ...[...tokens].map((token): [string, string] => ['an access token', token]),
      ...[...seen.states].map((state): [string, string] => ['a consent state', state]),
      ...[...seen.cookies].map((cookie): [string, string] => ['a cookie value', cookie]),
      ...invitationTokens.map((token): [string, string] => ['an invitation token', token]),
    ];
    const leaked = secrets.filter(([, value]) => value.length >= 8 && everything.includes(value));
    expect(leaked.map(([what]) => what)).toEqual([]);
    expect(everything).not.toMatch(JWT);
  });
});
