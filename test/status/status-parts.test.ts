import type { CrawlDeps } from '../../src/crawl/crawl-deps';
import type { CrawlRun } from '../../src/crawl/crawl-runs';
import { ZERO_COUNTERS } from '../../src/crawl/crawl-runs';
import type { CrawlSkip } from '../../src/crawl/crawl-skips';
import { GraphError, TokenError } from '../../src/errors';
import type { TenantGraph } from '../../src/graph/tenant-graph';
import { createLogger } from '../../src/logging/logger';
import type { TenantRecord, TenantStatus as Status } from '../../src/tenants/tenant-registry';
import { checkOrigin } from '../../src/status/same-origin';
import { recheckPermissions } from '../../src/status/status-actions';
import { statusPage } from '../../src/status/status-page';
import type { TenantStatus } from '../../src/status/tenant-status';
import { readTenantStatuses } from '../../src/status/tenant-status';

/**
 * The status page's parts where the browser test cannot easily reach every branch: the Origin rule, the order of
 * tenants, and what each failure of a permission re-check tells the operator. Fakes stand in at the seams.
 */

let sequence = 0;
function tenant(status: Status, domain: string): TenantRecord {
  sequence += 1;
  return {
    tenantId: `00000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    status,
    consentedAt: new Date('2025-01-01T00:00:00Z'),
    domain,
    lastRunId: undefined,
    lastCrawlAt: undefined,
    lastError: undefined,
    invitationId: undefined,
    permissionsProvenAt: undefined,
  };
}

function run(status: CrawlRun['status'], usersSkipped: number, minutesAgo: number): CrawlRun {
  const started = new Date(Date.parse('2025-02-01T12:00:00Z') - minutesAgo * 60_000);
  return {
    ...ZERO_COUNTERS,
    tenantId: '',
    runId: `run-${minutesAgo}`,
    status,
    error: undefined,
    startedAt: started.toISOString(),
    finishedAt: status === 'running' ? undefined : new Date(started.getTime() + 30_000).toISOString(),
    cursorsFrom: undefined,
    budgetPerMinute: undefined,
    timeOverIdeal: undefined,
    usersSkipped,
    unitsSpent: 10,
  };
}

describe('the Origin rule of the status actions', () => {
  const https = 'https://crawler.azurewebsites.net/api/status/tenants/x/crawl?code=k';
  const http = https.replace('https:', 'http:');

  it.each([
    ["accepts the page's own origin", 'https://crawler.azurewebsites.net', https, undefined],
    [
      'accepts https when the host hands the app an http URL',
      'https://crawler.azurewebsites.net',
      http,
      undefined,
    ],
    [
      'refuses plain http from a page asked over https',
      'http://crawler.azurewebsites.net',
      https,
      'origin_foreign',
    ],
    ['refuses a request without Origin', null, https, 'origin_missing'],
    ['refuses Origin: null', 'null', https, 'origin_foreign'],
    ['refuses another site', 'https://evil.example', https, 'origin_foreign'],
    ['refuses a look-alike host', 'https://crawler.azurewebsites.net.evil.example', https, 'origin_foreign'],
    ['refuses another port', 'https://crawler.azurewebsites.net:8443', https, 'origin_foreign'],
    ['refuses an origin with a path', 'https://crawler.azurewebsites.net/api', https, 'origin_foreign'],
  ])('%s', (_case, origin, requestUrl, expected) => {
    expect(checkOrigin(origin, requestUrl)).toBe(expected);
  });
});

describe('the order of tenants', () => {
  it('lists error, consent_incomplete, failing runs and growing skips first, offboarded tenants last', async () => {
    const tenants = [
      tenant('active', 'b-calm.test'),
      tenant('offboarded', 'a-gone.test'),
      tenant('active', 'c-growing.test'),
      tenant('active', 'd-failing.test'),
      tenant('consent_incomplete', 'e-waiting.test'),
      tenant('error', 'f-error.test'),
      tenant('active', 'g-steady-skips.test'),
      tenant('active', 'h-partial-failure.test'),
    ];
    const runs: Record<string, CrawlRun[]> = {
      'b-calm.test': [run('succeeded', 0, 10), run('succeeded', 0, 20)],
      'c-growing.test': [run('running', 0, 1), run('succeeded', 3, 10), run('succeeded', 2, 20)],
      'd-failing.test': [run('failed', 0, 10), run('succeeded', 0, 20)],
      'g-steady-skips.test': [run('succeeded', 2, 10), run('succeeded', 2, 20)],
      // A failed run's skips stop where it failed; the successful runs around it decide.
      'h-partial-failure.test': [run('succeeded', 1, 5), run('failed', 0, 10), run('succeeded', 1, 20)],
    };
    const byId = new Map(tenants.map((record) => [record.tenantId, record.domain!]));
    const statuses = await readTenantStatuses({
      registry: { list: () => Promise.resolve(tenants) },
      runs: { recent: (tenantId) => Promise.resolve(runs[byId.get(tenantId)!] ?? []) },
      skips: { list: () => Promise.resolve(new Map<string, CrawlSkip>()) },
    });
    expect(statuses.map((status) => [status.tenant.domain, status.attention])).toEqual([
      ['f-error.test', ['status_error']],
      ['e-waiting.test', ['consent_incomplete']],
      ['d-failing.test', ['run_failed']],
      ['c-growing.test', ['skips_growing']],
      ['b-calm.test', []],
      ['g-steady-skips.test', []],
      ['h-partial-failure.test', []],
      ['a-gone.test', []],
    ]);
  });

  it('offers no action for an offboarded tenant, and no crawl for one that is not crawled', () => {
    const statuses: TenantStatus[] = [
      {
        tenant: tenant('offboarded', 'gone.test'),
        runs: [],
        skips: { count: 0, byReason: {}, since: undefined },
        attention: [],
      },
      {
        tenant: tenant('revoked', 'left.test'),
        runs: [],
        skips: { count: 0, byReason: {}, since: undefined },
        attention: [],
      },
    ];
    const page = statusPage({
      tenants: statuses,
      now: new Date(),
      functionKey: undefined,
      appClientId: 'x',
    }).body;
    const [gone, left] = page.split('<section class="tenant').slice(1);
    expect(gone).not.toContain('<form');
    expect(left).not.toContain('/crawl"');
    expect(left).toContain('/permissions"');
  });
});

describe('a permission re-check that cannot finish', () => {
  const record = tenant('active', 'checked.test');

  /** Crawl dependencies whose Graph access fails with `failure` at its first call. */
  function depsFailingWith(failure: Error, status: Status = 'active'): CrawlDeps {
    const graph = {
      tokenRoles: () =>
        failure instanceof TokenError ? Promise.reject(failure) : Promise.resolve(new Set()),
      someUsers: () => Promise.reject(failure),
    } as unknown as TenantGraph;
    return {
      registry: { get: () => Promise.resolve({ ...record, status }) },
      forgetTenant: () => undefined,
      graphFor: () => graph,
      logger: createLogger(() => undefined),
      now: () => new Date(),
    } as unknown as CrawlDeps;
  }

  it.each([
    ['a revoked tenant', new TokenError('tenant_revoked', record.tenantId, 7000229), 'permissions-revoked'],
    [
      'a refusal on the tenant side',
      new TokenError('tenant_error', record.tenantId, 53003),
      'permissions-refused',
    ],
    [
      'a transient token failure',
      new TokenError('transient', record.tenantId, undefined),
      'permissions-failed',
    ],
    [
      "the app's credential rejected",
      new TokenError('app_credential_rejected', record.tenantId, 7000215),
      'credential-failed',
    ],
    [
      'Graph unavailable',
      new GraphError('graph_unavailable', record.tenantId, 503, undefined),
      'permissions-failed',
    ],
    ['the time limit', new DOMException('The operation timed out.', 'TimeoutError'), 'permissions-failed'],
  ])('answers %s with an outcome for the page', async (_case, failure, outcome) => {
    await expect(recheckPermissions(depsFailingWith(failure), record.tenantId)).resolves.toBe(outcome);
  });

  it('lets anything else fail the request (a 500 that says nothing)', async () => {
    await expect(recheckPermissions(depsFailingWith(new TypeError('bug')), record.tenantId)).rejects.toThrow(
      TypeError,
    );
  });

  it('asks nothing of an offboarded tenant', async () => {
    const deps = depsFailingWith(new Error('must not be called'), 'offboarded');
    await expect(recheckPermissions(deps, record.tenantId)).resolves.toBe('tenant-offboarded');
  });
});
