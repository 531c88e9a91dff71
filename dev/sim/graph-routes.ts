import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokenClaims } from './access-token';
import type { CloudState } from './cloud-state';
import { GRAPH_AUDIENCE } from './cloud-state';
import type { GraphCall, PendingHold } from './graph-request';
import { answerGraphCall, tellHolds } from './graph-request';
import { graphError } from './graph-plan';
import { header, readBody, sendJson, sleep, splitTarget } from './http-kit';

/** Graph's JSON content type, which the Graph SDK's batch parser expects verbatim. */
export const GRAPH_CONTENT_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
/** Graph's limit of requests in one `$batch`. */
export const MAX_BATCH_REQUESTS = 20;

interface BatchItem {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
}

type Authentication = { valid: true; claims: AccessTokenClaims } | { valid: false; reason: string };

function authenticate(state: CloudState, authorization: string | undefined): Authentication {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match?.[1]) return { valid: false, reason: 'Access token is empty.' };
  const check = state.signer.verify(match[1], Math.floor(state.wall() / 1000));
  if (!check.valid) return check;
  if (check.claims.aud !== state.url && check.claims.aud !== GRAPH_AUDIENCE) {
    return { valid: false, reason: 'Access token validation failure. Invalid audience.' };
  }
  return check;
}

function parseBatch(payload: unknown): BatchItem[] | string {
  const requests = (payload as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests) || requests.length === 0) return 'Invalid batch payload format.';
  if (requests.length > MAX_BATCH_REQUESTS) {
    return `The number of requests in the batch exceeds the limit of ${MAX_BATCH_REQUESTS}.`;
  }
  const items: BatchItem[] = [];
  for (const raw of requests as unknown[]) {
    const request = raw as { id?: unknown; method?: unknown; url?: unknown; headers?: unknown } | null;
    const id = typeof request?.id === 'number' ? String(request.id) : request?.id;
    if (typeof id !== 'string' || typeof request?.method !== 'string' || typeof request.url !== 'string') {
      return 'Invalid batch payload format: every request needs id, method and url.';
    }
    if (items.some((item) => item.id === id)) return `Batch request id '${id}' is not unique.`;
    const headers: Record<string, string> = {};
    if (typeof request.headers === 'object' && request.headers !== null) {
      for (const [name, value] of Object.entries(request.headers as Record<string, unknown>)) {
        if (typeof value === 'string') headers[name.toLowerCase()] = value;
      }
    }
    items.push({ id, method: request.method.toUpperCase(), url: request.url, headers });
  }
  return items;
}

async function answerBatch(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
  claims: AccessTokenClaims,
  context: { latencyMs: number; userAgent: string | undefined },
): Promise<void> {
  const requestId = randomUUID();
  const logOuter = (status: number): void =>
    state.log.add({
      at: state.wall(),
      service: 'graph',
      tenantId: claims.tid,
      clientId: claims.appid,
      method: req.method ?? 'POST',
      url: req.url ?? '/',
      status,
      inBatch: false,
      units: 0,
      ...(context.userAgent === undefined ? {} : { userAgent: context.userAgent }),
      authorized: true,
      violation: false,
    });
  let payload: unknown;
  try {
    payload = JSON.parse(await readBody(req));
  } catch {
    payload = undefined;
  }
  const items = parseBatch(payload);
  if (typeof items === 'string') {
    logOuter(400);
    const answer = graphError({ requestId, clientRequestId: undefined }, 400, 'BadRequest', items);
    sendJson(res, 400, answer.body, { 'request-id': requestId }, GRAPH_CONTENT_TYPE);
    return;
  }

  let reset = false;
  let slowMs = 0;
  const holds: PendingHold[] = [];
  const connection = state.connections.of(req.socket);
  const responses = items.map((item) => {
    if (/^\/?v1\.0(\/|$)/i.test(item.url) || /^https?:/i.test(item.url)) {
      const answer = graphError(
        { requestId, clientRequestId: undefined },
        400,
        'BadRequest',
        'Invalid request URI in batch item.',
      );
      state.log.add({
        at: state.wall(),
        service: 'graph',
        tenantId: claims.tid,
        clientId: claims.appid,
        method: item.method,
        url: item.url,
        status: 400,
        inBatch: true,
        units: 0,
        ...(context.userAgent === undefined ? {} : { userAgent: context.userAgent }),
        authorized: true,
        violation: false,
      });
      return { id: item.id, status: 400, headers: { 'Content-Type': GRAPH_CONTENT_TYPE }, body: answer.body };
    }
    const { path, query } = splitTarget(item.url.startsWith('/') ? item.url : `/${item.url}`);
    const call: GraphCall = {
      method: item.method,
      path,
      query,
      loggedUrl: item.url,
      header: (name) => item.headers[name.toLowerCase()],
      userAgent: context.userAgent,
      connection,
      inBatch: true,
    };
    const outcome = answerGraphCall(state, claims, call);
    holds.push(...outcome.holds);
    reset ||= outcome.reset;
    slowMs = Math.max(slowMs, outcome.slowMs);
    return {
      id: item.id,
      status: outcome.status,
      headers: { 'Content-Type': GRAPH_CONTENT_TYPE, ...outcome.headers },
      body: outcome.body,
    };
  });
  logOuter(reset ? 0 : 200);
  if (context.latencyMs + slowMs > 0) await sleep(context.latencyMs + slowMs);
  if (reset) {
    req.socket.destroy();
    return;
  }
  res.once('finish', () => tellHolds(holds, state.clock()));
  sendJson(res, 200, { responses }, { 'request-id': requestId }, GRAPH_CONTENT_TYPE);
}

