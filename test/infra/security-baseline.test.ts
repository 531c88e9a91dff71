import type { ArmResource, JsonRecord } from './arm-template';
import {
  allResources,
  allStrings,
  isRecord,
  resolveInRoot,
  resourceIdCall,
  resourcesOfType,
  scopeResourceType,
  templateScopes,
  valueAt,
} from './arm-template';
import { BICEP_TIMEOUT_MS, findBicep, MAIN_BICEP, runBicep } from './bicep-cli';

/** Built-in role definition IDs (docs/deploy.md, "Built-in role definition IDs"). */
const ROLE = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
} as const;

const IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

/** The settings of docs/contract.md that a deployment sets (PORT and the connection-string and secret forms excepted). */
const CONTRACT_SETTINGS = [
  'APP_CLIENT_ID',
  'KEY_VAULT_URL',
  'APP_CLIENT_SECRET_NAME',
  'CONSENT_REDIRECT_URI',
  'AUTHORITY_HOST',
  'GRAPH_ENDPOINT',
  'CRAWL_SCHEDULE',
  'ISV_NAME',
  'AZURE_TOKEN_CREDENTIALS',
  'AZURE_CLIENT_ID',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
] as const;

/** Settings that Flex Consumption rejects or that would carry a key. */
const FORBIDDEN_SETTINGS = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'AzureWebJobsStorage',
  'APPINSIGHTS_INSTRUMENTATIONKEY',
  'AZURE_CLIENT_SECRET',
] as const;

const bicep = findBicep();

interface AppSetting {
  value: unknown;
  /** The value rewritten into the root template's terms. */
  resolved: unknown;
}

interface RoleAssignment {
  roleId: string | undefined;
  scopeType: string | undefined;
  principalId: unknown;
  principalType: unknown;
  condition: unknown;
}

let root: JsonRecord;
let resources: ArmResource[];

function only(type: string): ArmResource {
  const matches = resourcesOfType(resources, type);
  if (matches.length !== 1) throw new Error(`Expected one ${type}, found ${String(matches.length)}`);
  return matches[0]!;
}

function props(resource: ArmResource, ...keys: string[]): unknown {
  return valueAt(resource.body, 'properties', ...keys);
}

/** App settings from `sites/config` `appsettings` resources and from any site's `siteConfig.appSettings`. */
function appSettings(): Map<string, AppSetting> {
  const settings = new Map<string, AppSetting>();
  for (const config of resourcesOfType(resources, 'Microsoft.Web/sites/config')) {
    if (!config.name.includes('appsettings')) continue;
    const values = config.body.properties;
    if (!isRecord(values)) continue;
    for (const [name, value] of Object.entries(values)) {
      settings.set(name, { value, resolved: resolveInRoot(value, config.scope) });
    }
  }
  for (const site of resourcesOfType(resources, 'Microsoft.Web/sites')) {
    const list = props(site, 'siteConfig', 'appSettings');
    if (!Array.isArray(list)) continue;
    for (const entry of list) {
      if (isRecord(entry) && typeof entry.name === 'string') {
        settings.set(entry.name, { value: entry.value, resolved: resolveInRoot(entry.value, site.scope) });
      }
    }
  }
  return settings;
}

function setting(name: string): AppSetting {
  const found = appSettings().get(name);
  if (!found) throw new Error(`App setting ${name} is not set`);
  return found;
}

function roleAssignments(): RoleAssignment[] {
  return resourcesOfType(resources, 'Microsoft.Authorization/roleAssignments').map((assignment) => {
    const roleDefinitionId = props(assignment, 'roleDefinitionId');
    const roleId =
      typeof roleDefinitionId === 'string'
        ? /roleDefinitions',\s*'([0-9a-f-]{36})'/i.exec(roleDefinitionId)?.[1]?.toLowerCase()
        : undefined;
    return {
      roleId,
      scopeType: scopeResourceType(assignment.body.scope),
      principalId: resolveInRoot(props(assignment, 'principalId'), assignment.scope),
      principalType: props(assignment, 'principalType'),
      condition: assignment.body.condition,
    };
  });
}

