import { spawn } from 'node:child_process';
import path from 'node:path';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp } from '../support/test-app';
import { onboardTenant } from '../crawl/crawl-helpers';

const ROOT = path.resolve(__dirname, '..', '..');

function runCrawl(env: Record<string, string>, args: string[] = []) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'src/cli/crawl.ts', ...args],
      {
        cwd: ROOT,
        // Only what the product reads, plus the CA bundle that trusts the simulator.
        env: {
          PATH: process.env.PATH ?? '',
          NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '',
          ...env,
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run crawl', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp();
  });

  it('exits 2 and names every problem when the configuration is wrong', async () => {
    const result = await runCrawl({ APP_CLIENT_ID: 'x', KEY_VAULT_URL: 'http://vault' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/APP_CLIENT_ID must be a GUID/);
    expect(result.stderr).toMatch(/KEY_VAULT_URL must use https/);
    expect(result.stderr).toMatch(/AzureWebJobsStorage is required/);
  });

  it('exits 2 for an unknown --tenant', async () => {
    const result = await runCrawl(app.env, ['--tenant', '00000000-0000-0000-0000-0000000000aa']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Unknown tenant/);
  });

  it('exits 0 for a tenant still waiting for its permissions, says so, and crawls nothing of it', async () => {
    const cloud = sim();
    const tenant = await onboardTenant(cloud, app.context, app.clientId, { users: 6 });
    await cloud.consent(tenant.tenantId, app.clientId, { roles: ['User.Read.All'] });
    await app.context.registry.recordConsent(tenant.tenantId, 'consent_incomplete', new Date(), undefined);
    const result = await runCrawl(app.env, ['--tenant', tenant.tenantId]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`Tenant ${tenant.tenantId}: consent_incomplete, still waiting`);
    expect(await app.context.runs.latest(tenant.tenantId)).toBeUndefined();
    expect((await app.context.registry.get(tenant.tenantId))?.lastError).toMatch(/Files\.Read\.All/);
  });

  it('crawls, prints progress on stderr and the summary table on stdout, and exits 0', async () => {
    const tenant = await onboardTenant(sim(), app.context, app.clientId, { users: 12 });
    const result = await runCrawl(app.env, ['--tenant', tenant.tenantId]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/tenant\s+status\s+run\s+usersSeen/);
    expect(result.stdout).toContain(tenant.tenantId);
    expect(result.stdout).toMatch(/succeeded/);
    expect(result.stderr).toMatch(/Crawling 1 tenant/);
    const run = await app.context.runs.latest(tenant.tenantId);
    expect(run).toMatchObject({ status: 'succeeded', usersSeen: tenant.licensedUsers });
    // Neither the client secret nor a token reaches the output.
    expect(result.stdout + result.stderr).not.toContain(app.clientSecret);
    expect(result.stdout + result.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);

    // Again: each drive follows its delta cursor and reads nothing new; with --full every drive is read whole.
    expect(run?.itemsRead).toBeGreaterThan(0);
    const again = await runCrawl(app.env, ['--tenant', tenant.tenantId]);
    expect(again.code).toBe(0);
    expect((await app.context.runs.latest(tenant.tenantId))?.itemsRead).toBe(0);
    const full = await runCrawl(app.env, ['--tenant', tenant.tenantId, '--full']);
    expect(full.code).toBe(0);
    expect(await app.context.runs.latest(tenant.tenantId)).toMatchObject({ itemsRead: run?.itemsRead });
    const bad = await runCrawl(app.env, ['--tenant', tenant.tenantId, '--full=yes']);
    expect(bad.code).toBe(2);
  });

  it('exits 0 when a tenant turns out revoked (a status change, not a failure)', async () => {
    const tenant = await onboardTenant(sim(), app.context, app.clientId, { users: 4 });
    await sim().revoke(tenant.tenantId, app.clientId, 7000229);
    const result = await runCrawl(app.env, ['--tenant', tenant.tenantId]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/revoked/);
  });

  it('exits 1 when the client secret is missing from the vault', async () => {
    const result = await runCrawl({ ...app.env, APP_CLIENT_SECRET_NAME: 'no-such-secret' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'The app\'s credential cannot be used: The app\'s client secret "no-such-secret": not found in the vault',
    );
  });

  it("crawls with a managed identity as the app's credential, and exits 1 saying so when its endpoint is down", async () => {
    const federated = await createTestApp({}, { credential: 'managed-identity' });
    const tenant = await onboardTenant(sim(), federated.context, federated.clientId, { users: 4 });
    const identity = federated.identity!.clientId;
    await sim().setManagedIdentityEndpoint('down', identity);
    try {
      const down = await runCrawl(federated.env);
      expect(down.code).toBe(1);
      expect(down.stderr).toContain(
        `The app's credential cannot be used: The app's managed identity ${identity}: the managed-identity ` +
          'endpoint gave no token',
      );
    } finally {
      await sim().setManagedIdentityEndpoint('up', identity);
    }
    const up = await runCrawl(federated.env);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(tenant.tenantId);
  });
});
