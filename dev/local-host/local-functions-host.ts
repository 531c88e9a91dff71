import { InvocationContext } from '@azure/functions';
import type { Server } from 'node:http';
import type { AppContext } from '../../src/app-context';
import { nextScheduledRun } from '../../src/config';
import { consentHandlers } from '../../src/functions/handlers/consent-handlers';
import { crawlHandlers } from '../../src/functions/handlers/crawl-handlers';
import { statusHandlers } from '../../src/functions/handlers/status-handlers';
import { tenantHandlers } from '../../src/functions/handlers/tenant-handlers';
import { QUEUES } from '../../src/storage/storage-clients';
import type { Route } from './http-host';
import { createHttpHost, listen } from './http-host';
import type { QueueHandler } from './queue-worker';
import { deliverOnce, readQueueRules } from './queue-worker';
import { fireAt } from './fire-at';

export interface LocalHostOptions {
  port: number;
  /** Poll the queues and run the timer (off: HTTP only). */
  workers?: boolean;
  log?: (level: 'info' | 'warn' | 'error', text: string) => void;
}

export interface RunningLocalHost {
  port: number;
  /** Delivers queue messages until every queue is empty (tests and the demo use it). */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

/** The routes of the Functions app, bound to one context. */
export function routesFor(getContext: () => AppContext): Route[] {
  const consent = consentHandlers(getContext);
  const tenants = tenantHandlers(getContext);
  // Loopback only: the local host listens on 127.0.0.1, and the page must not answer a rebound host name.
  const status = statusHandlers(getContext, { loopbackOnly: true });
  return [
    { method: 'GET', route: 'consent', name: 'consentLanding', handler: consent.landing },
    { method: 'GET', route: 'consent/start', name: 'consentStart', handler: consent.start },
    { method: 'GET', route: 'consent/callback', name: 'consentCallback', handler: consent.callback },
    { method: 'POST', route: 'invitations', name: 'invitationsCreate', handler: consent.invite },
    { method: 'GET', route: 'tenants', name: 'tenantsList', handler: tenants.list },
    { method: 'POST', route: 'tenants/{tenantId}/crawl', name: 'tenantCrawl', handler: tenants.crawl },
    { method: 'DELETE', route: 'tenants/{tenantId}', name: 'tenantOffboard', handler: tenants.offboard },
    { method: 'GET', route: 'status', name: 'statusPage', handler: status.page },
    { method: 'POST', route: 'status/tenants/{tenantId}/crawl', name: 'statusCrawl', handler: status.crawl },
    {
      method: 'POST',
      route: 'status/tenants/{tenantId}/permissions',
      name: 'statusPermissions',
      handler: status.permissions,
    },
  ];
}

/**
 * `npm run serve`: the HTTP functions, the queue workers (host.json's dequeue and poison rules) and the timer,
 * all over the same handlers as in Azure.
 */
export async function startLocalHost(
  context: AppContext,
  options: LocalHostOptions,
): Promise<RunningLocalHost> {
  const log = options.log ?? ((level, text) => process.stderr.write(`[${level}] ${text}\n`));
  const server: Server = createHttpHost(
    routesFor(() => context),
    log,
  );
  const port = await listen(server, options.port);

  const rules = readQueueRules();
  const crawl = crawlHandlers(() => context);
  const queues: Array<{ name: string; handler: QueueHandler }> = [
    { name: QUEUES.tenantCrawl, handler: crawl.tenant },
    { name: QUEUES.userBatch, handler: crawl.batch },
    { name: `${QUEUES.tenantCrawl}-poison`, handler: crawl.poisonedTenant },
    { name: `${QUEUES.userBatch}-poison`, handler: crawl.poisonedBatch },
  ];
  const clients = queues.map((queue) => ({
    ...queue,
    client: context.storage.queue(queue.name),
    poison: context.storage.queue(`${queue.name}-poison`),
  }));
  await Promise.all(clients.map((queue) => queue.client.createIfNotExists()));

  const round = async (): Promise<number> => {
    const counts = await Promise.all(
      clients.map((queue) => deliverOnce(queue.client, queue.poison, queue.handler, rules, queue.name, log)),
    );
    return counts.reduce((a, b) => a + b, 0);
  };

  let stopped = false;
  const loops: Promise<void>[] = [];
  let cancelTimer: (() => void) | undefined;
  if (options.workers !== false) {
    loops.push(
      (async () => {
        let idle = 100;
        while (!stopped) {
          try {
            const handled = await round();
            idle = handled > 0 ? 100 : Math.min(idle * 2, rules.maxPollingIntervalMs);
          } catch (error) {
            log('error', `queue polling failed: ${(error as Error).name}`);
          }
          if (!stopped) await new Promise((resolve) => setTimeout(resolve, idle));
        }
      })(),
    );
    /** Fires the crawl plan at `next`. */
    const waitFor = (next: Date): void => {
      cancelTimer = fireAt(next.getTime(), () => {
        const invocation = new InvocationContext({ functionName: 'crawlPlan' });
        crawl
          .plan(
            {
              isPastDue: false,
              schedule: { adjustForDST: false },
              scheduleStatus: { last: '', next: next.toISOString(), lastUpdated: new Date().toISOString() },
            },
            invocation,
          )
          .catch(() => undefined)
          .finally(() => {
            if (!stopped) schedule();
          });
      });
    };
    const schedule = (): void => {
      waitFor(nextScheduledRun(context.config.crawlSchedule, context.now()));
    };
    schedule();
  }

  return {
    port,
    drain: async () => {
      // Empty twice in a row: a handler may queue more work while the last round runs.
      let quiet = 0;
      while (quiet < 2) {
        const handled = await round();
        quiet = handled === 0 ? quiet + 1 : 0;
        if (handled === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop: async () => {
      stopped = true;
      cancelTimer?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.all(loops);
    },
  };
}
