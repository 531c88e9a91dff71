import type { InvocationContext, Timer } from '@azure/functions';
import { crawlUserBatch } from '../../crawl/crawl-user-batch';
import { listTenantUsers } from '../../crawl/list-tenant-users';
import { tenantCrawlMessage, userBatchMessage, parseMessage } from '../../crawl/messages';
import { purgeExpiredStates } from '../../consent/consent-state-store';
import { planCrawl } from '../../crawl/plan-crawl';
import { TABLES } from '../../storage/storage-clients';
import { failPoisonedWork } from '../../crawl/poisoned-message';
import { ensureError } from '../../errors';
import type { ContextProvider } from '../runtime';
import { invocationLogger } from '../runtime';

/**
 * Runs one capability for a timer or queue trigger. Failures are logged once (name and code, never a message
 * that could carry outside values) and rethrown, so the host records them and the queue retries the message.
 */
async function runOrRethrow(
  context: InvocationContext,
  what: string,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    const normalised = ensureError(error);
    invocationLogger(context).error(`${what} failed`, {
      error: normalised.name,
      code: (normalised as { code?: unknown }).code as string | undefined,
      dequeueCount: context.triggerMetadata?.dequeueCount as number | undefined,
    });
    throw normalised;
  }
}

/** The timer and the queue workers as trigger handlers over the crawl capabilities. */
export function crawlHandlers(getContext: ContextProvider) {
  const deps = (context: InvocationContext) => getContext().crawlDeps({ logger: invocationLogger(context) });
  return {
    plan: (_timer: Timer, context: InvocationContext) =>
      runOrRethrow(context, 'crawl plan', async () => {
        await planCrawl(deps(context));
        // Abandoned consent flows leave states behind: the timer removes the expired ones, so the table is bounded
        // by an hour of visits to /api/consent/start. A failure here never fails the plan.
        try {
          const purged = await purgeExpiredStates(getContext().storage.table(TABLES.consentStates));
          invocationLogger(context).info('expired consent states purged', { purged });
        } catch (error) {
          invocationLogger(context).warn('consent state purge failed', { error: ensureError(error).name });
        }
      }),
    tenant: (message: unknown, context: InvocationContext) =>
      runOrRethrow(context, 'tenant listing', () =>
        listTenantUsers(deps(context), parseMessage(tenantCrawlMessage, message)),
      ),
    batch: (message: unknown, context: InvocationContext) =>
      runOrRethrow(context, 'user batch', () =>
        crawlUserBatch(deps(context), parseMessage(userBatchMessage, message)),
      ),
    poisonedTenant: (message: unknown, context: InvocationContext) =>
      runOrRethrow(context, 'poisoned tenant listing', () =>
        failPoisonedWork(deps(context), parseMessage(tenantCrawlMessage, message)),
      ),
    poisonedBatch: (message: unknown, context: InvocationContext) =>
      runOrRethrow(context, 'poisoned user batch', () =>
        failPoisonedWork(deps(context), parseMessage(userBatchMessage, message)),
      ),
  };
}
