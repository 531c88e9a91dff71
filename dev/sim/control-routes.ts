import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson, splitTarget } from './http-kit';
import { SimError } from './sim-error';
import type {
  AppCertificateSpec,
  AppSecretSpec,
  DriveAnomaly,
  FederatedCredentialSpec,
  GraphAppRole,
  RequestLogEntry,
  RequestLogFilter,
  RevocationCode,
  SimControl,
  SimNewDriveItem,
  TenantSpec,
} from './types';

type Body = Record<string, unknown>;
type Handler = (params: string[], query: URLSearchParams, body: Body) => Promise<unknown>;

interface ControlRoute {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handler: Handler;
}

const SEGMENT = '([^/]+)';

function route(method: 'GET' | 'POST', path: string, handler: Handler): ControlRoute {
  return { method, pattern: new RegExp(`^${path.replace(/:[a-zA-Z]+/g, SEGMENT)}$`), handler };
}

function text(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string') throw new SimError(400, `${field} must be a string`);
  return value;
}

function param(params: string[], index: number): string {
  return params[index] ?? '';
}

/**
 * The control API's routes: each `SimControl` operation as JSON under `/_sim` (GET for reads, POST for changes).
 * Paths name the objects (`/_sim/tenants/{id}/users/{id}/items`), bodies carry the rest; `SimClient` is the only
 * intended caller.
 */
