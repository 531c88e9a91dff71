import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { ConsentRequest } from '../../consent/consent-flow';
import { completeConsent, showLanding, startConsent } from '../../consent/consent-flow';
import type { PageResponse } from '../../consent/pages';
import { problemPage } from '../../consent/pages';
import type { ContextProvider } from '../runtime';
import { answerSafely, invocationLogger } from '../runtime';

function toResponse(page: PageResponse): HttpResponseInit {
  return { status: page.status, headers: page.headers, body: page.body };
}

function toConsentRequest(request: HttpRequest): ConsentRequest {
  return { query: request.query, cookieHeader: request.headers.get('cookie') };
}

const failed = (): HttpResponseInit =>
  toResponse(problemPage(500, 'Something went wrong', 'Please try again in a few minutes.'));

/** The three consent routes as HTTP handlers over the consent capability. */
export function consentHandlers(getContext: ContextProvider) {
  const deps = (context: InvocationContext) => ({
    ...getContext().consentDeps(),
    logger: invocationLogger(context),
  });
  return {
    landing: (_request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'consent',
        () => Promise.resolve(toResponse(showLanding(getContext().config))),
        failed,
      ),
    start: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'consent/start',
        async () => toResponse(await startConsent(toConsentRequest(request), deps(context))),
        failed,
      ),
    callback: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'consent/callback',
        async () => toResponse(await completeConsent(toConsentRequest(request), deps(context))),
        failed,
      ),
  };
}
