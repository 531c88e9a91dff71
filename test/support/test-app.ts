import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AppContext, AppContextOverrides } from '../../src/app-context';
import { createAppContext } from '../../src/app-context';
import { loadConfig } from '../../src/config';
import type { LogFields } from '../../src/logging/logger';
import { createLogger } from '../../src/logging/logger';
import { sim, storageConnectionString } from './sim';
import { operatorCredential } from '../../dev/sim/operator-credential';
import { setUpAppCredential } from '../../dev/app-credential-setup';

export { uniqueSeed } from './unique-seed';

export const TEST_REDIRECT_URI = 'http://127.0.0.1:7071/api/consent/callback';

export interface CapturedLog {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: LogFields;
}

export interface TestApp {
  context: AppContext;
  clientId: string;
  clientSecret: string;
  secretName: string;
  /** Every line the app logged. */
  logs: CapturedLog[];
  /** The environment that configures this app (for `npm run crawl` as a child process). */
  env: Record<string, string>;
  /** With `credential: 'certificate'`: the Key Vault certificate's name. */
  certificateName?: string;
  /** With `credential: 'managed-identity'`: the identity the app registration trusts. */
  identity?: { clientId: string; principalId: string; tenantId: string };
  /** Another process of the same deployment: same configuration and storage, its own pacers and caches. */
  newInstance(overrides?: AppContextOverrides): AppContext;
}

/**
 * A fresh app registration in the simulator (its own client ID and secret, the secret in the simulated Key
 * Vault under a name of its own) and an AppContext for it on this test file's own storage account.
 */
export async function createTestApp(
  overrides: AppContextOverrides = {},
  options: {
    secretExpiresOn?: string;
    vaultSecretExpiresOn?: string;
    redirectUri?: string;
    /** Storage of the app's own (e.g. an Azurite of its own for a test that would hog the shared one). */
    storage?: string;
    /** `ONBOARDING` (default `open` here, so a test signs in without an invitation unless it is about them). */
    onboarding?: 'invite' | 'open';
    /** The app registration's `groupMembershipClaims` (default `DirectoryRole`, as the README asks). */
    groupMembershipClaims?: 'None' | 'DirectoryRole' | 'All';
    /** `APP_CREDENTIAL` (default `secret`): each kind is set up in the simulator as an operator would in Azure. */
    credential?: 'secret' | 'certificate' | 'managed-identity';
  } = {},
): Promise<TestApp> {
  const cloud = sim();
  const env = await cloud.env();
  const clientSecret = `s3cr3t~${randomBytes(18).toString('base64url')}`;
  const secretName = `app-secret-${randomUUID().slice(0, 8)}`;
  const { clientId } = await cloud.createApp({
    secrets: [{ value: clientSecret, expiresOn: options.secretExpiresOn }],
    redirectUris: [options.redirectUri ?? TEST_REDIRECT_URI],
    groupMembershipClaims: options.groupMembershipClaims ?? 'DirectoryRole',
  });
  await cloud.setVaultSecret(secretName, clientSecret, {
    expiresOn: options.vaultSecretExpiresOn ?? new Date(Date.now() + 365 * 86_400_000).toISOString(),
  });
  const kind = options.credential ?? 'secret';
  const credential = await setUpAppCredential(cloud, clientId, kind);
  const appEnv: Record<string, string> = {
    APP_CLIENT_ID: clientId,
    KEY_VAULT_URL: env.KEY_VAULT_URL,
    KEY_VAULT_ANY_HOST: env.KEY_VAULT_ANY_HOST,
    ...(kind === 'secret' ? { APP_CLIENT_SECRET_NAME: secretName } : {}),
    ...credential.env,
    CONSENT_REDIRECT_URI: options.redirectUri ?? TEST_REDIRECT_URI,
    ONBOARDING: options.onboarding ?? 'open',
    HOME_TENANT_ID: env.AZURE_TENANT_ID,
    AUTHORITY_HOST: env.AUTHORITY_HOST,
    AZURE_AUTHORITY_HOST: env.AZURE_AUTHORITY_HOST,
    GRAPH_ENDPOINT: env.GRAPH_ENDPOINT,
    AzureWebJobsStorage: options.storage ?? storageConnectionString(),
    CRAWL_SCHEDULE: '0 0 */6 * * *',
    ISV_NAME: 'Contoso Test',
    AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential',
    AZURE_TENANT_ID: env.AZURE_TENANT_ID,
    AZURE_CLIENT_ID: env.AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET: env.AZURE_CLIENT_SECRET,
  };
  const logs: CapturedLog[] = [];
  const build = (more: AppContextOverrides = {}): AppContext =>
    createAppContext(loadConfig(appEnv, 'consent'), {
      logger: createLogger((level, message, fields) => logs.push({ level, message, fields })),
      hostIdentity: operatorCredential(env),
      consentRetryWindowMs: 3_000,
      consentPropagationWindowMs: 2_000,
      vaultCacheMs: 0,
      ...overrides,
      ...more,
    });
  return {
    context: build(),
    clientId,
    clientSecret,
    secretName,
    certificateName: credential.certificateName,
    identity: credential.identity,
    logs,
    env: appEnv,
    newInstance: build,
  };
}

/** A free loopback port (for a local host whose callback URL must be registered before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