/** The identity a site runs as, as a normalized `resourceId(...)` call in the root's terms. */
function siteIdentityRef(): string {
  const site = only('Microsoft.Web/sites');
  const identities = valueAt(site.body, 'identity', 'userAssignedIdentities');
  const keys = isRecord(identities) ? Object.keys(identities) : [];
  expect(keys).toHaveLength(1);
  const resolved = resolveInRoot(keys[0], site.scope);
  const ref = typeof resolved === 'string' ? resourceIdCall(resolved, IDENTITY_TYPE) : undefined;
  if (!ref) throw new Error('The site names no user-assigned identity');
  return ref;
}

function identityRefIn(value: unknown): string | undefined {
  return typeof value === 'string' ? resourceIdCall(value, IDENTITY_TYPE) : undefined;
}

/** Words of a camelCase, snake_case or kebab-case name, lower-cased. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word !== '')
    .map((word) => word.toLowerCase());
}

/** True for a name that says it holds a secret: secret, password, key (but not "key vault"), connection string... */
function namesASecret(name: string): boolean {
  const parts = words(name);
  return parts.some((word, index) => {
    if (
      ['secret', 'secrets', 'password', 'pwd', 'token', 'sas', 'credential', 'credentials'].includes(word)
    ) {
      return true;
    }
    if (word === 'key' || word === 'keys') return parts[index + 1] !== 'vault';
    if (word === 'connection' && parts[index + 1] === 'string') return true;
    return word === 'connectionstring';
  });
}

