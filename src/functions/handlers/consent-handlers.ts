import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { ConsentRequest } from '../../consent/consent-flow';
import { completeConsent } from '../../consent/consent-callback';
import { showLanding, startConsent } from '../../consent/consent-flow';
import { createInvitation } from '../../consent/create-invitation';
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

const MAX_INVITATION_BODY_BYTES = 4096;

const json = (status: number, body: unknown): HttpResponseInit => ({
  status,
  headers: {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  },
  body: JSON.stringify(body),
});

/** The consent routes, and the operator's invitation route, as HTTP handlers over the consent capability. */
export function consentHandlers(getContext: ContextProvider) {
  const deps = (context: InvocationContext) => ({
    ...getContext().consentDeps(),
    logger: invocationLogger(context),
  });
  return {
    landing: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'consent',
        async () => toResponse(await showLanding(toConsentRequest(request), deps(context))),
        failed,
      ),
    start: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'consent/start',
        async () => toResponse(await startConsent(toConsentRequest(request), deps(context))),
        failed,
      ),
    invite: (request: HttpRequest, context: InvocationContext) =>
      answerSafely(
        context,
        'invitations',
        async () => {
          if (Number(request.headers.get('content-length') ?? '0') > MAX_INVITATION_BODY_BYTES) {
            return json(413, {
              error: 'too_large',
              message: `The body must be at most ${MAX_INVITATION_BODY_BYTES} bytes`,
            });
          }
          const answer = await createInvitation(await request.text(), deps(context));
          return json(answer.status, answer.body);
        },
        () => json(500, { error: 'internal_error' }),
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
