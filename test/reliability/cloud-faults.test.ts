import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { SimControl, TenantInfo } from '../../dev/sim/types';
import type { AppContext } from '../../src/app-context';
import type { CrawlSettings } from '../../src/crawl/crawl-deps';
import { crawlInline } from '../../src/crawl/inline-crawl';
import type { InlineTenantResult } from '../../src/crawl/inline-crawl';
import { expectExactCrawl, graphRequestsSeen, onboard } from './support/exact-crawl';
import type { ReliabilityApp } from './support/reliability-app';
import { createReliabilityApp } from './support/reliability-app';

/** Short timeouts and backoffs, so that injected slowness costs little time. */
const SETTINGS: Partial<CrawlSettings> = {
  graphTimeoutMs: 1_500,
  graphBackoffMs: 50,
  usersPerBatch: 20,
  userPageSize: 25,
};

/** A token request and the retries of @azure/identity's pipeline (maxRetries 3). */
const SDK_TOKEN_TRIES = 4;
/** A secret read and the retries the product's Key Vault client makes (maxRetries 3). */
const VAULT_CLIENT_TRIES = 4;

async function crawl(context: AppContext, tenants: TenantInfo[]): Promise<InlineTenantResult[]> {
  const records = await Promise.all(tenants.map((tenant) => context.registry.get(tenant.tenantId)));
  return crawlInline(context.crawlDeps(), { tenants: records.filter((record) => record !== undefined) });
}