export function controlRoutes(control: SimControl): ControlRoute[] {
  return [
    route('GET', '/env', () => control.env()),
    route('POST', '/apps', (_, __, body) => control.createApp(body)),
    route('POST', '/apps/:id/secrets', (p, _, body) =>
      control.addAppSecret(param(p, 0), body as unknown as AppSecretSpec),
    ),
    route('POST', '/apps/:id/secrets/remove', (p, _, body) =>
      control.removeAppSecret(param(p, 0), text(body, 'value')),
    ),
    route('POST', '/apps/:id/certificates', (p, _, body) =>
      control.addAppCertificate(param(p, 0), body as unknown as AppCertificateSpec),
    ),
    route('POST', '/apps/:id/certificates/:thumbprint/remove', (p) =>
      control.removeAppCertificate(param(p, 0), param(p, 1)),
    ),
    route('POST', '/apps/:id/certificates/:thumbprint/revoke', (p) =>
      control.revokeAppCertificate(param(p, 0), param(p, 1)),
    ),
    route('POST', '/apps/:id/federated-credentials', (p, _, body) =>
      control.addFederatedCredential(param(p, 0), body as unknown as FederatedCredentialSpec),
    ),
    route('POST', '/apps/:id/federated-credentials/:name/remove', (p) =>
      control.removeFederatedCredential(param(p, 0), param(p, 1)),
    ),
    route('POST', '/managed-identities', (_, __, body) => control.createManagedIdentity(body)),
    route('GET', '/managed-identities/env', () => control.managedIdentityEnv()),
    route('POST', '/managed-identities/endpoint', (_, __, body) =>
      control.setManagedIdentityEndpoint(
        text(body, 'state') as 'up' | 'down',
        body.clientId === undefined ? undefined : text(body, 'clientId'),
      ),
    ),
    route('POST', '/vault/secrets/:name', (p, _, body) =>
      control.setVaultSecret(param(p, 0), text(body, 'value'), {
        expiresOn: body.expiresOn as string | undefined,
        contentType: body.contentType as string | undefined,
      }),
    ),
    route('POST', '/vault/secrets/:name/delete', (p) => control.deleteVaultSecret(param(p, 0))),
    route('POST', '/tenants', (_, __, body) => control.createTenant(body as unknown as TenantSpec)),
    route('POST', '/tenants/:id/consent', (p, _, body) =>
      control.consent(
        param(p, 0),
        text(body, 'clientId'),
        body.options as
          | {
              roles?: GraphAppRole[];
              replicationLagMs?: number;
              lagCode?: 700016 | 65001;
              rolesLagMs?: number;
            }
          | undefined,
      ),
    ),
    route('POST', '/tenants/:id/revoke', (p, _, body) =>
      control.revoke(param(p, 0), text(body, 'clientId'), body.code as RevocationCode | undefined),
    ),
    route('GET', '/tenants/:id/users', (p) => control.listUsers(param(p, 0))),
    route('GET', '/tenants/:id/drives', (p) => control.drives(param(p, 0))),
    route('POST', '/tenants/:id/users/:user/items', (p, _, body) =>
      control.addItem(param(p, 0), param(p, 1), body as unknown as SimNewDriveItem),
    ),
    route('POST', '/tenants/:id/users/:user/items/:item/move', (p, _, body) =>
      control.moveItem(param(p, 0), param(p, 1), param(p, 2), text(body, 'parentId')),
    ),
    route('POST', '/tenants/:id/users/:user/drive/replace', (p) =>
      control.replaceDrive(param(p, 0), param(p, 1)),
    ),
    route('POST', '/tenants/:id/delta-tokens/expire', (p, _, body) =>
      control.expireDeltaTokens(param(p, 0), body.userId === undefined ? undefined : text(body, 'userId')),
    ),
    route('GET', '/tenants/:id/users/:user/drive-tree', (p) => control.driveTree(param(p, 0), param(p, 1))),
    route('POST', '/tenants/:id/users/:user/items/:item/rename', (p, _, body) =>
      control.renameItem(param(p, 0), param(p, 1), param(p, 2), text(body, 'name')),
    ),
    route('POST', '/tenants/:id/users/:user/items/:item/delete', (p) =>
      control.deleteItem(param(p, 0), param(p, 1), param(p, 2)),
    ),
    route('POST', '/tenants/:id/users/:user/license', (p, _, body) =>
      control.setLicensed(param(p, 0), param(p, 1), body.licensed === true),
    ),
    route('POST', '/tenants/:id/users/:user/delete', (p) => control.deleteUser(param(p, 0), param(p, 1))),
    route('POST', '/tenants/:id/users/:user/drive-anomaly', (p, _, body) =>
      control.setDriveAnomaly(param(p, 0), param(p, 1), text(body, 'answer') as DriveAnomaly | 'items'),
    ),
    route('POST', '/tenants/:id/throttle', (p, _, body) => control.setThrottle(param(p, 0), body)),
    route('POST', '/faults/:id', (p, _, body) => control.setFaults(param(p, 0), body)),
    route('GET', '/log', (_, query) => {
      const since = query.get('since');
      const filter: RequestLogFilter = {
        ...(query.has('tenantId') ? { tenantId: query.get('tenantId') ?? '' } : {}),
        ...(query.has('clientId') ? { clientId: query.get('clientId') ?? '' } : {}),
        ...(query.has('service') ? { service: query.get('service') as RequestLogEntry['service'] } : {}),
        ...(since === null ? {} : { since: Number(since) }),
      };
      return control.requestLog(filter);
    }),
    route('GET', '/tenants/:id/throttle-stats', (p, query) =>
      control.throttleStats(param(p, 0), query.get('clientId') ?? ''),
    ),
  ];
}

/** Serves `/_sim/...`: 200 with the JSON result, 204 for none, `{"error":{"message"}}` with 4xx for a refusal. */
export async function handleControl(
  routes: ControlRoute[],
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { path, query } = splitTarget(req.url ?? '/');
  const subPath = path.slice('/_sim'.length);
  const method = req.method ?? 'GET';
  try {
    for (const candidate of routes) {
      const match = candidate.pattern.exec(subPath);
      if (!match || candidate.method !== method) continue;
      const raw = method === 'POST' ? await readBody(req) : '';
      const parsed: unknown = raw ? JSON.parse(raw) : {};
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new SimError(400, 'The body must be a JSON object');
      }
      const params = match.slice(1).map((value) => decodeURIComponent(value));
      const result = await candidate.handler(params, query, parsed as Body);
      if (result === undefined) {
        res.writeHead(204);
        res.end();
      } else {
        sendJson(res, 200, result);
      }
      return;
    }
    sendJson(res, 404, { error: { message: `No control operation ${method} ${path}` } });
  } catch (error) {
    const status = error instanceof SimError ? error.status : error instanceof SyntaxError ? 400 : 500;
    sendJson(res, status, { error: { message: error instanceof Error ? error.message : String(error) } });
  }
}
