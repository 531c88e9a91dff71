import { loadConfig } from '../../src/config';
import { tokenExchangeAudience } from '../../src/credential-config';
import { ConfigError } from '../../src/errors';

const CLIENT_ID = '11111111-2222-3333-4444-555555555555';
const IDENTITY_CLIENT_ID = 'AAAAAAAA-2222-3333-4444-555555555555';
const storage = { AzureWebJobsStorage: 'UseDevelopmentStorage=true' };
const vault = { KEY_VAULT_URL: 'https://contoso-vault.vault.azure.net/' };
const endpoint = { IDENTITY_ENDPOINT: 'http://127.0.0.1:41234/msi/token', IDENTITY_HEADER: 'header-value' };

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig({ APP_CLIENT_ID: CLIENT_ID, ...storage, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('APP_CREDENTIAL', () => {
  it('is secret by default, with the vault and the secret name', () => {
    expect(loadConfig({ APP_CLIENT_ID: CLIENT_ID, ...storage, ...vault }).appCredential).toEqual({
      kind: 'secret',
      vault: { url: vault.KEY_VAULT_URL, anyHost: false },
      secretName: 'graph-app-client-secret',
    });
  });

  it('certificate: needs the vault and APP_CERTIFICATE_NAME', () => {
    const env = { APP_CREDENTIAL: 'certificate', ...vault, APP_CERTIFICATE_NAME: 'crawler-cert' };
    expect(loadConfig({ APP_CLIENT_ID: CLIENT_ID, ...storage, ...env }).appCredential).toEqual({
      kind: 'certificate',
      vault: { url: vault.KEY_VAULT_URL, anyHost: false },
      certificateName: 'crawler-cert',
    });
    expect(problemsOf({ APP_CREDENTIAL: 'certificate', ...vault })).toEqual([
      expect.stringMatching(/^APP_CERTIFICATE_NAME is required with APP_CREDENTIAL=certificate/),
    ]);
    expect(problemsOf({ APP_CREDENTIAL: 'certificate', APP_CERTIFICATE_NAME: 'c' })).toEqual([
      expect.stringMatching(/^KEY_VAULT_URL is required with APP_CREDENTIAL=certificate/),
    ]);
    expect(problemsOf({ ...env, APP_CERTIFICATE_NAME: 'no_underscores' })).toEqual([
      'APP_CERTIFICATE_NAME must be 1-127 letters, digits or dashes',
    ]);
  });

  it('managed-identity: needs no vault, the identity client ID and the platform endpoint', () => {
    const env = { APP_CREDENTIAL: 'managed-identity', APP_FEDERATED_IDENTITY_CLIENT_ID: IDENTITY_CLIENT_ID };
    expect(loadConfig({ APP_CLIENT_ID: CLIENT_ID, ...storage, ...env, ...endpoint }).appCredential).toEqual({
      kind: 'managed-identity',
      identityClientId: IDENTITY_CLIENT_ID.toLowerCase(),
      audience: 'api://AzureADTokenExchange',
    });
    // No endpoint: refused, so the SDK never falls back to probing the instance metadata address.
    expect(problemsOf(env)).toEqual([
      expect.stringMatching(/IDENTITY_ENDPOINT and IDENTITY_HEADER are not set/),
    ]);
    expect(problemsOf({ APP_CREDENTIAL: 'managed-identity', ...endpoint })).toEqual([
      expect.stringMatching(/^APP_FEDERATED_IDENTITY_CLIENT_ID is required/),
    ]);
    expect(problemsOf({ ...env, ...endpoint, APP_FEDERATED_IDENTITY_CLIENT_ID: 'identity' })).toEqual([
      'APP_FEDERATED_IDENTITY_CLIENT_ID must be a GUID (a client ID)',
    ]);
  });

  it("refuses another kind's settings and an unknown kind, in one error with the rest", () => {
    expect(problemsOf({ ...vault, APP_CERTIFICATE_NAME: 'crawler-cert' })).toEqual([
      'APP_CERTIFICATE_NAME belongs to another credential kind than APP_CREDENTIAL=secret: remove it',
    ]);
    expect(
      problemsOf({
        APP_CREDENTIAL: 'managed-identity',
        APP_FEDERATED_IDENTITY_CLIENT_ID: IDENTITY_CLIENT_ID,
        APP_CLIENT_SECRET_NAME: 'old-secret',
        ...endpoint,
      }),
    ).toEqual([
      'APP_CLIENT_SECRET_NAME belongs to another credential kind than APP_CREDENTIAL=managed-identity: remove it',
    ]);
    const problems = problemsOf({ APP_CREDENTIAL: 'password', APP_CLIENT_ID: 'x' });
    expect(problems).toContain('APP_CREDENTIAL must be secret, certificate or managed-identity');
    expect(() => loadConfig({ APP_CREDENTIAL: 'password', ...storage })).toThrow(
      /APP_CLIENT_ID is required[\s\S]*APP_CREDENTIAL must be/,
    );
  });

  it('takes the token-exchange audience of the cloud AUTHORITY_HOST is in', () => {
    expect(tokenExchangeAudience('https://login.microsoftonline.com')).toBe('api://AzureADTokenExchange');
    expect(tokenExchangeAudience('https://login.microsoftonline.us')).toBe('api://AzureADTokenExchangeUSGov');
    expect(tokenExchangeAudience('https://login.chinacloudapi.cn')).toBe('api://AzureADTokenExchangeChina');
    expect(tokenExchangeAudience('https://login.partner.microsoftonline.cn')).toBe(
      'api://AzureADTokenExchangeChina',
    );
    const env = {
      APP_CREDENTIAL: 'managed-identity',
      APP_FEDERATED_IDENTITY_CLIENT_ID: IDENTITY_CLIENT_ID,
      AUTHORITY_HOST: 'https://login.microsoftonline.us',
      ...endpoint,
    };
    expect(loadConfig({ APP_CLIENT_ID: CLIENT_ID, ...storage, ...env }).appCredential).toMatchObject({
      audience: 'api://AzureADTokenExchangeUSGov',
    });
  });
});
