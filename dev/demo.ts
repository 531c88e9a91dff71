/**
 * `npm run demo`: the main job on embedded defaults, offline. Starts Azurite (in memory) and the simulated
 * Microsoft cloud, onboards the demo tenants through the real consent endpoints, runs one crawl and prints a
 * per-tenant summary table, then checks the table against the simulator's drives and stops everything.
 */
import { randomBytes } from 'node:crypto';
import { createAppContext } from '../src/app-context';
import type { AppCredentialKind } from './app-credential-setup';
import type { TenantInfo } from './sim/types';
import { setUpAppCredential } from './app-credential-setup';
import { formatSummaryTable } from '../src/cli/summary-table';
import { loadConfig } from '../src/config';
import { crawlInline } from '../src/crawl/inline-crawl';
import { driveItemPartition } from '../src/crawl/drive-item-store';
import { consoleSink, createLogger } from '../src/logging/logger';
import { TABLES } from '../src/storage/storage-clients';
import { startAzurite } from './azurite';
import { walkConsent } from './browserless-consent';
import { startLocalHost } from './local-host/local-functions-host';
import { operatorCredential } from './sim/operator-credential';
import { startSimulatedCloud } from './sim/simulated-cloud';
import { createServer } from 'node:net';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Contoso's roots are long-tailed as real ones are (a few users hold well over 1,000 items, so their listings run
 * to several pages) and one of its users has a locked OneDrive (a departed employee's `423`): the crawl skips that
 * user and still succeeds.
 */
const DEMO_TENANTS = [
  {
    name: 'Contoso',
    seed: 101,
    users: 60,
    consent: 'accept' as const,
    itemsPerUser: { longTail: [0, 1_600] as [number, number] },
    lockedUsers: 1,
  },
  { name: 'Fabrikam', seed: 202, users: 35, consent: 'accept' as const },
  { name: 'Northwind', seed: 303, users: 20, consent: 'accept' as const },
  { name: 'Tailspin', seed: 404, users: 15, consent: 'cancel' as const },
];

/** `APP_CREDENTIAL` of the demo's app (default `secret`); any kind runs the same demo. */
function demoCredentialKind(value: string | undefined): AppCredentialKind {
  const kind = value?.trim() || 'secret';
  if (kind === 'secret' || kind === 'certificate' || kind === 'managed-identity') return kind;
  throw new Error(`APP_CREDENTIAL must be secret, certificate or managed-identity, not ${kind}`);
}

const say = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

async function main(): Promise<number> {
  const started = Date.now();
  const kind = demoCredentialKind(process.env.APP_CREDENTIAL);
  say('Starting Azurite (in memory) and the simulated Microsoft cloud on loopback...');
  const [azurite, cloud] = await Promise.all([startAzurite(), startSimulatedCloud({ timeScale: 60 })]);
  try {
    const env = await cloud.env();
    const secret = `demo~${randomBytes(24).toString('base64url')}`;
    // The local Functions host's port decides the redirect URI registered on the app.
    const port = await freePort();
    const callback = `http://127.0.0.1:${port}/api/consent/callback`;
    // The registration emits directory roles in ID tokens (groupMembershipClaims), so sign-in can tell admins apart.
    const { clientId } = await cloud.createApp({
      secrets: kind === 'secret' ? [{ value: secret }] : [],
      redirectUris: [callback],
      groupMembershipClaims: 'DirectoryRole',
    });
    if (kind === 'secret') {
      await cloud.setVaultSecret('graph-app-client-secret', secret, {
        expiresOn: new Date(Date.now() + 180 * 86_400_000).toISOString(),
      });
    }
    const credential = await setUpAppCredential(cloud, clientId, kind);
    say(`The app's credential: ${kind} (APP_CREDENTIAL).`);

    const tenants: Array<(typeof DEMO_TENANTS)[number] & TenantInfo & { locked: Set<string> }> = [];
    for (const spec of DEMO_TENANTS) {
      const info = await cloud.createTenant({
        seed: spec.seed,
        users: spec.users,
        domain: `${spec.name.toLowerCase()}.onmicrosoft.test`,
        latencyMs: 200,
        ...('itemsPerUser' in spec ? { itemsPerUser: spec.itemsPerUser } : {}),
      });
      const withDrive = (await cloud.listUsers(info.tenantId)).filter((user) => user.hasDrive);
      const locked = withDrive.slice(0, 'lockedUsers' in spec ? spec.lockedUsers : 0);
      for (const user of locked) await cloud.setDriveAnomaly(info.tenantId, user.id, 'locked');
      tenants.push({ ...spec, ...info, locked: new Set(locked.map((user) => user.id)) });
    }

    const config = loadConfig(
      {
        APP_CLIENT_ID: clientId,
        KEY_VAULT_URL: env.KEY_VAULT_URL,
        KEY_VAULT_ANY_HOST: env.KEY_VAULT_ANY_HOST,
        ...credential.env,
        CONSENT_REDIRECT_URI: callback,
        HOME_TENANT_ID: env.AZURE_TENANT_ID,
        AUTHORITY_HOST: env.AUTHORITY_HOST,
        GRAPH_ENDPOINT: env.GRAPH_ENDPOINT,
        AzureWebJobsStorage: azurite.connectionString,
        ISV_NAME: 'Drive Crawler Demo',
      },
      'consent',
    );
    const context = createAppContext(config, {
      logger: createLogger(consoleSink('error')),
      // The operator's own identity in the simulated cloud (Key Vault access), pinned: no managed-identity probe.
      hostIdentity: operatorCredential(env),
    });
    const served = await startLocalHost(context, { port, workers: false, log: () => undefined });

    try {
      const base = `http://127.0.0.1:${served.port}`;
      say(
        `Onboarding ${tenants.length} tenants by invitation (POST ${base}/api/invitations), each admin signing in ` +
          'before consent...',
      );
      for (const tenant of tenants) {
        const invitation = await fetch(`${base}/api/invitations`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ label: tenant.name }),
        });
        if (invitation.status !== 201) throw new Error(`POST /api/invitations answered ${invitation.status}`);
        const link = new URL(((await invitation.json()) as { link: string }).link);
        // The landing page the link opens, then its form: the start route with the invitation and the domain.
        const landing = await fetch(link);
        if (landing.status !== 200)
          throw new Error(`the invitation's landing page answered ${landing.status}`);
        const start = `${base}/api/consent/start?${new URLSearchParams({
          invitation: link.searchParams.get('invitation') ?? '',
          tenant: tenant.domain,
        }).toString()}`;
        if (tenant.name === 'Fabrikam') {
          // A member without an admin role tries first and is told who can grant it.
          const member = await walkConsent(start, `user1@${tenant.domain}`, 'Accept');
          say(
            `  ${tenant.name.padEnd(10)} user1 (no admin role) signs in -> ${member.status}, told to ask an admin`,
          );
        }
        const button = tenant.consent === 'accept' ? 'Accept' : 'Cancel';
        const walk = await walkConsent(start, `admin@${tenant.domain}`, button);
        say(`  ${tenant.name.padEnd(10)} admin signs in, ${button} -> callback answered ${walk.status}`);
      }

      const crawlable = await context.registry.listCrawlable();
      say(`Crawling ${crawlable.length} consented tenants...`);
      const results = await crawlInline(context.crawlDeps(), {
        tenants: crawlable,
        onProgress: (p) =>
          say(
            `  [${(p.elapsedMs / 1000).toFixed(1)}s] users ${p.usersDone}  items ${p.itemsStored}  requests ${p.requests}  throttled ${p.throttled}`,
          ),
      });
      const names = new Map(tenants.map((tenant) => [tenant.tenantId, tenant.name]));
      process.stdout.write('\n' + formatSummaryTable(results, names));

      // Check the table against the simulator's seeds: every drive's items, except the locked users' (skipped, and
      // recorded in CrawlSkips with the reason).
      const checkExact = async (crawled: typeof results, showSkips: boolean) => {
        let exact = true;
        let largestRoot = 0;
        for (const result of crawled) {
          const tenant = tenants.find((t) => t.tenantId === result.tenantId);
          const drives = await cloud.drives(result.tenantId);
          const skips = await context.skips.list(result.tenantId);
          for (const skip of showSkips ? skips.values() : []) {
            say(
              `  skipped ${skip.userPrincipalName}: ${skip.reason} (${skip.httpStatus} ${skip.graphCode ?? ''})`,
            );
          }
          if (
            skips.size !== (tenant?.locked.size ?? 0) ||
            [...skips.keys()].some((id) => !tenant?.locked.has(id))
          ) {
            exact = false;
          }
          let expectedItems = 0;
          for (const [userId, drive] of Object.entries(drives)) {
            const items = tenant?.locked.has(userId) ? [] : drive;
            expectedItems += items.length;
            largestRoot = Math.max(largestRoot, items.length);
            const table = context.storage.table(TABLES.driveItems);
            const stored = new Map<string, string>();
            for await (const row of table.listEntities<{ name?: string }>({
              queryOptions: { filter: `PartitionKey eq '${driveItemPartition(result.tenantId, userId)}'` },
            })) {
              stored.set(row.rowKey ?? '', row.name ?? '');
            }
            if (stored.size !== items.length || items.some((item) => stored.get(item.id) !== item.name)) {
              exact = false;
            }
          }
          const run = result.run;
          if (
            !run ||
            run.status !== 'succeeded' ||
            run.usersSeen !== tenant?.licensedUsers ||
            run.usersCrawled !== tenant.licensedWithDrive - tenant.locked.size ||
            run.usersSkipped !== tenant.locked.size ||
            run.itemsStored !== expectedItems
          ) {
            exact = false;
          }
        }
        return { exact, largestRoot };
      };
      const first = await checkExact(results, true);

      // The drives move on: in each tenant a few users add, rename and delete files. The second crawl follows each
      // drive's delta cursor and reads only what changed (docs/delta.md).
      let changes = 0;
      for (const result of results) {
        const tenant = tenants.find((t) => t.tenantId === result.tenantId);
        const drives = Object.entries(await cloud.drives(result.tenantId)).filter(
          ([userId, items]) => items.length >= 2 && !tenant?.locked.has(userId),
        );
        for (const [userId, items] of drives.slice(0, 5)) {
          await cloud.addItem(result.tenantId, userId, {
            name: `Added after the first crawl ${changes}.docx`,
          });
          await cloud.renameItem(result.tenantId, userId, items[0]!.id, `Renamed – ${items[0]!.name}`);
          await cloud.deleteItem(result.tenantId, userId, items[1]!.id);
          changes += 3;
        }
      }
      say(`Changed ${changes} items; crawling again...`);
      const again = await crawlInline(context.crawlDeps(), { tenants: crawlable });
      process.stdout.write('\n' + formatSummaryTable(again, names));
      process.stdout.write('\nSecond crawl against the first (each drive follows its delta cursor):\n');
      for (const result of again) {
        const before = results.find((r) => r.tenantId === result.tenantId)?.run;
        const after = result.run;
        process.stdout.write(
          `  ${(names.get(result.tenantId) ?? result.tenantId).padEnd(10)} items read ${before?.itemsRead ?? 0} -> ` +
            `${after?.itemsRead ?? 0}, Graph units ${before?.unitsSpent ?? 0} -> ${after?.unitsSpent ?? 0}, ` +
            `requests ${before?.requests ?? 0} -> ${after?.requests ?? 0}, rows deleted ${after?.itemsDeleted ?? 0}\n`,
        );
      }
      const second = await checkExact(again, false);
      const exact = first.exact && second.exact;
      const largestRoot = Math.max(first.largestRoot, second.largestRoot);
      const skipped = tenants.filter((tenant) => tenant.consent !== 'accept').map((tenant) => tenant.name);
      process.stdout.write(
        `\n${exact ? 'OK' : 'MISMATCH'}: DriveItems ${exact ? 'matches' : 'does not match'} the simulated drives` +
          ` (largest root ${largestRoot} items; ${skipped.join(', ')} declined consent and was not onboarded).` +
          ` ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      process.stdout.write(
        'The status page (every tenant, its runs and skips, "crawl now" and "check permissions again"): run ' +
          '`npm run serve` and open http://127.0.0.1:7071/api/status (docs/status-page.md).\n',
      );
      return exact ? 0 : 1;
    } finally {
      await served.stop();
    }
  } finally {
    await Promise.all([cloud.close(), azurite.stop()]);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`Demo failed: ${error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error'}`);
    process.exit(1);
  },
);
