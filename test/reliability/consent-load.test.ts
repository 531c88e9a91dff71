import { readFileSync } from 'node:fs';
import { signInAt } from '../../dev/browserless-consent';
import type { TenantInfo } from '../../dev/sim/types';
import { TABLES } from '../../src/storage/storage-clients';
import { freePort, uniqueSeed } from '../support/test-app';
import type { ProductProcess } from './support/crawl-process';
import { startProduct } from './support/crawl-process';
import type { HttpAnswer } from './support/raw-http';
import { httpClient, sendRaw } from './support/raw-http';
import type { ReliabilityApp } from './support/reliability-app';
import { createReliabilityApp } from './support/reliability-app';

const CONCURRENT = 200;
const TENANTS = 10;
const FORGED = 1_000;

/** The resident memory of a process and its children (tsx runs the script in a child), from /proc, in MiB. */
function residentMiB(pid: number): number {
  const own = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  return Number(own?.[1] ?? 0) / 1024 + children.reduce((sum, child) => sum + residentMiB(Number(child)), 0);
}

interface Timed {
  answer: HttpAnswer;
  ms: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

describe('consent routes under load against npm run serve', () => {
  let app: ReliabilityApp;
  let serve: ProductProcess;
  let port: number;
  let client: ReturnType<typeof httpClient>;
  const latencies: Record<string, number[]> = {};

  beforeAll(async () => {
    port = await freePort();
    app = await createReliabilityApp({ redirectUri: `http://127.0.0.1:${port}/api/consent/callback` });
    serve = startProduct('dev/serve.ts', { ...app.env, PORT: String(port) });
    while (!serve.stderr().includes('is serving on')) {
      if (serve.child.exitCode !== null) throw new Error(`npm run serve stopped: ${serve.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // 200 consent verifications at once take seconds on a small machine: wait as long as a browser would.
    client = httpClient(port, CONCURRENT, 45_000);
  });

  afterAll(async () => {
    client.close();
    serve.kill();
    await serve.exited;
    const lines = Object.entries(latencies).map(([route, ms]) => {
      const p50 = percentile(ms, 50).toFixed(0);
      const p99 = percentile(ms, 99).toFixed(0);
      return `  ${route.padEnd(40)} n=${ms.length}  p50 ${p50} ms  p99 ${p99} ms  max ${Math.max(...ms).toFixed(0)} ms`;
    });
    console.log(
      `Consent routes, ${CONCURRENT} concurrent requests each, against npm run serve:\n${lines.join('\n')}`,
    );
  });

  /** Sends all requests at once and records each one's latency under `route`. */
  async function burst(
    route: string,
    requests: Array<{ path: string; headers?: Record<string, string> }>,
  ): Promise<Timed[]> {
    const timed = await Promise.all(
      requests.map(async (request) => {
        const started = performance.now();
        const answer = await client.send({ method: 'GET', ...request });
        return { answer, ms: performance.now() - started };
      }),
    );
    (latencies[route] ??= []).push(...timed.map((t) => t.ms));
    for (const { answer } of timed) expect(answer.status).toBeLessThan(500);
    return timed;
  }

  async function rowsOf(table: string): Promise<string[]> {
    const keys: string[] = [];
    try {
      for await (const row of app.context.storage.table(table).listEntities()) keys.push(row.rowKey ?? '');
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    return keys;
  }
  const tenantRows = () => rowsOf(TABLES.tenants);

  /** Starts a flow and signs the admin in on the simulator's page; returns the consent step's state and cookie. */
  async function signedIn(login: string): Promise<{ state: string; cookie: string }> {
    const started = await client.send({ method: 'GET', path: '/api/consent/start' });
    const flow = flowOf(started);
    const back = new URL(await signInAt(String(started.headers.location), login));
    const answer = await client.send({
      method: 'GET',
      path: `/api/consent/callback?${back.searchParams.toString()}`,
      headers: { cookie: flow.cookie },
    });
    expect(answer.status).toBe(302);
    return { state: flowOf(answer).state, cookie: flow.cookie };
  }

  function flowOf(answer: HttpAnswer): { state: string; cookie: string } {
    const location = new URL(String(answer.headers.location));
    return {
      state: location.searchParams.get('state') ?? '',
      cookie: String(answer.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '',
    };
  }

  it(`serves ${CONCURRENT} concurrent landing pages`, async () => {
    const answers = await burst(
      'GET /api/consent',
      Array.from({ length: CONCURRENT }, () => ({ path: '/api/consent' })),
    );
    expect(answers.every(({ answer }) => answer.status === 200)).toBe(true);
  });

  it(`issues ${CONCURRENT} distinct single-use states to ${CONCURRENT} concurrent starts`, async () => {
    const answers = await burst(
      'GET /api/consent/start',
      Array.from({ length: CONCURRENT }, (_, i) => ({
        path: i % 2 ? '/api/consent/start' : '/api/consent/start?tenant=contoso.onmicrosoft.com',
      })),
    );
    expect(answers.every(({ answer }) => answer.status === 302)).toBe(true);
    const states = new Set(answers.map(({ answer }) => flowOf(answer).state));
    expect(states.size).toBe(CONCURRENT);
  });

  it(`records each tenant once from ${CONCURRENT} concurrent callbacks of distinct signed-in flows`, async () => {
    const tenants: TenantInfo[] = [];
    for (let i = 0; i < TENANTS; i += 1) {
      const tenant = await app.cloud.createTenant({ seed: uniqueSeed(), users: 4 });
      await app.cloud.consent(tenant.tenantId, app.clientId);
      tenants.push(tenant);
    }
    const flows = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => signedIn(`admin@${tenants[i % TENANTS]?.domain ?? ''}`)),
    );
    const answers = await burst(
      'GET /api/consent/callback (distinct flows)',
      flows.map((flow, i) => {
        const tenant = tenants[i % TENANTS]?.tenantId ?? '';
        const query = new URLSearchParams({ admin_consent: 'True', tenant, state: flow.state });
        return { path: `/api/consent/callback?${query.toString()}`, headers: { cookie: flow.cookie } };
      }),
    );
    expect(answers.map(({ answer }) => answer.status)).toEqual(Array<number>(CONCURRENT).fill(200));
    const rows = await tenantRows();
    expect(rows.sort()).toEqual(tenants.map((tenant) => tenant.tenantId).sort());
  });

  it(`accepts exactly one of ${CONCURRENT} concurrent callbacks carrying the same state`, async () => {
    const tenant = await app.cloud.createTenant({ seed: uniqueSeed(), users: 4 });
    await app.cloud.consent(tenant.tenantId, app.clientId);
    const before = await tenantRows();
    const flow = await signedIn(`admin@${tenant.domain}`);
    const query = new URLSearchParams({ admin_consent: 'True', tenant: tenant.tenantId, state: flow.state });
    const answers = await burst(
      'GET /api/consent/callback (one state)',
      Array.from({ length: CONCURRENT }, () => ({
        path: `/api/consent/callback?${query.toString()}`,
        headers: { cookie: flow.cookie },
      })),
    );
    const statuses = answers.map(({ answer }) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 400)).toHaveLength(CONCURRENT - 1);
    // A replay after the storm is refused as well.
    const late = await client.send({
      method: 'GET',
      path: `/api/consent/callback?${query.toString()}`,
      headers: { cookie: flow.cookie },
    });
    expect(late.status).toBe(400);
    expect(late.body).toMatch(/already used/);
    const rows = await tenantRows();
    expect(rows.filter((key) => key === tenant.tenantId)).toHaveLength(1);
    expect(rows).toHaveLength(before.length + 1);
  });

  it(`keeps memory, ConsentStates and token requests bounded under ${FORGED} forged callbacks`, async () => {
    // The target: a tenant that consented to this app registration (for another product, or a customer who
    // left), never onboarded here. Half the forgeries carry a real state from the start route, half an invented one.
    const target = await app.cloud.createTenant({ seed: uniqueSeed(), users: 4 });
    await app.cloud.consent(target.tenantId, app.clientId);
    const tenantsBefore = await tenantRows();
    const statesBefore = (await rowsOf(TABLES.consentStates)).length;
    const since = Date.now();
    let rssBefore = residentMiB(serve.child.pid ?? 0);
    const statuses: number[] = [];
    // One round first warms the process up (code compiled, pools filled); memory is measured from there.
    for (let round = -1; round < FORGED / CONCURRENT; round += 1) {
      if (round === 0) rssBefore = residentMiB(serve.child.pid ?? 0);
      const starts = await burst(
        'GET /api/consent/start',
        Array.from({ length: CONCURRENT / 2 }, () => ({ path: '/api/consent/start' })),
      );
      const forged = [
        ...starts.map(({ answer }) => flowOf(answer)),
        ...Array.from({ length: CONCURRENT / 2 }, (_, i) => ({
          state: `${round}x${i}`.padEnd(43, 'Q'),
          cookie: `__Host-dc_consent=${'c'.repeat(43)}`,
        })),
      ];
      const answers = await burst(
        'GET /api/consent/callback (forged)',
        forged.map((flow) => {
          const query = new URLSearchParams({
            admin_consent: 'True',
            tenant: target.tenantId,
            state: flow.state,
          });
          return { path: `/api/consent/callback?${query.toString()}`, headers: { cookie: flow.cookie } };
        }),
      );
      if (round >= 0) statuses.push(...answers.map(({ answer }) => answer.status));
    }
    const rssAfter = residentMiB(serve.child.pid ?? 0);
    const tokenRequests = await app.cloud.requestLog({ service: 'token', clientId: app.clientId, since });
    const statesAfter = (await rowsOf(TABLES.consentStates)).length;
    console.log(
      `${FORGED} forged callbacks against npm run serve: answers ${[...new Set(statuses)].join('/')}, ` +
        `token requests ${tokenRequests.length}, ConsentStates rows ${statesBefore} -> ${statesAfter}, ` +
        `resident memory ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB`,
    );
    expect(statuses).toHaveLength(FORGED);
    expect(statuses.every((status) => status === 400)).toBe(true);
    // No forged callback reaches the token endpoint, stores a tenant, or leaves a state behind.
    expect(tokenRequests).toEqual([]);
    expect(await tenantRows()).toEqual(tenantsBefore);
    expect(statesAfter).toBe(statesBefore);
    expect(rssAfter - rssBefore).toBeLessThan(64);
  });

  it('keeps serving after a request with a malformed Host header', async () => {
    const raw = await sendRaw(port, 'GET /api/consent HTTP/1.1\r\nHost: [::\r\n\r\n');
    expect(raw.status).toBeLessThan(500);
    const after = await client.send({ method: 'GET', path: '/api/consent' });
    expect(after.status).toBe(200);
    expect(serve.child.exitCode).toBeNull();
  });
});
