import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { queueTenantCrawl } from '../../crawl/plan-crawl';
import { RegistryError } from '../../errors';
import { listTenantsWithRuns } from '../../crawl/list-tenants';
import type { ContextProvider } from '../runtime';
import { answerSafely, invocationLogger } from '../runtime';

const JSON_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const json = (status: number, body: unknown): HttpResponseInit => ({
  status,
  headers: JSON_HEADERS,
  body: JSON.stringify(body),
});
const failed = (): HttpResponseInit => json(500, { error: 'internal_error' });

/** The operator's routes: the tenant list and "crawl this tenant now". */
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
    crawl: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'tenants/crawl',
        async () => {
          const tenantId = (request.params.tenantId ?? '').toLowerCase();
          if (!GUID.test(tenantId)) return json(404, { error: 'tenant_not_found' });
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
