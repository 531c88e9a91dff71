/**
 * `npx tsx dev/measure-batch-memory.ts [itemsPerUser ...]`: how the crawl's memory grows with the size of the roots
 * it lists. For each size, a fresh process crawls one batch of 20 users whose roots all hold that many items
 * (Graph's 34-character IDs, some 400-character names), against the simulator in a process of its own, with an
 * item writer that counts rows and drops them (so the figure is the crawl's, not the store's), and prints the
 * peak heap and RSS it saw. A batch holds one paged user's rows up to 5,000 plus their IDs, never every page of
 * every user: the peak should grow far less than the roots do.
 */
import { randomBytes } from 'node:crypto';
import { createAppContext } from '../src/app-context';
import { loadConfig } from '../src/config';
import type { DriveItemWriter, UserRewrite } from '../src/crawl/drive-item-store';
import { ZERO_RECONCILE } from '../src/crawl/drive-item-store';
import { crawlInline } from '../src/crawl/inline-crawl';
import { createLogger } from '../src/logging/logger';
import { startAzurite } from './azurite';
import { isEvent, startTsChild } from './bench/children';
import type { SimReady } from './bench/protocol';
import { SimClient } from './sim/sim-client';
import { operatorCredential } from './sim/operator-credential';

const USERS = 20;
const SAMPLE_MS = 20;

/** Counts what the crawl would store and keeps nothing. */
function countingWriter(): DriveItemWriter & { rows: number } {
  const writer = {
    rows: 0,
    reconcileUsers(_tenantId: string, users: ReadonlyArray<{ rows: readonly unknown[] }>) {
      const rows = users.reduce((sum, user) => sum + user.rows.length, 0);
      writer.rows += rows;
      return Promise.resolve({ ...ZERO_RECONCILE, itemsStored: rows, rowsOf: new Map<string, number>() });
    },
    beginUser(): Promise<UserRewrite> {
      let stored = 0;
      return Promise.resolve({
        write: (rows) => {
          stored += rows.length;
          writer.rows += rows.length;
          return Promise.resolve();
        },
        finish: () => Promise.resolve({ ...ZERO_RECONCILE, itemsStored: stored }),
      });
    },
    sweepUsersNotSeen: () => Promise.resolve(0),
    descendantsOf: () => Promise.resolve([]),
  };
  return writer;
}

async function measure(itemsPerUser: number): Promise<void> {
  const [azurite, simChild] = [
    await startAzurite(),
    startTsChild('../bench/sim-process.ts', ['1000'], { stdin: 'pipe' }),
  ];
  try {
    const ready = await simChild.next(isEvent<SimReady>('ready'));
    const cloud = new SimClient(ready.url);
    const env = await cloud.env();
    const secret = `m~${randomBytes(24).toString('base64url')}`;
    const { clientId } = await cloud.createApp({
      secrets: [{ value: secret }],
      redirectUris: ['http://127.0.0.1/cb'],
    });
    await cloud.setVaultSecret('graph-app-client-secret', secret, {
      expiresOn: new Date(Date.now() + 86_400_000).toISOString(),
    });
    const tenant = await cloud.createTenant({
      seed: 7,
      users: USERS,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser,
      longNameShare: 0.1,
      budgetPerWindow: 100_000_000,
    });
    await cloud.consent(tenant.tenantId, clientId);
    const context = createAppContext(
      loadConfig(
        {
          APP_CLIENT_ID: clientId,
          KEY_VAULT_URL: env.KEY_VAULT_URL,
          KEY_VAULT_ANY_HOST: env.KEY_VAULT_ANY_HOST,
          AUTHORITY_HOST: env.AUTHORITY_HOST,
          GRAPH_ENDPOINT: env.GRAPH_ENDPOINT,
          AzureWebJobsStorage: azurite.connectionString,
        },
        'crawl',
      ),
      {
        logger: createLogger(() => undefined),
        hostIdentity: operatorCredential(env),
      },
    );
    await context.registry.recordConsent(tenant.tenantId, 'active', new Date(), tenant.domain);
    const record = await context.registry.get(tenant.tenantId);
    const writer = countingWriter();
    global.gc?.();
    const base = process.memoryUsage();
    let peakHeap = base.heapUsed;
    let peakRss = base.rss;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakHeap = Math.max(peakHeap, now.heapUsed);
      peakRss = Math.max(peakRss, now.rss);
    }, SAMPLE_MS);
    const started = Date.now();
    const [result] = await crawlInline(
      { ...context.crawlDeps(), items: writer },
      { tenants: record ? [record] : [] },
    );
    clearInterval(sampler);
    const mib = (bytes: number): string => (bytes / 1_048_576).toFixed(0);
    process.stdout.write(
      `${JSON.stringify({
        itemsPerUser,
        users: USERS,
        status: result?.run?.status,
        rowsSeen: writer.rows,
        seconds: ((Date.now() - started) / 1000).toFixed(1),
        heapBeforeMiB: mib(base.heapUsed),
        peakHeapMiB: mib(peakHeap),
        peakHeapGrowthMiB: mib(peakHeap - base.heapUsed),
        peakRssMiB: mib(peakRss),
      })}\n`,
    );
  } finally {
    simChild.process.kill();
    await azurite.stop();
  }
}

measure(Number(process.argv[2] ?? '1000')).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
