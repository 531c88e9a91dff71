import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { CrawlDeps } from '../../crawl/crawl-deps';
import type { Refusal } from '../../status/same-origin';
import { checkOrigin, isLoopbackRequest } from '../../status/same-origin';
import { crawlNow, recheckPermissions } from '../../status/status-actions';
import type { ActionOutcome } from '../../status/status-links';
import { checkedTenantId, functionKeyOf, outcomeOf, statusPath } from '../../status/status-links';
import type { PageResponse } from '../../consent/pages';
import { STATUS_PAGE_HEADERS, statusPage, statusProblemPage } from '../../status/status-page';
import { readTenantStatuses } from '../../status/tenant-status';
import type { ContextProvider } from '../runtime';
import { answerSafely, invocationLogger } from '../runtime';

export interface StatusHandlerOptions {
  /**
   * `npm run serve`: answer only requests addressed to a loopback host name. The listener is on 127.0.0.1 already;
   * this keeps a web page whose own name resolves there (DNS rebinding) from reading the page or posting to it.
   */
  loopbackOnly?: boolean;
}

function toResponse(page: PageResponse): HttpResponseInit {
  return { status: page.status, headers: page.headers, body: page.body };
}

const failed = (): HttpResponseInit =>
  toResponse(statusProblemPage(500, 'Something went wrong', 'Please try again in a few minutes.'));

const refused = (): HttpResponseInit =>
  toResponse(
    statusProblemPage(
      403,
      'Refused',
      'This action is accepted only from the status page itself, opened at its own address. Nothing was done.',
    ),
  );

/** Back to the page, with what the action did (a fixed value) and the key the action was called with. */
const seeOther = (location: string): HttpResponseInit => ({
  status: 303,
  headers: { ...STATUS_PAGE_HEADERS, Location: location },
  body: '',
});

/**
 * The operator's status page (`GET /api/status`) and its two actions, plain form posts that answer `303` back to
 * the page. The function key (`?code=`) is read only to carry it into the forms and the `Location`: it is never
 * logged, and the logs name a refusal by its reason, never by the value that caused it.
 */
export function statusHandlers(getContext: ContextProvider, options: StatusHandlerOptions = {}) {
  const hostRefusal = (request: HttpRequest): Refusal | undefined =>
    options.loopbackOnly && !isLoopbackRequest(request.url) ? 'host_not_loopback' : undefined;

  const action =
    (route: string, act: (deps: CrawlDeps, tenantId: string) => Promise<ActionOutcome>) =>
    (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        route,
        async () => {
          const logger = invocationLogger(context);
          const refusal = hostRefusal(request) ?? checkOrigin(request.headers.get('origin'), request.url);
          if (refusal) {
            logger.warn('status action refused', { route, reason: refusal });
            return refused();
          }
          const tenantId = checkedTenantId(request.params.tenantId);
          const outcome = tenantId
            ? await act(getContext().crawlDeps({ logger }), tenantId)
            : 'tenant-not-found';
          logger.info('status action done', {
            route,
            outcome,
            ...(outcome === 'tenant-not-found' ? {} : { tenantId }),
          });
          return seeOther(statusPath(functionKeyOf(request.query), outcome, tenantId));
        },
        failed,
      );

  return {
    page: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'status',
        async () => {
          const refusal = hostRefusal(request);
          if (refusal) {
            invocationLogger(context).warn('status page refused', { reason: refusal });
            return refused();
          }
          const ctx = getContext();
          const outcome = outcomeOf(request.query);
          return toResponse(
            statusPage({
              tenants: await readTenantStatuses(ctx),
              now: ctx.now(),
              functionKey: functionKeyOf(request.query),
              outcome: outcome && { outcome, tenantId: checkedTenantId(request.query.get('tenant')) },
              appClientId: ctx.config.appClientId,
            }),
          );
        },
        failed,
      ),
    crawl: action('status/crawl', crawlNow),
    permissions: action('status/permissions', recheckPermissions),
  };
}
