import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloudState } from './cloud-state';
import { VAULT_RESOURCE } from './cloud-state';
import { header, readBody, sendJson, splitTarget } from './http-kit';
import type { VaultSecretVersion } from './vault-store';

/**
 * A secret version as Key Vault answers it; a certificate's backing secret also carries `managed: true` and the
 * `kid` of the certificate's key (Key Vault's "About certificates", composition of a certificate).
 */
function secretBundle(url: string, secret: VaultSecretVersion): Record<string, unknown> {
  return {
    value: secret.value,
    id: `${url}/secrets/${secret.name}/${secret.version}`,
    ...(secret.contentType === undefined ? {} : { contentType: secret.contentType }),
    ...(secret.managed ? { managed: true, kid: `${url}/keys/${secret.name}/${secret.version}` } : {}),
    attributes: {
      enabled: true,
      created: secret.created,
      updated: secret.updated,
      ...(secret.expires === undefined ? {} : { exp: secret.expires }),
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    },
    tags: {},
  };
}

function vaultError(code: string, message: string): Record<string, unknown> {
  return { error: { code, message } };
}

/**
 * Key Vault's secrets API at the server root: the unauthenticated first request gets the 401 challenge naming the
 * operator's tenant and `https://vault.azure.net`; with the operator's token, `GET /secrets/{name}/` (latest),
 * `GET /secrets/{name}/{version}` and `PUT /secrets/{name}` work. Only the operator tenant's tokens are accepted.
 */
export async function handleKeyVault(
  state: CloudState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const target = req.url ?? '/';
  const { path } = splitTarget(target);
  const method = req.method ?? 'GET';
  const authorization = header(req.headers, 'authorization');
  const challenge = {
    'WWW-Authenticate': `Bearer authorization="${state.url}/${state.operator.tenantId}", resource="${VAULT_RESOURCE}"`,
  };
  const log = (status: number, claims?: { tid: string; appid: string }): void =>
    state.log.add({
      at: state.wall(),
      service: 'vault',
      ...(claims ? { tenantId: claims.tid, clientId: claims.appid } : {}),
      method,
      url: target,
      status,
      inBatch: false,
      units: 0,
      ...(req.headers['user-agent'] === undefined ? {} : { userAgent: req.headers['user-agent'] }),
      authorized: authorization !== undefined && /^Bearer\s/i.test(authorization),
      violation: false,
    });

  const body = method === 'PUT' ? await readBody(req) : '';
  if (state.draw(state.faultsFor(undefined).vault5xx)) {
    const status = state.random() < 0.5 ? 500 : 503;
    log(status);
    sendJson(
      res,
      status,
      vaultError(status === 500 ? 'InternalServerError' : 'ServiceUnavailable', 'Injected outage.'),
    );
    return;
  }

  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!bearer) {
    log(401);
    sendJson(
      res,
      401,
      vaultError('Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'),
      challenge,
    );
    return;
  }
  const check = state.signer.verify(bearer, Math.floor(state.wall() / 1000));
  if (!check.valid || check.claims.aud !== VAULT_RESOURCE || check.claims.tid !== state.operator.tenantId) {
    log(401);
    const reason = check.valid ? 'AKV10022: Invalid audience or tenant.' : `AKV10032: ${check.reason}`;
    sendJson(res, 401, vaultError('Unauthorized', reason), challenge);
    return;
  }
  const claims = check.claims;

  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [root, name, version] = segments;
  if (root !== 'secrets' || !name || segments.length > 3) {
    log(400, claims);
    sendJson(
      res,
      400,
      vaultError('BadParameter', 'The request URI is not supported by this simulated vault.'),
    );
    return;
  }
  if (method === 'PUT' && !version) {
    let parsed: { value?: unknown; contentType?: unknown; attributes?: { exp?: unknown } };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      parsed = {};
    }
    if (typeof parsed.value !== 'string') {
      log(400, claims);
      sendJson(res, 400, vaultError('BadParameter', 'Property value is required.'));
      return;
    }
    const exp =
      typeof parsed.attributes?.exp === 'number'
        ? new Date(parsed.attributes.exp * 1000).toISOString()
        : undefined;
    const contentType = typeof parsed.contentType === 'string' ? parsed.contentType : undefined;
    const stored = state.vault.set(name, parsed.value, { expiresOn: exp, contentType }, state.wall());
    log(200, claims);
    sendJson(res, 200, secretBundle(state.url, stored));
    return;
  }
  if (method !== 'GET') {
    log(405, claims);
    sendJson(res, 405, vaultError('MethodNotAllowed', `${method} is not supported by this simulated vault.`));
    return;
  }
  const secret = state.vault.get(name, version);
  if (!secret) {
    log(404, claims);
    const which = version ? `${name}/${version}` : name;
    sendJson(
      res,
      404,
      vaultError(
        'SecretNotFound',
        `A secret with (name/id) ${which} was not found in this key vault. If you recently deleted this secret you ` +
          'may be able to recover it using the correct recovery command. For help resolving this issue, please see ' +
          'https://go.microsoft.com/fwlink/?linkid=2125182',
      ),
    );
    return;
  }
  log(200, claims);
  sendJson(res, 200, secretBundle(state.url, secret));
}
