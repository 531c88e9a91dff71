import type { TokenCredential } from '@azure/identity';
import { operatorCredential } from '../../../dev/sim/operator-credential';
import { randomBytes, randomUUID } from 'node:crypto';
import type { SimControl } from '../../../dev/sim/types';
import type { AppContext, AppContextOverrides } from '../../../src/app-context';
import { createAppContext } from '../../../src/app-context';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logging/logger';
import type { CapturedLog, TestApp } from '../../support/test-app';
import { TEST_REDIRECT_URI } from '../../support/test-app';
import { sim, storageConnectionString } from '../../support/sim';

export interface ReliabilityAppOptions {
  /** The simulated cloud (default: the run's shared one). */
  cloud?: SimControl;
  /** `AzureWebJobsStorage` (default: this test file's own storage account). */
  storage?: string;
  redirectUri?: string;
  overrides?: AppContextOverrides;
  /** Sees every access token the app's own identity gets (for Key Vault), e.g. to look for it in logs. */
  onAppToken?: (token: string) => void;
  /** `ONBOARDING` (default `open`). */
  onboarding?: 'invite' | 'open';
}

/** A `TestApp` on the simulator the test chose. */
export interface ReliabilityApp extends TestApp {
  cloud: SimControl;
}

/**
 * Like `createTestApp`, for a simulator and a storage connection of the test's choosing: a fresh app
 * registration, its secret in the simulated Key Vault, and an AppContext configured as the product reads it.
 */
export async function createReliabilityApp(options: ReliabilityAppOptions = {}): Promise<ReliabilityApp> {
  const cloud = options.cloud ?? sim();
  const simEnv = await cloud.env();
  const redirectUri = options.redirectUri ?? TEST_REDIRECT_URI;
  const clientSecret = `s3cr3t~${randomBytes(18).toString('base64url')}`;
  const secretName = `reliability-${randomUUID().slice(0, 8)}`;
  const { clientId } = await cloud.createApp({
    secrets: [{ value: clientSecret }],
    redirectUris: [redirectUri],
    groupMembershipClaims: 'DirectoryRole',
  });
  await cloud.setVaultSecret(secretName, clientSecret, {
    expiresOn: new Date(Date.now() + 365 * 86_400_000).toISOString(),
  });
  const env: Record<string, string> = {
    APP_CLIENT_ID: clientId,
    KEY_VAULT_URL: simEnv.KEY_VAULT_URL,
    KEY_VAULT_ANY_HOST: simEnv.KEY_VAULT_ANY_HOST,
    APP_CLIENT_SECRET_NAME: secretName,
    CONSENT_REDIRECT_URI: redirectUri,
    ONBOARDING: options.onboarding ?? 'open',
    HOME_TENANT_ID: simEnv.AZURE_TENANT_ID,
    AUTHORITY_HOST: simEnv.AUTHORITY_HOST,
    AZURE_AUTHORITY_HOST: simEnv.AZURE_AUTHORITY_HOST,
    GRAPH_ENDPOINT: simEnv.GRAPH_ENDPOINT,
    AzureWebJobsStorage: options.storage ?? storageConnectionString(),
    CRAWL_SCHEDULE: '0 0 0 1 1 *',
    ISV_NAME: 'Contoso Reliability',
    AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential',
    AZURE_TENANT_ID: simEnv.AZURE_TENANT_ID,
    AZURE_CLIENT_ID: simEnv.AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET: simEnv.AZURE_CLIENT_SECRET,
  };
  const logs: CapturedLog[] = [];
  const operator = operatorCredential(simEnv);
  const appCredential: TokenCredential = {
    getToken: async (scopes, getTokenOptions) => {
      const token = await operator.getToken(scopes, getTokenOptions);
      if (token) options.onAppToken?.(token.token);
      return token;
    },
  };
  const build = (more: AppContextOverrides = {}): AppContext =>
    createAppContext(loadConfig(env, 'consent'), {
      logger: createLogger((level, message, fields) => logs.push({ level, message, fields })),
      hostIdentity: appCredential,
      consentRetryWindowMs: 3_000,
      consentPropagationWindowMs: 2_000,
      ...options.overrides,
      ...more,
    });
  return {
    cloud,
    context: build(),
    clientId,
    clientSecret,
    secretName,
    logs,
    env,
    newInstance: build,
  };
}