/** Resolves once the tenant has a run (the crawl got past its start-up checks). */
async function runOpened(context: AppContext, tenantId: string): Promise<void> {
  while (!(await context.runs.latest(tenantId))) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Every run ended exact, and counted every Graph request the simulator received. */
async function expectExactRuns(
  cloud: SimControl,
  app: ReliabilityApp,
  results: InlineTenantResult[],
  since: number,
): Promise<void> {
  for (const result of results) {
    const { run } = await expectExactCrawl(cloud, app.context, result.tenantId, result.run?.runId ?? '');
    const seen = await graphRequestsSeen(cloud, result.tenantId, app.clientId, since);
    expect(run.requests).toBe(seen.requests);
    // A throttled answer lost to a reset or a timeout never reaches the crawler: it counts what it was told.
    expect(run.throttled).toBeLessThanOrEqual(seen.throttled);
  }
}

describe('crawl under cloud faults', () => {
  let cloud: SimControl;
  let app: ReliabilityApp;

  beforeAll(async () => {
    app = await createReliabilityApp({ overrides: { crawlSettings: SETTINGS } });
    cloud = app.cloud;
  });

  it('ends exact when Graph answers 429, 503 and 500, resets connections and stalls past the timeout', async () => {
    const tenant = await onboard(cloud, app.context, app.clientId, { users: 150, itemsPerUser: [0, 8] });
    await cloud.setFaults(tenant.tenantId, {
      graph: { status429: 0.1, status503: 0.05, status500: 0.02, reset: 0.01, slow: 0.01, slowMs: 3_000 },
    });
    const since = Date.now();
    let results: InlineTenantResult[];
    try {
      results = await crawl(app.context, [tenant]);
    } finally {
      await cloud.setFaults(tenant.tenantId, {});
    }
    await expectExactRuns(cloud, app, results, since);
    const seen = await graphRequestsSeen(cloud, tenant.tenantId, app.clientId, since);
    expect(seen.throttled).toBeGreaterThan(0);
    expect(results[0]?.run?.throttled).toBeGreaterThan(0);
  });

  it('ends exact for every tenant when the token endpoint fails past the SDK retries', async () => {
    const tenants = await Promise.all(
      [0, 1, 2].map(() => onboard(cloud, app.context, app.clientId, { users: 25, itemsPerUser: [0, 6] })),
    );
    // An Entra ID outage: every token request of a tenant fails until one whole token acquisition (the SDK's
    // request and its retries) has failed, then the endpoint recovers.
    await Promise.all(tenants.map((tenant) => cloud.setFaults(tenant.tenantId, { token5xx: 1 })));
    const since = Date.now();
    const failuresOf = async (tenantId: string): Promise<number> =>
      (await cloud.requestLog({ tenantId, clientId: app.clientId, service: 'token', since })).filter(
        (entry) => entry.status >= 500,
      ).length;
    let finished = false;
    const recovering = Promise.all(
      tenants.map(async (tenant) => {
        while (!finished && (await failuresOf(tenant.tenantId)) < SDK_TOKEN_TRIES) {
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        await cloud.setFaults(tenant.tenantId, {});
      }),
    );
    let results: InlineTenantResult[];
    try {
      results = await crawl(app.context, tenants);
    } finally {
      finished = true;
      await recovering;
    }
    for (const tenant of tenants)
      expect(await failuresOf(tenant.tenantId)).toBeGreaterThanOrEqual(SDK_TOKEN_TRIES);
    await expectExactRuns(cloud, app, results, since);
  });

  it('holds a second instance until the Retry-After the first instance was given', async () => {
    const tenant = await onboard(cloud, app.context, app.clientId, { users: 8, withoutDriveShare: 0 });
    const user = (await cloud.listUsers(tenant.tenantId)).find((candidate) => candidate.licensed);
    const since = Date.now();
    // 240 simulated seconds: a 4 s hold at the simulator's time scale.
    await cloud.setFaults(tenant.tenantId, { graph: { status429: 1, retryAfterSeconds: 240 } });
    // The first instance is answered 429 and waits the hold out (a throttled request spends no attempt).
    const first = app.context.graphFor(tenant.tenantId, { maxAttempts: 1 }).rootChildren(user?.id ?? '');
    const logged = async () =>
      (await cloud.requestLog({ tenantId: tenant.tenantId, service: 'graph', since })).some(
        (entry) => entry.status === 429,
      );
    while (!(await logged())) await new Promise((resolve) => setTimeout(resolve, 10));
    await cloud.setFaults(tenant.tenantId, {});
    // Give the first instance a moment to share its hold (it writes in the background)...
    const shared = Date.now() + 1_500;
    while (
      (await app.context.sharedPacerState.readHold(tenant.tenantId)) <= Date.now() &&
      Date.now() < shared
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // ...then a second instance, which never saw the 429, must wait it out before its first request.
    const second = app.newInstance({ instanceId: 'second-instance' });
    const listing = await second.graphFor(tenant.tenantId).rootChildren(user?.id ?? '');
    expect(listing.kind).toBe('items');
    expect((await first).kind).toBe('items');
    const log = await cloud.requestLog({
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      service: 'graph',
      since,
    });
    const told = log.find((entry) => entry.status === 429);
    const next = log.find((entry) => entry.status === 200);
    expect(log.filter((entry) => entry.violation)).toEqual([]);
    expect((next?.at ?? 0) - (told?.at ?? 0)).toBeGreaterThanOrEqual(4_000 - 20);

    const crawlSince = Date.now();
    await expectExactRuns(cloud, app, await crawl(second, [tenant]), crawlSince);
  });

  it('ends exact when Key Vault answers 5xx during the crawl', async () => {
    // Key Vault faults apply to the whole simulator: this case gets one of its own, so no other test sees them.
    // Its fault draws follow its seed; with this one the first secret read after the faults begin fails through
    // all of the Key Vault client's retries, so the crawl itself meets a vault that cannot be read.
    const ownCloud = await startSimulatedCloud({ timeScale: 60, seed: 13 });
    try {
      // No secret cache: every token request reads the vault, so the faults meet the crawl everywhere.
      const vaultApp = await createReliabilityApp({
        cloud: ownCloud,
        overrides: { crawlSettings: SETTINGS, vaultCacheMs: 0 },
      });
      const tenant = await onboard(ownCloud, vaultApp.context, vaultApp.clientId, {
        users: 120,
        itemsPerUser: [0, 8],
        latencyMs: 3_000,
      });
      const since = Date.now();
      const running = crawl(vaultApp.context, [tenant]);
      await runOpened(vaultApp.context, tenant.tenantId);
      await ownCloud.setFaults('*', { vault5xx: 0.6 });
      // As when the tenant's token expires mid-crawl: the next Graph request needs a new token, and with it a
      // secret read under the faults (on a fast machine every read could otherwise come before them).
      vaultApp.context.credentials.forget(tenant.tenantId);
      let results: InlineTenantResult[];
      try {
        results = await running;
      } finally {
        await ownCloud.setFaults('*', {});
      }
      const vault = await ownCloud.requestLog({ service: 'vault', since });
      // A secret read failed through all of the client's retries: the crawl itself had to carry on.
      const statuses = vault.map((entry) => (entry.status >= 500 ? 'x' : '.')).join('');
      expect(statuses).toContain('x'.repeat(VAULT_CLIENT_TRIES));
      await expectExactRuns(ownCloud, vaultApp, results, since);
    } finally {
      await ownCloud.close();
    }
  });
});
