import type { IncomingMessage } from 'node:http';
import type { CloudState } from './cloud-state';
import type { RequestLogEntry } from './types';

/** Logs one request to the Entra ID endpoints (token, OpenID metadata, admin consent): never authorized, no units. */
export function logEntra(
  state: CloudState,
  req: IncomingMessage,
  service: RequestLogEntry['service'],
  status: number,
  fields: { tenantId?: string; clientId?: string },
): void {
  state.log.add({
    at: state.wall(),
    service,
    ...(fields.tenantId === undefined ? {} : { tenantId: fields.tenantId }),
    ...(fields.clientId === undefined ? {} : { clientId: fields.clientId.toLowerCase() }),
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    status,
    inBatch: false,
    units: 0,
    ...(req.headers['user-agent'] === undefined ? {} : { userAgent: req.headers['user-agent'] }),
    authorized: false,
    violation: false,
  });
}
