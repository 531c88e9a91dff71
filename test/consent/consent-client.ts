import type { HttpResponseInit } from '@azure/functions';
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { AppContext } from '../../src/app-context';
import { consentHandlers } from '../../src/functions/handlers/consent-handlers';

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function normalise(answer: HttpResponseInit): Answer {
  const headers: Record<string, string> = {};
  const given = answer.headers;
  if (given instanceof Headers) given.forEach((value, key) => (headers[key.toLowerCase()] = value));
  else if (given)
    for (const [key, value] of Object.entries(given)) headers[key.toLowerCase()] = String(value);
  return { status: answer.status ?? 200, headers, body: typeof answer.body === 'string' ? answer.body : '' };
}

/** Calls the consent handlers directly, as the v4 library allows outside the Functions host. */
export function consentClient(context: AppContext) {
  const handlers = consentHandlers(() => context);
  /** Every line the handlers logged through the invocation (as Application Insights would get them). */
  const logs: string[] = [];
  const invocation = () =>
    new InvocationContext({
      functionName: 'consent',
      logHandler: (_level, ...args) => logs.push(args.map(String).join(' ')),
    });
  const request = (path: string, query: string, cookie?: string) =>
    new HttpRequest({
      method: 'GET',
      url: `http://127.0.0.1:7071/api/${path}${query ? `?${query}` : ''}`,
      headers: cookie ? { cookie } : {},
    });
  return {
    logs,
    landing: async () => normalise(await handlers.landing(request('consent', ''), invocation())),
    /** Starts a flow; returns the redirect, the state in it and the cookie to send back. */
    start: async (tenant?: string, cookie?: string) => {
      const answer = normalise(
        await handlers.start(
          request('consent/start', tenant ? `tenant=${encodeURIComponent(tenant)}` : '', cookie),
          invocation(),
        ),
      );
      const location = answer.headers.location ? new URL(answer.headers.location) : undefined;
      const setCookie = answer.headers['set-cookie'] ?? '';
      return {
        answer,
        location,
        state: location?.searchParams.get('state') ?? '',
        cookie: setCookie.split(';')[0] ?? '',
        setCookie,
      };
    },
    callback: async (query: string | URLSearchParams, cookie?: string) =>
      normalise(await handlers.callback(request('consent/callback', query.toString(), cookie), invocation())),
  };
}

/** The success redirect Entra ID sends after "Accept". */
export function grantedQuery(tenant: string, state: string): URLSearchParams {
  return new URLSearchParams({
    admin_consent: 'True',
    tenant,
    scope: 'https://graph.microsoft.com/.default',
    state,
  });
}
