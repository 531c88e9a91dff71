import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { HttpRequest, InvocationContext as Invocation } from '@azure/functions';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Route template as in `app.http`, e.g. `tenants/{tenantId}/crawl` (under `/api`). */
  route: string;
  name: string;
  handler: HttpHandler;
}

const MAX_BODY = 1 << 20;

function matcher(route: string): RegExp {
  const pattern = route
    .split('/')
    .map((part) =>
      /^\{(\w+)\}$/.test(part) ? `(?<${part.slice(1, -1)}>[^/]+)` : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^/api/${pattern}/?$`);
}

async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
}

/**
 * The request's URL, or undefined when its Host header or target makes none the v4 library accepts: `Host: [::`
 * would throw (and, uncaught, end the process), `Host: a@b` gives a URL with credentials that `HttpRequest` refuses.
 */
function requestUrl(request: IncomingMessage): URL | undefined {
  try {
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? '127.0.0.1'}`);
    return url.username || url.password ? undefined : url;
  } catch {
    return undefined;
  }
}

/**
 * The HTTP side of the local Functions host: routes `/api/...` to the same handlers Azure runs, building the v4
 * library's `HttpRequest` and `InvocationContext` as the host does.
 */
export function createHttpHost(
  routes: readonly Route[],
  log: (level: 'info' | 'warn' | 'error', text: string) => void,
): Server {
  const compiled = routes.map((route) => ({ ...route, pattern: matcher(route.route) }));
  return createServer((request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const url = requestUrl(request);
      if (!url) {
        response.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
        response.end('Bad request\n');
        return;
      }
      const candidates = compiled.filter((route) => route.pattern.test(url.pathname));
      const route = candidates.find((candidate) => candidate.method === request.method);
      if (!route) {
        response.writeHead(candidates.length > 0 ? 405 : 404, {
          'Content-Type': 'text/plain; charset=utf-8',
        });
        response.end(candidates.length > 0 ? 'Method not allowed\n' : 'Not found\n');
        return;
      }
      try {
        const headers: Record<string, string> = {};
        for (const [key, value] of Object.entries(request.headers)) {
          if (typeof value === 'string') headers[key] = value;
          else if (Array.isArray(value)) headers[key] = value.join(', ');
        }
        const body = request.method === 'POST' ? await readBody(request) : undefined;
        const params = route.pattern.exec(url.pathname)?.groups ?? {};
        const httpRequest = new HttpRequest({
          method: request.method ?? 'GET',
          url: url.toString(),
          headers,
          params,
          body: body === undefined ? undefined : { string: body },
        });
        const context = new Invocation({
          functionName: route.name,
          logHandler: (level, ...args) =>
            log(
              level === 'error' ? 'error' : level === 'warning' ? 'warn' : 'info',
              args.map(String).join(' '),
            ),
        });
        const answer = await route.handler(httpRequest, context);
        const outHeaders: Record<string, string> = {};
        const given = answer.headers;
        if (given instanceof Headers) given.forEach((value, key) => (outHeaders[key] = value));
        else if (given) for (const [key, value] of Object.entries(given)) outHeaders[key] = String(value);
        response.writeHead(answer.status ?? 200, outHeaders);
        response.end(typeof answer.body === 'string' ? answer.body : '');
      } catch (error) {
        log('error', `local host: ${(error as Error).name}`);
        if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        response.end('Internal error\n');
      }
    })();
  });
}

/** Listens on 127.0.0.1 and resolves with the port. */
export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}
