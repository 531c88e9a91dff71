import fc from 'fast-check';
import type { RunningLocalHost } from '../../dev/local-host/local-functions-host';
import { signInAt } from '../../dev/browserless-consent';
import { startLocalHost } from '../../dev/local-host/local-functions-host';
import type { TenantInfo } from '../../dev/sim/types';
import { TABLES } from '../../src/storage/storage-clients';
import { freePort, uniqueSeed } from '../support/test-app';
import type { HttpAnswer } from './support/raw-http';
import { httpClient, sendRaw } from './support/raw-http';
import type { ReliabilityApp } from './support/reliability-app';
import { createReliabilityApp } from './support/reliability-app';

/** Values an attacker tries: markup, header and path injection, Unicode look-alikes and controls. */
const PAYLOADS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg/onload=alert(1)>",
  '</title><x-probe>',
  '`${7*7}`{{7*7}}',
  'javascript:alert(1)',
  '\r\nSet-Cookie: dc_consent=evil',
  '\r\nX-Injected: 1',
  '%0d%0aX-Injected:%201',
  '\nLocation: https://evil.example',
  '../../../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%00',
  '%c0%af',
  '%zz',
  '%',
  '&&&===',
  '\u202egnp.exe',
  'ｃｏｎｔｏｓｏ．ｃｏｍ',
  'con\u200btoso.com',
  'аdmin.onmicrosoft.com',
  '\ufeff00000000-0000-0000-0000-000000000000',
  'e\u0301\u0301\u0301',
  '𝕏😀\ud800',
  '\u0000\u0001\u0007\u001b[31m',
  "'; DROP TABLE Tenants; --",
  '__proto__',
  'constructor',
  'True',
  'organizations',
  '00000000-0000-0000-0000-000000000000',
  'A'.repeat(43),
];

const hostile = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PAYLOADS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...PAYLOADS), fc.string({ maxLength: 6 }), fc.constantFrom(...PAYLOADS))
      .map(([a, b, c]) => a + b + c),
  },
);

/**
 * A huge value, one per request: encoded, the request line stays under Node's 16 KiB header limit (what goes
 * beyond it is among the raw cases).
 */
const huge = fc.oneof(
  fc.integer({ min: 1_000, max: 10_000 }).map((length) => 'A'.repeat(length)),
  fc
    .tuple(fc.integer({ min: 300, max: 1_200 }), fc.constantFrom('<', '&', '%', 'é', '"'))
    .map(([length, unit]) => unit.repeat(length)),
);