(bicep ? describe : describe.skip)('infra/main.bicep compiled to ARM', () => {
  beforeAll(async () => {
    const run = await runBicep(bicep!, ['build', MAIN_BICEP, '--stdout']);
    if (run.exitCode !== 0) throw new Error(`bicep build failed:\n${run.stderr}`);
    const parsed: unknown = JSON.parse(run.stdout);
    if (!isRecord(parsed)) throw new Error('bicep build printed no JSON object');
    root = parsed;
    resources = allResources(root);
  }, BICEP_TIMEOUT_MS);

  test('finds the resources of the nested deployments', () => {
    expect(templateScopes(root).length).toBeGreaterThan(1);
    expect(resourcesOfType(resources, 'Microsoft.Web/sites')).toHaveLength(1);
  });

  describe('storage account', () => {
    test('turns shared key access off', () => {
      expect(props(only('Microsoft.Storage/storageAccounts'), 'allowSharedKeyAccess')).toBe(false);
    });

    test('turns public blob access off', () => {
      expect(props(only('Microsoft.Storage/storageAccounts'), 'allowBlobPublicAccess')).toBe(false);
    });

    test('requires TLS 1.2', () => {
      expect(props(only('Microsoft.Storage/storageAccounts'), 'minimumTlsVersion')).toBe('TLS1_2');
    });

    test('accepts HTTPS only', () => {
      expect(props(only('Microsoft.Storage/storageAccounts'), 'supportsHttpsTrafficOnly')).toBe(true);
    });

    test('keeps every blob container private', () => {
      const containers = resourcesOfType(
        resources,
        'Microsoft.Storage/storageAccounts/blobServices/containers',
      );
      expect(containers.length).toBeGreaterThan(0);
      for (const container of containers) expect(props(container, 'publicAccess')).toBe('None');
    });
  });

  describe('Key Vault', () => {
    test('authorizes with Azure RBAC', () => {
      expect(props(only('Microsoft.KeyVault/vaults'), 'enableRbacAuthorization')).toBe(true);
    });

    test('keeps soft delete on', () => {
      expect(props(only('Microsoft.KeyVault/vaults'), 'enableSoftDelete')).toBe(true);
    });

    test('keeps purge protection on', () => {
      expect(props(only('Microsoft.KeyVault/vaults'), 'enablePurgeProtection')).toBe(true);
    });

    test('takes its name from the environment and a seed that a redeployment can renew', () => {
      const vault = only('Microsoft.KeyVault/vaults');
      const name = resolveInRoot(vault.name, vault.scope);

      expect(name).toEqual(expect.stringContaining('uniqueString('));
      expect(name).toEqual(expect.stringContaining("parameters('environmentName')"));
      expect(name).toEqual(expect.stringContaining("parameters('keyVaultNameSeed')"));
    });
  });

  describe('monitoring', () => {
    test('turns local authentication off on Application Insights', () => {
      expect(props(only('Microsoft.Insights/components'), 'DisableLocalAuth')).toBe(true);
    });

    test('turns local authentication off on the Log Analytics workspace', () => {
      expect(props(only('Microsoft.OperationalInsights/workspaces'), 'features', 'disableLocalAuth')).toBe(
        true,
      );
    });
  });

  describe('Function App', () => {
    test('runs on a Flex Consumption plan', () => {
      const plan = only('Microsoft.Web/serverfarms');
      expect(valueAt(plan.body, 'sku')).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
      expect(only('Microsoft.Web/sites').body.kind).toBe('functionapp,linux');
    });

    test('runs Node 22', () => {
      expect(props(only('Microsoft.Web/sites'), 'functionAppConfig', 'runtime')).toEqual({
        name: 'node',
        version: '22',
      });
    });

    test('accepts HTTPS only', () => {
      expect(props(only('Microsoft.Web/sites'), 'httpsOnly')).toBe(true);
    });

    test('requires TLS 1.2', () => {
      expect(props(only('Microsoft.Web/sites'), 'siteConfig', 'minTlsVersion')).toBe('1.2');
    });

    test('turns FTP and FTPS off', () => {
      expect(props(only('Microsoft.Web/sites'), 'siteConfig', 'ftpsState')).toBe('Disabled');
    });

    test('turns publishing with user name and password off for FTP and SCM', () => {
      const policies = resourcesOfType(resources, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
      const allowed = new Map(
        policies.map((policy) => [policy.name.match(/'(ftp|scm)'/)?.[1], props(policy, 'allow')]),
      );
      expect(allowed.get('ftp')).toBe(false);
      expect(allowed.get('scm')).toBe(false);
    });

    test('runs as one user-assigned identity and nothing else', () => {
      const site = only('Microsoft.Web/sites');
      expect(valueAt(site.body, 'identity', 'type')).toBe('UserAssigned');
      expect(resourcesOfType(resources, IDENTITY_TYPE)).toHaveLength(1);
      siteIdentityRef();
    });

    test('reads the deployment package with the user-assigned identity', () => {
      const site = only('Microsoft.Web/sites');
      const storage = props(site, 'functionAppConfig', 'deployment', 'storage');
      expect(valueAt(storage, 'type')).toBe('blobContainer');
      expect(valueAt(storage, 'authentication', 'type')).toBe('UserAssignedIdentity');
      const identity = resolveInRoot(
        valueAt(storage, 'authentication', 'userAssignedIdentityResourceId'),
        site.scope,
      );
      expect(identityRefIn(identity)).toBe(siteIdentityRef());
    });
  });

  describe('app settings', () => {
    test.each(CONTRACT_SETTINGS)('sets %s', (name) => {
      const { value } = setting(name);
      expect(typeof value).toBe('string');
      expect(value).not.toBe('');
    });

    test.each(FORBIDDEN_SETTINGS)('does not set %s', (name) => {
      expect(appSettings().has(name)).toBe(false);
    });

    test('pins @azure/identity to the user-assigned managed identity', () => {
      expect(setting('AZURE_TOKEN_CREDENTIALS').value).toBe('ManagedIdentityCredential');
      expect(setting('AZURE_CLIENT_ID').resolved).toMatch(/\.clientId\]$/);
      expect(identityRefIn(setting('AZURE_CLIENT_ID').resolved)).toBe(siteIdentityRef());
    });

    test('connects the host to storage with the managed identity, never a key', () => {
      expect(setting('AzureWebJobsStorage__credential').value).toBe('managedidentity');
      expect(setting('AzureWebJobsStorage__clientId').resolved).toMatch(/\.clientId\]$/);
      expect(identityRefIn(setting('AzureWebJobsStorage__clientId').resolved)).toBe(siteIdentityRef());
      expect(setting('AzureWebJobsStorage__blobServiceUri').value).toMatch(/primaryEndpoints\.blob\]$/);
      expect(setting('AzureWebJobsStorage__queueServiceUri').value).toMatch(/primaryEndpoints\.queue\]$/);
      expect(setting('AzureWebJobsStorage__tableServiceUri').value).toMatch(/primaryEndpoints\.table\]$/);
    });

    test('sends telemetry with an Entra token of the managed identity', () => {
      const auth = setting('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
      expect(auth.value).toMatch(/ClientId=\{0\};Authorization=AAD/);
      expect(identityRefIn(auth.resolved)).toBe(siteIdentityRef());
    });

    test('points KEY_VAULT_URL at the vault it creates', () => {
      expect(setting('KEY_VAULT_URL').resolved).toMatch(/outputs\.vaultUri\.value/);
    });

    test('builds CONSENT_REDIRECT_URI from the site host name outside the site resource', () => {
      const redirect = setting('CONSENT_REDIRECT_URI').value;
      expect(redirect).toMatch(/defaultHostName/);
      expect(redirect).toMatch(/^\[format\('\{0\}\/callback', format\('https:\/\/\{0\}\/api\/consent'/);
      expect(JSON.stringify(only('Microsoft.Web/sites').body)).not.toMatch(/defaultHostName/);
    });

    test('takes APP_CLIENT_ID, ISV_NAME and CRAWL_SCHEDULE from parameters', () => {
      expect(setting('APP_CLIENT_ID').resolved).toBe("[parameters('appClientId')]");
      expect(setting('ISV_NAME').resolved).toMatch(/parameters\('isvName'\)/);
      expect(setting('CRAWL_SCHEDULE').resolved).toMatch(/parameters\('crawlSchedule'\)/);
    });

    test('defaults CRAWL_SCHEDULE to every six hours, also when azd passes an empty value', () => {
      expect(valueAt(root, 'parameters', 'crawlSchedule', 'defaultValue')).toBe('0 0 */6 * * *');
      expect(setting('CRAWL_SCHEDULE').resolved).toBe(
        "[if(empty(parameters('crawlSchedule')), '0 0 */6 * * *', parameters('crawlSchedule'))]",
      );
    });
  });

  describe('role assignments', () => {
    const identityRoles: [string, string, string][] = [
      ['Storage Blob Data Owner', ROLE.storageBlobDataOwner, 'Microsoft.Storage/storageAccounts'],
      [
        'Storage Queue Data Contributor',
        ROLE.storageQueueDataContributor,
        'Microsoft.Storage/storageAccounts',
      ],
      [
        'Storage Table Data Contributor',
        ROLE.storageTableDataContributor,
        'Microsoft.Storage/storageAccounts',
      ],
      ['Key Vault Secrets User', ROLE.keyVaultSecretsUser, 'Microsoft.KeyVault/vaults'],
      ['Monitoring Metrics Publisher', ROLE.monitoringMetricsPublisher, 'Microsoft.Insights/components'],
    ];

    test.each(identityRoles)('gives the identity %s on its resource', (_role, roleId, scopeType) => {
      const matches = roleAssignments().filter((assignment) => assignment.roleId === roleId);
      expect(matches).toHaveLength(1);
      const [assignment] = matches;
      expect(assignment!.scopeType).toBe(scopeType);
      expect(assignment!.principalType).toBe('ServicePrincipal');
      expect(assignment!.principalId).toMatch(/\.principalId\]$/);
      expect(identityRefIn(assignment!.principalId)).toBe(siteIdentityRef());
      expect(assignment!.condition).toBeUndefined();
    });

    const deployerRoles: [string, string, string][] = [
      ['Key Vault Secrets Officer', ROLE.keyVaultSecretsOfficer, 'Microsoft.KeyVault/vaults'],
      [
        'Storage Blob Data Contributor',
        ROLE.storageBlobDataContributor,
        'Microsoft.Storage/storageAccounts/blobServices/containers',
      ],
    ];

    test.each(deployerRoles)(
      'gives the deployer %s on its resource, when there is a deployer',
      (_r, roleId, scope) => {
        const matches = roleAssignments().filter((assignment) => assignment.roleId === roleId);
        expect(matches).toHaveLength(1);
        const [assignment] = matches;
        expect(assignment!.scopeType).toBe(scope);
        expect(assignment!.principalId).toBe("[parameters('deployerPrincipalId')]");
        expect(assignment!.principalType).toMatch(/deployerPrincipalType/);
        expect(assignment!.condition).toMatch(/deployerPrincipalId/);
      },
    );

    test('assigns no other role', () => {
      const expected = [...identityRoles, ...deployerRoles].map(([, roleId]) => roleId).sort();
      expect(
        roleAssignments()
          .map((assignment) => assignment.roleId)
          .sort(),
      ).toEqual(expected);
    });

    test('scopes every role assignment to a resource, never the resource group', () => {
      for (const assignment of roleAssignments())
        expect(assignment.scopeType).toMatch(/^Microsoft\.\w+\/\w+/);
    });
  });

  describe('secrets', () => {
    test('calls no list* function that returns keys or secrets', () => {
      const calls = allStrings(root).filter(({ value }) => /\blist[A-Za-z]*\(/.test(value));
      expect(calls).toEqual([]);
    });

    test('writes no account key, SAS or instrumentation key anywhere', () => {
      const leaks = allStrings(root).filter(({ value }) =>
        /AccountKey=|SharedAccessKey|SharedAccessSignature|[?&]sig=|InstrumentationKey=/i.test(value),
      );
      expect(leaks).toEqual([]);
    });

    test('sends the Application Insights connection string only with Entra authentication', () => {
      expect(setting('APPLICATIONINSIGHTS_CONNECTION_STRING').value).toMatch(/\.ConnectionString\]$/);
      expect(setting('APPLICATIONINSIGHTS_AUTHENTICATION_STRING').value).toMatch(/Authorization=AAD/);
    });

    test('declares no output named like a secret, in any template', () => {
      const names = templateScopes(root).flatMap((scope) => {
        const outputs = scope.template.outputs;
        return isRecord(outputs) ? Object.keys(outputs) : [];
      });
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter(namesASecret)).toEqual([]);
    });

    test('outputs nothing of a secure type', () => {
      for (const scope of templateScopes(root)) {
        const outputs = isRecord(scope.template.outputs) ? Object.values(scope.template.outputs) : [];
        for (const output of outputs) expect(valueAt(output, 'type')).not.toMatch(/^secure/i);
      }
    });

    test('outputs the redirect URI, the consent start URL, and the app and vault names', () => {
      const outputs = valueAt(root, 'outputs');
      expect(Object.keys(isRecord(outputs) ? outputs : {}).sort()).toEqual([
        'AZURE_FUNCTION_APP_NAME',
        'AZURE_KEY_VAULT_NAME',
        'CONSENT_REDIRECT_URI',
        'CONSENT_START_URL',
      ]);
      expect(valueAt(root, 'outputs', 'CONSENT_REDIRECT_URI', 'value')).toMatch(/consentRedirectUri/);
      expect(valueAt(root, 'outputs', 'CONSENT_START_URL', 'value')).toMatch(/consentStartUrl/);
    });

    test('tells a secret-like name from a vault name', () => {
      expect(
        ['clientSecret', 'storageKey', 'APPINSIGHTS_CONNECTION_STRING', 'connectionString'].map(namesASecret),
      ).toEqual([true, true, true, true]);
      expect(['AZURE_KEY_VAULT_NAME', 'keyVaultUrl', 'CONSENT_START_URL'].map(namesASecret)).toEqual([
        false,
        false,
        false,
      ]);
    });
  });
});
