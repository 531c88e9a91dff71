import { loadConfig, nextScheduledRun, Secret } from '../../src/config';
import { ConfigError } from '../../src/errors';

const CLIENT_ID = '11111111-2222-3333-4444-555555555555';
const base = {
  APP_CLIENT_ID: CLIENT_ID,
  KEY_VAULT_URL: 'https://contoso-vault.vault.azure.net/',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
};

function problemsOf(env: Record<string, string | undefined>, purpose?: 'crawl' | 'consent'): string[] {
  try {
    loadConfig(env, purpose);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the defaults of the contract', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      appClientId: CLIENT_ID,
      appCredential: {
        kind: 'secret',
        vault: { url: 'https://contoso-vault.vault.azure.net/', anyHost: false },
        secretName: 'graph-app-client-secret',
      },
      authorityHost: 'https://login.microsoftonline.com',
      authorityIsPublicCloud: true,
      graphEndpoint: 'https://graph.microsoft.com',
      crawlSchedule: '0 0 */6 * * *',
      isvName: 'DriveCrawler',
      port: 7071,
      consentRedirectUri: undefined,
    });
    expect(config.storage.kind).toBe('connectionString');
  });

  it('names every missing required setting in one error', () => {
    const problems = problemsOf({});
    expect(problems.join('\n')).toMatch(/APP_CLIENT_ID is required/);
    expect(problems.join('\n')).toMatch(/KEY_VAULT_URL is required/);
    expect(problems.join('\n')).toMatch(/AzureWebJobsStorage is required/);
    expect(problems).toHaveLength(3);
  });

  it('puts every problem in the message of one ConfigError', () => {
    expect(() => loadConfig({ ...base, APP_CLIENT_ID: 'nope', PORT: 'x' })).toThrow(
      /APP_CLIENT_ID must be a GUID[\s\S]*PORT must be a whole number/,
    );
  });

  it('refuses an APP_CLIENT_ID that is not a GUID', () => {
    expect(problemsOf({ ...base, APP_CLIENT_ID: 'contoso' })).toEqual(['APP_CLIENT_ID must be a GUID']);
  });

  it('refuses a Key Vault URL that is not https', () => {
    expect(problemsOf({ ...base, KEY_VAULT_URL: 'http://vault.local/' })).toEqual([
      'KEY_VAULT_URL must use https',
    ]);
    expect(problemsOf({ ...base, KEY_VAULT_URL: 'vault' })).toContain(
      'KEY_VAULT_URL must be an absolute URL',
    );
  });

  it('refuses a vault that is not a Key Vault host unless KEY_VAULT_ANY_HOST=true says it is a simulator', () => {
    const local = { ...base, KEY_VAULT_URL: 'https://127.0.0.1:8443/' };
    expect(problemsOf(local)).toEqual([expect.stringMatching(/^KEY_VAULT_URL must be a Key Vault host/)]);
    expect(problemsOf({ ...base, KEY_VAULT_URL: 'https://vault.azure.net.evil.example/' })).toHaveLength(1);
    expect(loadConfig({ ...local, KEY_VAULT_ANY_HOST: 'true' }).appCredential).toMatchObject({
      vault: { anyHost: true },
    });
    expect(
      loadConfig({ ...base, KEY_VAULT_URL: 'https://x.vault.usgovcloudapi.net/' }).appCredential,
    ).toMatchObject({ vault: { anyHost: false } });
    expect(problemsOf({ ...local, KEY_VAULT_ANY_HOST: 'yes' })).toContain(
      'KEY_VAULT_ANY_HOST must be true or false',
    );
  });

  it('reads CRAWL_LOG_LEVEL (warn by default) and refuses other values', () => {
    expect(loadConfig(base).crawlLogLevel).toBe('warn');
    expect(loadConfig({ ...base, CRAWL_LOG_LEVEL: 'info' }).crawlLogLevel).toBe('info');
    expect(problemsOf({ ...base, CRAWL_LOG_LEVEL: 'debug' })).toEqual([
      'CRAWL_LOG_LEVEL must be info or warn',
    ]);
  });

  it('reads CRAWL_SCOPE (root by default) and refuses other values', () => {
    expect(loadConfig(base).crawlScope).toBe('root');
    expect(loadConfig({ ...base, CRAWL_SCOPE: 'drive' }).crawlScope).toBe('drive');
    expect(problemsOf({ ...base, CRAWL_SCOPE: 'folder' })).toEqual(['CRAWL_SCOPE must be root or drive']);
  });

  it('refuses a secret name Key Vault would not accept', () => {
    expect(problemsOf({ ...base, APP_CLIENT_SECRET_NAME: 'bad_name!' })[0]).toMatch(/APP_CLIENT_SECRET_NAME/);
    expect(loadConfig({ ...base, APP_CLIENT_SECRET_NAME: 'other-secret' }).appCredential).toMatchObject({
      secretName: 'other-secret',
    });
  });

  it('requires CONSENT_REDIRECT_URI and HOME_TENANT_ID only for the consent routes', () => {
    expect(problemsOf(base, 'crawl')).toEqual([]);
    expect(problemsOf(base, 'consent')).toEqual([
      expect.stringMatching(/CONSENT_REDIRECT_URI is required/),
      expect.stringMatching(/HOME_TENANT_ID is required/),
    ]);
    const uri = 'https://app.azurewebsites.net/api/consent/callback';
    const home = 'AAAAAAAA-0000-4000-8000-000000000001';
    const config = loadConfig({ ...base, CONSENT_REDIRECT_URI: uri, HOME_TENANT_ID: home }, 'consent');
    expect(config).toMatchObject({
      consentRedirectUri: uri,
      homeTenantId: home.toLowerCase(),
      onboarding: 'invite',
    });
  });

  it('takes ONBOARDING invite or open, and HOME_TENANT_ID only as a GUID', () => {
    expect(loadConfig({ ...base, ONBOARDING: 'open' }).onboarding).toBe('open');
    expect(problemsOf({ ...base, ONBOARDING: 'anyone', HOME_TENANT_ID: 'contoso.com' })).toEqual([
      'ONBOARDING must be invite or open',
      "HOME_TENANT_ID must be a GUID (the tenant ID of the ISV's own organization)",
    ]);
  });

  it('accepts a plain http redirect URI only on loopback', () => {
    expect(
      problemsOf({ ...base, CONSENT_REDIRECT_URI: 'http://127.0.0.1:7071/api/consent/callback' }),
    ).toEqual([]);
    expect(problemsOf({ ...base, CONSENT_REDIRECT_URI: 'http://example.com/api/consent/callback' })).toEqual([
      'CONSENT_REDIRECT_URI must use https (plain http only on loopback)',
    ]);
  });

  it('takes AUTHORITY_HOST and GRAPH_ENDPOINT as https host roots and notices a non-public authority', () => {
    const config = loadConfig({
      ...base,
      AUTHORITY_HOST: 'https://127.0.0.1:8443/',
      GRAPH_ENDPOINT: 'https://127.0.0.1:8443',
    });
    expect(config.authorityHost).toBe('https://127.0.0.1:8443');
    expect(config.authorityIsPublicCloud).toBe(false);
    expect(config.graphEndpoint).toBe('https://127.0.0.1:8443');
    expect(problemsOf({ ...base, GRAPH_ENDPOINT: 'https://graph.microsoft.com/v1.0' })[0]).toMatch(
      /host root/,
    );
    expect(problemsOf({ ...base, AUTHORITY_HOST: 'http://login.local' })).toEqual([
      'AUTHORITY_HOST must use https',
    ]);
  });

  it('accepts identity-based storage by account name or by service URIs', () => {
    const byName = loadConfig({
      APP_CLIENT_ID: CLIENT_ID,
      KEY_VAULT_URL: base.KEY_VAULT_URL,
      AzureWebJobsStorage__accountName: 'crawlerstore',
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: 'abc',
    });
    expect(byName.storage).toEqual({
      kind: 'identity',
      tableServiceUri: 'https://crawlerstore.table.core.windows.net',
      queueServiceUri: 'https://crawlerstore.queue.core.windows.net',
      credential: 'managedidentity',
      clientId: 'abc',
    });
    const byUri = loadConfig({
      APP_CLIENT_ID: CLIENT_ID,
      KEY_VAULT_URL: base.KEY_VAULT_URL,
      AzureWebJobsStorage__tableServiceUri: 'https://s.table.core.windows.net',
      AzureWebJobsStorage__queueServiceUri: 'https://s.queue.core.windows.net',
    });
    expect(byUri.storage).toMatchObject({
      kind: 'identity',
      tableServiceUri: 'https://s.table.core.windows.net',
    });
  });

  it('refuses storage given as only one service URI or as a bad connection string', () => {
    expect(
      problemsOf({
        APP_CLIENT_ID: CLIENT_ID,
        KEY_VAULT_URL: base.KEY_VAULT_URL,
        AzureWebJobsStorage__tableServiceUri: 'https://s.table.core.windows.net',
      })[0],
    ).toMatch(/AzureWebJobsStorage is required/);
    expect(problemsOf({ ...base, AzureWebJobsStorage: 'not a connection string' })[0]).toMatch(
      /must be a storage connection string/,
    );
  });

  it('keeps the storage connection string out of logs', () => {
    const config = loadConfig({ ...base, AzureWebJobsStorage: 'AccountName=a;AccountKey=c2VjcmV0' });
    expect(JSON.stringify(config)).not.toContain('c2VjcmV0');
    expect(String(config.storage.kind === 'connectionString' && config.storage.connectionString)).toBe(
      '[redacted]',
    );
    expect(new Secret('x').reveal()).toBe('x');
  });

  it('requires a six-field NCRONTAB schedule', () => {
    expect(problemsOf({ ...base, CRAWL_SCHEDULE: '0 */6 * * *' })[0]).toMatch(/6 fields/);
    expect(problemsOf({ ...base, CRAWL_SCHEDULE: '0 0 */6 * * * *' })[0]).toMatch(/6 fields/);
    expect(problemsOf({ ...base, CRAWL_SCHEDULE: '0 0 99 * * *' })[0]).toMatch(/CRAWL_SCHEDULE/);
    expect(loadConfig({ ...base, CRAWL_SCHEDULE: '0 30 2 * * *' }).crawlSchedule).toBe('0 30 2 * * *');
  });

  it('restricts ISV_NAME to what fits in a User-Agent product token', () => {
    expect(problemsOf({ ...base, ISV_NAME: 'Contoso|Evil' })[0]).toMatch(/ISV_NAME/);
    expect(problemsOf({ ...base, ISV_NAME: 'a\r\nX-Injected: 1' })[0]).toMatch(/ISV_NAME/);
    expect(loadConfig({ ...base, ISV_NAME: 'Contoso Ltd' }).isvName).toBe('Contoso Ltd');
  });

  it('validates PORT', () => {
    expect(problemsOf({ ...base, PORT: '70000' })).toEqual(['PORT must be a whole number from 1 to 65535']);
    expect(loadConfig({ ...base, PORT: '8080' }).port).toBe(8080);
  });

  it('treats empty settings as unset', () => {
    expect(loadConfig({ ...base, ISV_NAME: '', CRAWL_SCHEDULE: '  ' }).isvName).toBe('DriveCrawler');
  });
});

describe('nextScheduledRun', () => {
  it('computes the next firing in UTC', () => {
    expect(nextScheduledRun('0 0 */6 * * *', new Date('2026-11-25T07:15:00Z')).toISOString()).toBe(
      '2026-11-25T12:00:00.000Z',
    );
  });
});
