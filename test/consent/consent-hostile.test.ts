import fc from 'fast-check';
import { TABLES } from '../../src/storage/storage-clients';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, uniqueSeed } from '../support/test-app';
import { adminOf, consentClient, grantedQuery } from './consent-client';

const PAYLOADS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'; DROP TABLE Tenants; --",
  '\r\nSet-Cookie: dc_consent=evil',
  '%0d%0aLocation:%20https://evil.example',
  '../../../../etc/passwd',
  '\u202egnp.exe',
  'ｃｏｎｔｏｓｏ．ｃｏｍ',
  'con\u200btoso.com',
  '\u0000\u0001\u0007',
  '${7*7}{{7*7}}',
  'javascript:alert(1)',
  '00000000-0000-0000-0000-000000000000',
  'contoso.onmicrosoft.com',
  'True',
  'A'.repeat(43),
  '😀'.repeat(300),
  'x'.repeat(5000),
];

const hostileString = fc.oneof(
  fc.constantFrom(...PAYLOADS),
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.tuple(fc.constantFrom(...PAYLOADS), fc.string({ maxLength: 8 })).map(([a, b]) => a + b),
);

const PARAMS = [
  'admin_consent',
  'tenant',
  'scope',
  'state',
  'error',
  'error_description',
  'redirect_uri',
  'x',
] as const;

describe('consent callback under hostile input', () => {
  let app: TestApp;
  let client: ReturnType<typeof consentClient>;

  beforeAll(async () => {
    app = await createTestApp();
    client = consentClient(app.context);
  });

  async function storedTenants(): Promise<number> {
    let count = 0;
    try {
      for await (const _row of app.context.storage.table(TABLES.tenants).listEntities()) count += 1;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    return count;
  }

  it('answers 2,000 generated hostile query strings without a 5xx, a stored row or a reflected value', async () => {
    const flow = await client.start();
    const before = await storedTenants();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...PARAMS), hostileString), { maxLength: 8 }),
        fc.boolean(),
        // A Cookie header carries only bytes without CR, LF or NUL (the HTTP layer refuses the rest before any handler).
        fc.oneof(
          fc.constant(undefined),
          fc.constant(flow.cookie),
          hostileString.map(
            (value) => `__Host-dc_consent=${value.replace(/[\r\n\0]|[^\u0000-\u00ff]/g, '')}`,
          ),
        ),
        async (pairs, rawMode, cookie) => {
          const query = rawMode
            ? pairs.map(([key, value]) => `${key}=${value}`).join('&')
            : new URLSearchParams(pairs).toString();
          const answer = await client.callback(query, cookie);
          expect(answer.status).toBeGreaterThanOrEqual(400);
          expect(answer.status).toBeLessThan(500);
          expect(answer.body).not.toMatch(/<script|onerror=|<img/i);
          for (const [, value] of pairs) {
            if (/[<>"'&]/.test(value) && value.length > 3) expect(answer.body).not.toContain(value);
          }
          expect(answer.headers['set-cookie']).toBeUndefined();
        },
      ),
      { numRuns: 2_000 },
    );
    expect(await storedTenants()).toBe(before);
  });

  it('refuses a malformed tenant on start with a 400 page that does not reflect it', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString, async (tenant) => {
        const flow = await client.start({ tenant });
        expect([302, 400]).toContain(flow.answer.status);
        if (flow.answer.status === 302) {
          // What a visitor types never chooses the authority; a valid domain goes along only as a hint.
          expect(flow.location?.pathname).toBe('/organizations/oauth2/v2.0/authorize');
          const hint = flow.location?.searchParams.get('domain_hint');
          if (hint !== null && hint !== undefined) expect(hint).toMatch(/^[a-z0-9.-]+$/);
        } else if (/[<>"']/.test(tenant) && tenant.length > 3) {
          expect(flow.answer.body).not.toContain(tenant);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stores exactly one row for 50 concurrent callbacks of one consent', async () => {
    const cloud = sim();
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 6 });
    await cloud.consent(tenant.tenantId, app.clientId);
    const flow = await client.signIn(adminOf(tenant));
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        client.callback(grantedQuery(tenant.tenantId, flow.state), flow.cookie),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.every((status) => status < 500)).toBe(true);
    const rows = [];
    for await (const row of app.context.storage
      .table(TABLES.tenants)
      .listEntities({ queryOptions: { filter: `RowKey eq '${tenant.tenantId}'` } })) {
      rows.push(row);
    }
    expect(rows).toHaveLength(1);
  });
});
