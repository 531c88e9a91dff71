import type { HttpResponseInit } from '@azure/functions';
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { AppContext } from '../../src/app-context';
import { signInAt } from '../../dev/browserless-consent';
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
  const flowOf = (answer: Answer, cookie?: string) => {
    const location = answer.headers.location ? new URL(answer.headers.location) : undefined;
    const setCookie = answer.headers['set-cookie'] ?? '';
    return {
      answer,
      location,
      state: location?.searchParams.get('state') ?? '',
      cookie: setCookie.split(';')[0] || cookie || '',
      setCookie,
    };
  };
  const start = async (options: { tenant?: string; invitation?: string; cookie?: string } = {}) => {
    const query = new URLSearchParams();
    if (options.tenant) query.set('tenant', options.tenant);
    if (options.invitation) query.set('invitation', options.invitation);
    return flowOf(
      normalise(
        await handlers.start(request('consent/start', query.toString(), options.cookie), invocation()),
      ),
    );
  };
  const callback = async (query: string | URLSearchParams, cookie?: string) =>
    normalise(await handlers.callback(request('consent/callback', query.toString(), cookie), invocation()));
  return {
    logs,
    landing: async (query = '') => normalise(await handlers.landing(request('consent', query), invocation())),
    /** Starts a flow; returns the redirect (to Entra ID's sign-in page), the state in it and the cookie to send back. */
    start,
    callback,
    /**
     * Starts a flow and signs `login` in on the simulator's sign-in page; returns our callback's answer to the code:
     * a redirect to the adminconsent page (with the consent step's state) for an admin, or a refusal page.
     */
    signIn: async (
      login: string,
      options: { tenant?: string; invitation?: string; cookie?: string } = {},
    ) => {
      const started = await start(options);
      if (started.answer.status !== 302 || !started.location) {
        throw new Error(`start answered ${started.answer.status}: ${started.answer.body.slice(0, 300)}`);
      }
      const back = new URL(await signInAt(started.location.toString(), login));
      return flowOf(await callback(back.searchParams, started.cookie), started.cookie);
    },
    /** `POST /api/invitations` with this JSON body. */
    invite: async (body: unknown = {}) =>
      normalise(
        await handlers.invite(
          new HttpRequest({
            method: 'POST',
            url: 'http://127.0.0.1:7071/api/invitations',
            headers: { 'content-type': 'application/json' },
            body: { string: typeof body === 'string' ? body : JSON.stringify(body) },
          }),
          invocation(),
        ),
      ),
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

/** The sign-in name of a simulated tenant's Global Administrator. */
export const adminOf = (tenant: { domain: string }): string => `admin@${tenant.domain}`;
