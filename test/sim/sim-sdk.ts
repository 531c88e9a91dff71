import { ClientSecretCredential } from '@azure/identity';
import {
  AuthenticationHandler,
  Client,
  HTTPMessageHandler,
  ResponseType,
} from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import { randomBytes } from 'node:crypto';
import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import type { AppSpec, RequestLogEntry, RequestLogFilter, TenantInfo, TenantSpec } from '../../dev/sim/types';
import { uniqueSeed } from '../support/unique-seed';

export { uniqueSeed };

/** The redirect URI the simulator's test apps register. */
export const REDIRECT_URI = 'http://127.0.0.1:7071/api/consent/callback';

/** A new app registration with one secret; the secret is returned for credentials. */
export async function newApp(
  cloud: SimulatedCloud,
  spec: Partial<AppSpec> = {},
): Promise<{ clientId: string; secret: string }> {
  const secret = `s3cr3t~${randomBytes(12).toString('base64url')}`;
  const { clientId } = await cloud.createApp({
    secrets: [{ value: secret }],
    redirectUris: [REDIRECT_URI],
    ...spec,
  });
  return { clientId, secret };
}

/** A new small tenant with a unique seed where `clientId` is consented (unless `consented: false`). */
export async function newTenant(
  cloud: SimulatedCloud,
  clientId: string | undefined,
  spec: Partial<TenantSpec> = {},
): Promise<TenantInfo> {
  return cloud.createTenant({
    seed: uniqueSeed(),
    users: 12,
    ...(clientId ? { consentedApps: [{ clientId }] } : {}),
    ...spec,
  });
}

/** A ClientSecretCredential against the simulator, as the product builds one. */
export function credential(
  cloud: SimulatedCloud,
  tenant: string,
  clientId: string,
  secret: string,
): ClientSecretCredential {
  return new ClientSecretCredential(tenant, clientId, secret, {
    authorityHost: cloud.url,
    disableInstanceDiscovery: true,
  });
}

/**
 * A Graph client on the simulator without the SDK's RetryHandler (so every 429 reaches the test), built the way
 * docs/graph-facts.md recommends: authentication, then the HTTP handler.
 */
export function graphClient(cloud: SimulatedCloud, tokenCredential: ClientSecretCredential): Client {
  const auth = new AuthenticationHandler(
    new TokenCredentialAuthenticationProvider(tokenCredential, { scopes: [`${cloud.url}/.default`] }),
  );
  auth.setNext(new HTTPMessageHandler());
  return Client.initWithMiddleware({
    middleware: auth,
    baseUrl: cloud.url,
    customHosts: new Set(['127.0.0.1']),
  });
}

/** GETs a Graph path and returns the raw response (status and headers included, never thrown). */
export async function rawGet(
  client: Client,
  path: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return (await client.api(path).headers(headers).responseType(ResponseType.RAW).get()) as Response;
}

/** The payload of a JWT, decoded without verification. */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** The rejection of a promise that must fail. */
export async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the operation to fail');
}

/** An access token for Graph in the tenant (through the real credential). */
export async function graphToken(
  cloud: SimulatedCloud,
  tenantId: string,
  app: { clientId: string; secret: string },
): Promise<string> {
  const token = await credential(cloud, tenantId, app.clientId, app.secret).getToken(`${cloud.url}/.default`);
  return token.token;
}

/** The log entries (matching `filter`) that `action` added: robust where a `since` timestamp could tie. */
export async function logDuring(
  cloud: SimulatedCloud,
  filter: RequestLogFilter,
  action: () => Promise<unknown>,
): Promise<RequestLogEntry[]> {
  const before = (await cloud.requestLog(filter)).length;
  await action();
  return (await cloud.requestLog(filter)).slice(before);
}

/** A simulated cloud of one test file's own, with one app registered in it (`ownCloudWithApp`). */
export interface CloudWithApp {
  readonly cloud: SimulatedCloud;
  readonly app: { clientId: string; secret: string };
}

/**
 * Starts a simulated cloud of the test file's own and registers one app in it before the file's tests, and closes
 * it after them. Read `cloud` and `app` inside tests (they exist once `beforeAll` has run).
 */
export function ownCloudWithApp(timeScale: number): CloudWithApp {
  let cloud: SimulatedCloud | undefined;
  let app: { clientId: string; secret: string } | undefined;
  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale });
    app = await newApp(cloud);
  });
  afterAll(() => cloud?.close());
  return {
    get cloud() {
      if (!cloud) throw new Error('the simulated cloud starts in beforeAll');
      return cloud;
    },
    get app() {
      if (!app) throw new Error('the app is registered in beforeAll');
      return app;
    },
  };
}
