/**
 * The benchmark's harness: the simulated cloud and Azurite in processes of their own, onboarded tenants, and one
 * crawler process at a time with every part's CPU sampled around it. `main.ts` composes the scenarios from these.
 */
import { randomBytes } from 'node:crypto';
import type { RunningAzurite } from '../azurite';
import { startAzurite } from '../azurite';
import { SimClient } from '../sim/sim-client';
import type { TenantInfo, TenantSpec } from '../sim/types';
import { TABLES } from '../../src/storage/storage-clients';
import { isEvent, startTsChild } from './children';
import type { LatencyFigure } from './latency-probe';
import { LatencyProbe } from './latency-probe';
import type { CpuFigure } from './proc-stat';
import { CpuSampler, peakRssKb } from './proc-stat';
import type {
  BenchTenant,
  CrawlRunFigures,
  CrawlerEnv,
  CrawlerJob,
  CrawlerResult,
  CrawlerStart,
  SimReady,
} from './protocol';
import packageJson from '../../package.json';

/**
 * Node flags of the crawler process: read from the `crawl` script in package.json, so they stay those of
 * `npm run crawl` (`--max-old-space-size=1536`: below V8's large-heap threshold, the heap may grow to about 1.8 times
 * the live data between full collections instead of 4; `--heap-growing-percent=80`: that 1.8 kept when a throttled
 * crawl allocates slowly, docs/benchmark.md). The deployed hosts run with V8's default for a 2 GiB instance instead
 * (`FLEX_NODE_ARGS` in queue-path.ts, docs/deploy.md).
 */
export const CRAWLER_NODE_ARGS = [
  ...packageJson.scripts.crawl.split(/\s+/).filter((arg) => arg.startsWith('--')),
  // The benchmark's own: a full GC when the crawl ends, to read the heap it still holds (`liveHeapAtEndMiB`).
  '--expose-gc',
];

const SECRET_NAME = 'graph-app-client-secret';

export const say = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

export interface Services {
  sim: SimClient;
  simPid: number;
  clientId: string;
  clientSecret: string;
  baseEnv: Omit<CrawlerEnv, 'AzureWebJobsStorage'>;
}

/** Creates a tenant in the simulator and grants the benchmark's app admin consent in it. */
export async function createTenant(services: Services, spec: TenantSpec): Promise<TenantInfo> {
  const info = await services.sim.createTenant(spec);
  await services.sim.consent(info.tenantId, services.clientId);
  return info;
}

export function benchTenant(info: TenantInfo): BenchTenant {
  return { tenantId: info.tenantId, domain: info.domain };
}

/** A crawler process's environment against these services and this Azurite. */
export function crawlerEnv(services: Services, azurite: RunningAzurite): CrawlerEnv {
  return { ...services.baseEnv, AzureWebJobsStorage: azurite.connectionString };
}

/** Runs one crawler process and samples every part's CPU while it crawls. */
export async function runCrawler(
  job: CrawlerJob,
  services: Services,
  azurite: RunningAzurite,
  options: { nodeArgs?: readonly string[]; onStart?: (at: number) => void } = {},
): Promise<CrawlRunFigures> {
  const child = startTsChild('crawler-process.ts', [], {
    job,
    nodeArgs: options.nodeArgs ?? CRAWLER_NODE_ARGS,
  });
  const started = await child.next(isEvent<CrawlerStart>('start'));
  options.onStart?.(started.at);
  const sampler = new CpuSampler({
    crawler: child.pid,
    simulator: services.simPid,
    azurite: azurite.pid ?? 0,
  });
  const probe = new LatencyProbe(azurite.connectionString, TABLES.tenants);
  sampler.start();
  probe.start();
  let cpu: Record<string, CpuFigure>;
  let result: CrawlerResult;
  let azuriteLatency: LatencyFigure;
  try {
    result = await child.next(isEvent<CrawlerResult>('result'));
  } finally {
    cpu = sampler.stop();
    azuriteLatency = await probe.stop();
  }
  const code = await child.exited;
  if (code !== 0) throw new Error(`${job.label}: crawler process exited with ${code}`);
  return {
    result,
    cpu: {
      crawler: cpu.crawler ?? { seconds: 0, mean: 0, peak: 0 },
      simulator: cpu.simulator ?? { seconds: 0, mean: 0, peak: 0 },
      azurite: cpu.azurite ?? { seconds: 0, mean: 0, peak: 0 },
    },
    azuritePeakRssKb: azurite.pid === undefined ? undefined : peakRssKb(azurite.pid),
    azuriteLatency,
  };
}

async function startServices(scale: number): Promise<{ services: Services; stop: () => Promise<void> }> {
  const child = startTsChild('sim-process.ts', [String(scale)], { stdin: 'pipe' });
  const ready = await child.next(isEvent<SimReady>('ready'), 60_000);
  const sim = new SimClient(ready.url);
  const env = await sim.env();
  const clientSecret = `bench~${randomBytes(24).toString('base64url')}`;
  const { clientId } = await sim.createApp({
    displayName: 'Drive Crawler benchmark',
    secrets: [{ value: clientSecret }],
  });
  await sim.setVaultSecret(SECRET_NAME, clientSecret, {
    expiresOn: new Date(Date.now() + 180 * 86_400_000).toISOString(),
  });
  const services: Services = {
    sim,
    simPid: child.pid,
    clientId,
    clientSecret,
    baseEnv: {
      APP_CLIENT_ID: clientId,
      KEY_VAULT_URL: env.KEY_VAULT_URL,
      KEY_VAULT_ANY_HOST: env.KEY_VAULT_ANY_HOST,
      APP_CLIENT_SECRET_NAME: SECRET_NAME,
      AUTHORITY_HOST: env.AUTHORITY_HOST,
      AZURE_AUTHORITY_HOST: env.AZURE_AUTHORITY_HOST,
      GRAPH_ENDPOINT: env.GRAPH_ENDPOINT,
      ISV_NAME: 'Drive Crawler Bench',
      AZURE_TOKEN_CREDENTIALS: env.AZURE_TOKEN_CREDENTIALS,
      AZURE_TENANT_ID: env.AZURE_TENANT_ID,
      AZURE_CLIENT_ID: env.AZURE_CLIENT_ID,
      AZURE_CLIENT_SECRET: env.AZURE_CLIENT_SECRET,
    },
  };
  return {
    services,
    stop: async () => {
      child.process.stdin?.end();
      child.process.kill('SIGTERM');
      await child.exited;
    },
  };
}

/** What to stop if the benchmark is interrupted (Azurite children would otherwise outlive it). */
const stoppers = new Set<() => Promise<void>>();

export async function withServices<T>(scale: number, work: (services: Services) => Promise<T>): Promise<T> {
  const { services, stop } = await startServices(scale);
  stoppers.add(stop);
  try {
    return await work(services);
  } finally {
    stoppers.delete(stop);
    await stop();
  }
}

export async function withAzurite<T>(work: (azurite: RunningAzurite) => Promise<T>): Promise<T> {
  const azurite = await startAzurite();
  const stop = (): Promise<void> => azurite.stop();
  stoppers.add(stop);
  try {
    return await work(azurite);
  } finally {
    stoppers.delete(stop);
    await azurite.stop();
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`Interrupted (${signal}): stopping Azurite and the simulator...`);
    void Promise.allSettled([...stoppers].map((stop) => stop())).finally(() => process.exit(130));
  });
}
