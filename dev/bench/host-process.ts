/**
 * One instance of the deployed app in a process of its own: the local Functions host of `npm run serve` (HTTP
 * routes, queue workers with host.json's rules, the timer), built from the job's environment exactly as
 * `dev/serve.ts` builds it from its own. `tsx dev/bench/host-process.ts` with a `HostJob` as the first line of
 * stdin (started by `queue-path.ts` with `NODE_EXTRA_CA_CERTS` set): records consent for the job's `onboard`
 * tenants, serves on a free loopback port and prints `{"event":"ready","port":N}`; each `report` line on stdin
 * after the job gets a `HostReport` line on stdout; the end of stdin stops the host and the process.
 */
import { QueueClient } from '@azure/storage-queue';
import { getHeapStatistics } from 'node:v8';
import { createAppContext } from '../../src/app-context';
import { loadConfig } from '../../src/config';
import { consoleSink, createLogger } from '../../src/logging/logger';
import { startLocalHost } from '../local-host/local-functions-host';
import {
  graphRoundTrips,
  instrumentGraph,
  instrumentTables,
  liveHeapPeakMiB,
  memoryPeaksMiB,
  startMemorySampling,
  tableFigures,
  watchFullGcs,
} from './instrument';
import { readJob } from './children';
import type { HostJob, HostReady, HostReport, QueueDeliveries } from './protocol';

const deliveries: Record<string, QueueDeliveries> = {};
const receivedAt = new Map<string, number>();

function deliveriesOf(queue: string): QueueDeliveries {
  return (deliveries[queue] ??= { received: 0, completed: 0, failed: 0, handlingMs: 0 });
}

/**
 * Counts the messages the local host's workers take from each queue, and how they end: deleted (handled, or moved
 * to the poison queue) or made visible again (failed).
 */
function instrumentQueues(): void {
  const proto = QueueClient.prototype;
  const receiveMessages = Object.getOwnPropertyDescriptor(proto, 'receiveMessages')
    ?.value as QueueClient['receiveMessages'];
  const deleteMessage = Object.getOwnPropertyDescriptor(proto, 'deleteMessage')
    ?.value as QueueClient['deleteMessage'];
  const updateMessage = Object.getOwnPropertyDescriptor(proto, 'updateMessage')
    ?.value as QueueClient['updateMessage'];
  proto.receiveMessages = async function (this: QueueClient, ...args) {
    const answer = await receiveMessages.apply(this, args);
    const now = Date.now();
    deliveriesOf(this.name).received += answer.receivedMessageItems.length;
    for (const item of answer.receivedMessageItems) receivedAt.set(item.messageId, now);
    return answer;
  };
  proto.deleteMessage = async function (this: QueueClient, ...args) {
    const answer = await deleteMessage.apply(this, args);
    const entry = deliveriesOf(this.name);
    const at = receivedAt.get(args[0]);
    if (at !== undefined) {
      entry.completed += 1;
      entry.handlingMs += Date.now() - at;
      receivedAt.delete(args[0]);
    }
    return answer;
  };
  proto.updateMessage = async function (this: QueueClient, ...args) {
    const answer = await updateMessage.apply(this, args);
    deliveriesOf(this.name).failed += 1;
    receivedAt.delete(args[0]);
    return answer;
  };
}

function emit(message: HostReady | HostReport): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function report(label: string): HostReport {
  const usage = process.cpuUsage();
  const tables = tableFigures();
  return {
    event: 'report',
    label,
    cpuMicros: usage.user + usage.system,
    maxRssKb: process.resourceUsage().maxRSS,
    liveHeapPeakMiB: liveHeapPeakMiB(),
    memoryPeaksMiB: memoryPeaksMiB(),
    heapSizeLimitMiB: getHeapStatistics().heap_size_limit / 2 ** 20,
    allTransactions: tables.allTransactions,
    allTransactionEntities: tables.allTransactionEntities,
    driveItemsTransactions: tables.driveItemsTransactions,
    graphRoundTrips: graphRoundTrips(),
    deliveries,
  };
}

async function main(): Promise<void> {
  // Lines after the job, and the end of stdin: the orchestrator went away before the host served, or it stops it.
  let onLine = (_line: string): void => {};
  let onEnd = (): void => process.exit(2);
  const job = await readJob<HostJob>({ onLine: (line) => onLine(line), onEnd: () => onEnd() });
  const say = (text: string): void => {
    process.stderr.write(`  [${job.label}] ${text}\n`);
  };
  instrumentTables();
  instrumentGraph();
  instrumentQueues();
  startMemorySampling();
  watchFullGcs();

  // As `npm run serve` runs: its settings from the process's environment (the Azure SDKs read theirs there too,
  // e.g. DefaultAzureCredential's AZURE_TOKEN_CREDENTIALS), the consent purpose, the context's own host identity.
  Object.assign(process.env, job.env);
  const config = loadConfig(process.env, 'consent');
  // Warnings and errors only: at info, every batch's lines would cost the measured process CPU for stderr.
  const context = createAppContext(config, { logger: createLogger(consoleSink('warn')) });
  for (const tenant of job.onboard ?? []) {
    if (await context.registry.get(tenant.tenantId)) continue;
    await context.registry.recordConsent(tenant.tenantId, 'active', new Date(), tenant.domain);
  }
  const host = await startLocalHost(context, {
    port: 0,
    workers: true,
    log: (level, text) => {
      if (level !== 'info') say(`${level}: ${text}`);
    },
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    host.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        say(`stopping failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  onLine = (line) => {
    if (line.trim() === 'report') emit(report(job.label));
  };
  onEnd = stop;
  process.once('SIGTERM', stop);
  emit({ event: 'ready', port: host.port });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `host process failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