/**
 * Microsoft Graph under `/v1.0`: checks the bearer token (issued by this simulator, audience Graph), then answers
 * one request or a `$batch` of up to 20. The tenant's latency (simulated ms / time scale) is waited once per HTTP
 * round trip, so a batch pays it once.
 */
export async function handleGraph(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const target = req.url ?? '/';
  const { path, query } = splitTarget(target);
  const method = req.method ?? 'GET';
  const userAgent = header(req.headers, 'user-agent');
  const authorization = header(req.headers, 'authorization');
  const auth = authenticate(state, authorization);
  if (!auth.valid) {
    const requestId = randomUUID();
    state.log.add({
      at: state.wall(),
      service: 'graph',
      method,
      url: target,
      status: 401,
      inBatch: false,
      units: 0,
      ...(userAgent === undefined ? {} : { userAgent }),
      authorized: authorization !== undefined && /^Bearer\s/i.test(authorization),
      violation: false,
    });
    const answer = graphError(
      { requestId, clientRequestId: header(req.headers, 'client-request-id') },
      401,
      'InvalidAuthenticationToken',
      auth.reason,
    );
    sendJson(res, 401, answer.body, { 'request-id': requestId }, GRAPH_CONTENT_TYPE);
    return;
  }

  const tenant = state.tenant(auth.claims.tid);
  const latencyMs = tenant ? tenant.throttle.latencyMs / tenant.throttle.timeScale : 0;
  const graphPath = path.slice('/v1.0'.length) || '/';
  if (graphPath === '/$batch' || graphPath.toLowerCase() === '/%24batch') {
    if (method !== 'POST') {
      const answer = graphError(
        { requestId: randomUUID(), clientRequestId: undefined },
        405,
        'Request_BadRequest',
        'Specified HTTP method is not allowed for the request target.',
      );
      sendJson(res, 405, answer.body, {}, GRAPH_CONTENT_TYPE);
      return;
    }
    await answerBatch(state, req, res, auth.claims, { latencyMs, userAgent });
    return;
  }

  const connection = state.connections.of(req.socket);
  const outcome = answerGraphCall(state, auth.claims, {
    method,
    path: graphPath,
    query,
    loggedUrl: target,
    header: (name) => header(req.headers, name),
    userAgent,
    connection,
    inBatch: false,
  });
  if (latencyMs + outcome.slowMs > 0) await sleep(latencyMs + outcome.slowMs);
  if (outcome.reset) {
    req.socket.destroy();
    return;
  }
  const clientRequestId = header(req.headers, 'client-request-id');
  res.once('finish', () => tellHolds(outcome.holds, state.clock()));
  sendJson(
    res,
    outcome.status,
    outcome.body,
    {
      ...outcome.headers,
      'request-id': outcome.requestId,
      'client-request-id': clientRequestId ?? outcome.requestId,
    },
    GRAPH_CONTENT_TYPE,
  );
}