/** Percent-encodes what an HTTP client cannot put in a request target, and nothing else (quotes, `<`, `%` stay). */
function rawTarget(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out +=
      byte > 0x20 && byte < 0x7f && byte !== 0x23
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** What Node's client lets through in a header value: tab, printable ASCII and Latin-1. */
function headerValue(value: string): string {
  return value.replace(/[^\t\x20-\x7e\xa0-\xff]/g, '?');
}

const METHODS = [
  'GET',
  'GET',
  'GET',
  'POST',
  'POST',
  'HEAD',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'MKCOL',
  'SEARCH',
  'PURGE',
  'M-SEARCH',
  'LINK',
];

const PATHS = [
  '/api/consent',
  '/api/consent/start',
  '/api/consent/callback',
  '/api/tenants',
  '/api/invitations',
  '/api/consent/',
  '/api/consent/start/',
  '/API/consent/start',
  '/api//consent/callback',
  '/api/./consent/callback',
  '/api/tenants/../consent/start',
  '/api/consent%2Fcallback',
  '/api/consent/callback/..',
  '/api/consent/start;x=1',
  '/',
  '/api',
  '/favicon.ico',
];

const PARAMS = [
  'tenant',
  'state',
  'admin_consent',
  'error',
  'error_description',
  'scope',
  'redirect_uri',
  'code',
  'invitation',
  'tenant[]',
  '__proto__',
  '',
];

interface Generated {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** The attacker-controlled values, decoded, that must never come back as markup. */
  probes: string[];
}

describe('every HTTP route under hostile input', () => {
  let app: ReliabilityApp;
  let host: RunningLocalHost;
  let port: number;
  let forged: TenantInfo;
  let authority: string;
  const hostLog: string[] = [];
  /** Real flows started through the start route: their states and cookies make callbacks go deeper. */
  const flows: Array<{ state: string; cookie: string }> = [];

  beforeAll(async () => {
    port = await freePort();
    app = await createReliabilityApp({
      redirectUri: `http://127.0.0.1:${port}/api/consent/callback`,
      // A forged callback must not wait out the replication-lag retries: one try is what this test needs.
      overrides: { consentRetryWindowMs: 0 },
    });
    authority = app.env.AUTHORITY_HOST ?? '';
    host = await startLocalHost(app.context, {
      port,
      workers: false,
      log: (level, text) => hostLog.push(`${level} ${text}`),
    });
    // A real tenant in which the app was never consented: a callback naming it is the classic forgery.
    forged = await app.cloud.createTenant({ seed: uniqueSeed(), users: 3 });
    const client = httpClient(port);
    for (let i = 0; i < 30; i += 1) {
      // Half stop after the start route (a sign-in state); half sign in as the admin of the never-consented
      // tenant first (a consent state), so a forged "granted" goes as deep as proving consent.
      const started = await client.send({ method: 'GET', path: '/api/consent/start' });
      const cookie = String(started.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '';
      let location = new URL(String(started.headers.location));
      if (i % 2 === 1) {
        const back = new URL(await signInAt(location.toString(), `admin@${forged.domain}`));
        const answer = await client.send({
          method: 'GET',
          path: `/api/consent/callback?${back.searchParams.toString()}`,
          headers: { cookie },
        });
        location = new URL(String(answer.headers.location));
      }
      flows.push({ state: location.searchParams.get('state') ?? '', cookie });
    }
    client.close();
  });

  afterAll(async () => {
    await host.stop();
  });

  async function rowCount(table: string): Promise<number> {
    let count = 0;
    try {
      for await (const _row of app.context.storage.table(table).listEntities()) count += 1;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    return count;
  }

  function expectHarmless(answer: HttpAnswer, probes: readonly string[]): void {
    expect(answer.status).toBeGreaterThanOrEqual(200);
    expect(answer.status).toBeLessThan(500);
    // Nothing the request said became a header of the answer.
    expect(answer.headers['x-injected']).toBeUndefined();
    for (const cookie of answer.headers['set-cookie'] ?? []) {
      expect(cookie).toMatch(/^__Host-dc_consent=[A-Za-z0-9_-]{43}; Path=\/;/);
    }
    const location = answer.headers.location;
    if (typeof location === 'string') expect(location.startsWith(`${authority}/`)).toBe(true);
    // Nothing it said came back as markup.
    expect(answer.body).not.toMatch(/<script|<img|<svg|<x-probe|onerror=|onload=/i);
    for (const probe of probes) {
      if (probe.length > 3 && /[<>"'`]/.test(probe)) expect(answer.body).not.toContain(probe);
    }
  }

  const request: fc.Arbitrary<Generated> = fc
    .record({
      method: fc.constantFrom(...METHODS),
      route: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...PATHS).map((path) => ({ path, probe: '' })) },
        {
          weight: 2,
          arbitrary: hostile.map((id) => ({ path: `/api/tenants/${rawTarget(id)}/crawl`, probe: id })),
        },
        {
          weight: 1,
          arbitrary: fc
            .constantFrom('00000000-0000-0000-0000-00000000beef', 'FORGED', 'forged.domain')
            .map((id) => ({ path: `/api/tenants/${id}/crawl`, probe: '' })),
        },
      ),
      pairs: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...PARAMS), fc.string({ maxLength: 8 })), hostile), {
        maxLength: 6,
      }),
      hugePair: fc.option(fc.tuple(fc.constantFrom(...PARAMS), huge), { freq: 10, nil: undefined }),
      encoding: fc.constantFrom('form', 'raw', 'broken'),
      flow: fc.option(fc.nat(), { nil: undefined }),
      granted: fc.boolean(),
      cookie: fc.oneof(
        fc.constant(undefined),
        fc.constant('flow'),
        hostile.map((value) => `__Host-dc_consent=${headerValue(value)}`),
      ),
      extraHeaders: fc.dictionary(
        fc.constantFrom(
          'host',
          'x-forwarded-host',
          'x-forwarded-for',
          'x-original-url',
          'referer',
          'user-agent',
          'accept-language',
          'content-type',
        ),
        hostile.map(headerValue),
        { maxKeys: 3 },
      ),
      body: fc.option(hostile, { nil: undefined }),
    })
    .map((spec): Generated => {
      const flow = spec.flow === undefined ? undefined : flows[spec.flow % flows.length];
      const pairs: Array<[string, string]> = [...spec.pairs, ...(spec.hugePair ? [spec.hugePair] : [])];
      if (flow && spec.route.path.startsWith('/api/consent/callback')) {
        // Deeper: a state this site issued, for a tenant that never consented (or another random one).
        pairs.push(['state', flow.state]);
        if (spec.granted) pairs.push(['admin_consent', 'True'], ['tenant', forged.tenantId]);
      }
      const query =
        spec.encoding === 'form'
          ? new URLSearchParams(pairs).toString()
          : pairs
              .map(([key, value]) => `${rawTarget(key)}=${rawTarget(value)}`)
              .join(spec.encoding === 'raw' ? '&' : '&&%=;');
      const headers: Record<string, string> = { ...spec.extraHeaders };
      if (spec.cookie === 'flow' && flow) headers.cookie = flow.cookie;
      else if (spec.cookie !== undefined && spec.cookie !== 'flow') headers.cookie = spec.cookie;
      const withBody = spec.body !== undefined && spec.method !== 'GET' && spec.method !== 'HEAD';
      return {
        method: spec.method,
        path: `${spec.route.path}${query ? `?${query}` : ''}`,
        headers,
        body: withBody ? spec.body : undefined,
        probes: [
          spec.route.probe,
          ...pairs.flatMap(([key, value]) => [key, value]),
          ...Object.values(spec.extraHeaders),
          spec.body ?? '',
        ],
      };
    });

  it('answers 10,000 generated requests on every route without a 5xx, a stored row or reflected markup', async () => {
    const client = httpClient(port);
    const statuses = new Map<number, number>();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(request, { minLength: 50, maxLength: 50 }), async (requests) => {
          const answers = await Promise.all(requests.map((generated) => client.send(generated)));
          for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
          answers.forEach((answer, index) => expectHarmless(answer, requests[index]?.probes ?? []));
        }),
        { numRuns: 200 },
      );
    } finally {
      client.close();
    }
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(10_000);
    // Every kind of answer came up: pages, redirects, refusals of each sort, forged consents that failed proof.
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([200, 302, 400, 403, 404, 405]));
    expect(await rowCount(TABLES.tenants)).toBe(0);
    expect(await rowCount(TABLES.crawlRuns)).toBe(0);
    expect(await rowCount(TABLES.driveItems)).toBe(0);
    expect(hostLog.filter((line) => line.startsWith('error'))).toEqual([]);
    // 10,000 requests take about 30 s here; a loaded CI machine gets room before jest calls it a hang.
  }, 240_000);

  it('answers malformed and smuggling requests with a 4xx or a closed connection, and keeps serving', async () => {
    const flow = flows[0] ?? { state: '', cookie: '' };
    const cases: Array<string | Buffer> = [
      `GET /api/consent/start?tenant=x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Evil: a\r\nSet-Cookie: dc_consent=evil\r\n\r\n`,
      `GET /api/consent/callback?state=${flow.state}%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET /api/consent/start?tenant=a\r\nX-Injected: 1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET /api/consent HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Folded: a\r\n b\r\n\r\n`,
      `GET /api/consent HTTP/1.1\nHost: 127.0.0.1\n\n`,
      `GET /api/consent HTTP/1.1\r\nHost: [::\r\n\r\n`,
      `GET /api/consent/start HTTP/1.1\r\nHost: %zz\r\n\r\n`,
      `GET /api/consent/callback HTTP/1.1\r\nHost: a b\r\n\r\n`,
      `GET /api/tenants HTTP/1.1\r\nHost: @evil.example:99999\r\n\r\n`,
      `GET /api/consent/start HTTP/1.1\r\nHost: user:pass@127.0.0.1\r\n\r\n`,
      `GET http://user:pass@127.0.0.1/api/consent/callback?state=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET /api/consent HTTP/1.1\r\n\r\n`,
      `GET /api/consent HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n`,
      `GET http://evil.example/api/consent/start HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET //evil.example/api/consent/start HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n`,
      `GET /api/consent\r\n\r\n`,
      `FOO /api/consent HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `get /api/consent HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET /api/consent HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n`,
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      `POST /api/tenants/${forged.tenantId}/crawl HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello`,
      `POST /api/tenants/${forged.tenantId}/crawl HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `POST /api/tenants/${forged.tenantId}/crawl HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
      `POST /api/tenants/${forged.tenantId}/crawl HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n`,
      `GET /api/consent/start?tenant=${'A'.repeat(70_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET /api/consent HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${'__Host-dc_consent=x; '.repeat(3_000)}\r\n\r\n`,
      Buffer.concat([
        Buffer.from('GET /api/consent/start?tenant='),
        Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x00]),
        Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      ]),
      Buffer.concat([
        Buffer.from('GET /api/tenants/'),
        Buffer.from('\u202e\u200b\uff10', 'utf8'),
        Buffer.from('/crawl HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      ]),
      Buffer.concat([
        Buffer.from(
          'GET /api/consent/callback?state=x HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: __Host-dc_consent=',
        ),
        Buffer.from([0x80, 0xff, 0x00, 0x0b]),
        Buffer.from('\r\n\r\n'),
      ]),
      `GET /api/consent HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-Many: 1\r\n'.repeat(3_000)}\r\n`,
    ];
    const answers = await Promise.all(cases.map((raw) => sendRaw(port, raw)));
    answers.forEach((answer, index) => {
      const shown = String(cases[index]).slice(0, 80);
      // An answer below 500, or a connection closed without one (Node's parser refusing it, as good as a 400);
      // never silence.
      expect({ request: shown, status: answer.status < 500, silent: answer.silent }).toEqual({
        request: shown,
        status: true,
        silent: false,
      });
      expect(answer.head).not.toMatch(/^x-injected:|^set-cookie: dc_consent=evil/im);
      expect(answer.body).not.toMatch(/<script|<x-probe/i);
    });
    // The server is still there and still right.
    const client = httpClient(port);
    try {
      expect((await client.send({ method: 'GET', path: '/api/consent' })).status).toBe(200);
    } finally {
      client.close();
    }
    expect(await rowCount(TABLES.tenants)).toBe(0);
  });

  it('stores nothing for a forged callback naming a tenant that never consented', async () => {
    const client = httpClient(port);
    const cookieOf = (answer: HttpAnswer) =>
      String(answer.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '';
    const stateOf = (answer: HttpAnswer) =>
      new URL(String(answer.headers.location)).searchParams.get('state') ?? '';
    const callback = (params: Record<string, string>, cookie?: string) =>
      client.send({
        method: 'GET',
        path: `/api/consent/callback?${new URLSearchParams(params).toString()}`,
        headers: cookie ? { cookie } : {},
      });
    try {
      // A "granted" answer sent with a sign-in state (no one signed in) is refused before any token is asked.
      const since = Date.now();
      for (const tenant of [forged.tenantId, forged.domain]) {
        const started = await client.send({ method: 'GET', path: '/api/consent/start' });
        const answer = await callback(
          { admin_consent: 'True', tenant, state: stateOf(started) },
          cookieOf(started),
        );
        expect(answer.status).toBe(400);
      }
      expect(await app.cloud.requestLog({ clientId: app.clientId, service: 'token', since })).toEqual([]);

      // The tenant's own admin signs in but the app was never consented there: Entra ID refuses the app a token.
      const started = await client.send({ method: 'GET', path: '/api/consent/start' });
      const cookie = cookieOf(started);
      const back = new URL(await signInAt(String(started.headers.location), `admin@${forged.domain}`));
      const signedIn = await callback(Object.fromEntries(back.searchParams), cookie);
      expect(signedIn.status).toBe(302);
      const granted = { admin_consent: 'True', tenant: forged.tenantId, state: stateOf(signedIn) };
      // From a browser that did not start the flow: refused before any token is asked.
      const stranger = await callback(granted);
      expect(stranger.status).toBe(403);
      const proving = Date.now();
      const answer = await callback(granted, cookie);
      expect(answer.status).toBe(403);
      expect(answer.body).toMatch(/could not be verified/i);
      const tokens = await app.cloud.requestLog({
        tenantId: forged.tenantId,
        clientId: app.clientId,
        service: 'token',
        since: proving,
      });
      expect(tokens.length).toBeGreaterThan(0);
      expect(tokens.every((entry) => entry.status >= 400)).toBe(true);
      expect(await app.context.registry.get(forged.tenantId)).toBeUndefined();
      expect(await rowCount(TABLES.tenants)).toBe(0);
      expect(cookie).toMatch(/^__Host-dc_consent=/);
    } finally {
      client.close();
    }
  });
});
