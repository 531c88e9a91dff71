import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { queueTenantCrawl } from '../../crawl/plan-crawl';
import { RegistryError } from '../../errors';
import { listTenantsWithRuns } from '../../crawl/list-tenants';
import type { ContextProvider } from '../runtime';
import { answerSafely, invocationLogger } from '../runtime';
import { offboardTenant, offboardingTables } from '../../crawl/offboard-tenant';
import { checkedTenantId } from '../../status/status-links';

/** How long one `DELETE` deletes before it answers (the operator asks again while rows remain). */
const OFFBOARD_BUDGET_MS = 20_000;

const JSON_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

const json = (status: number, body: unknown): HttpResponseInit => ({
  status,
  headers: JSON_HEADERS,
  body: JSON.stringify(body),
});
const failed = (): HttpResponseInit => json(500, { error: 'internal_error' });

/** The operator's routes: the tenant list, "crawl this tenant now" and offboarding. */
export function tenantHandlers(getContext: ContextProvider) {
  return {
    list: (_request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'tenants',
        async () => {
          const ctx = getContext();
          return json(200, { tenants: await listTenantsWithRuns(ctx.registry, ctx.runs) });
        },
        failed,
      ),
    offboard: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'tenants/offboard',
        async () => {
          // Not a GUID: no such tenant can exist.
          const tenantId = checkedTenantId(request.params.tenantId);
          if (tenantId === undefined) return json(404, { error: 'tenant_not_found' });
          const ctx = getContext();
          const outcome = await offboardTenant(
            {
              registry: ctx.registry,
              runs: ctx.runs,
              tables: offboardingTables((name) => ctx.storage.table(name)),
              logger: invocationLogger(context),
              now: ctx.now,
            },
            tenantId,
            Date.now() + OFFBOARD_BUDGET_MS,
          );
          if (outcome.kind === 'unknown') return json(404, { error: 'tenant_not_found' });
          return json(202, { tenantId, status: 'offboarded', rowsRemaining: outcome.rowsRemaining });
        },
        failed,
      ),
    crawl: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'tenants/crawl',
        async () => {
          // Not a GUID: no such tenant can exist.
          const tenantId = checkedTenantId(request.params.tenantId);
          if (tenantId === undefined) return json(404, { error: 'tenant_not_found' });
          const full = request.query.get('full');
          if (full !== null && full !== 'true' && full !== 'false') {
            return json(400, { error: 'invalid_request', message: 'full must be true or false' });
          }
          try {
            const run = await queueTenantCrawl(
              getContext().crawlDeps({ logger: invocationLogger(context) }),
              tenantId,
              { full: full === 'true' },
            );
            return json(202, { runId: run.runId });
          } catch (error) {
            if (error instanceof RegistryError) {
              return json(error.code === 'tenant_not_found' ? 404 : 409, {
                error: error.code,
                message: error.message,
              });
            }
            throw error;
          }
        },
        failed,
      ),
  };
}
