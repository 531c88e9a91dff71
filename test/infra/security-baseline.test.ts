import { readFileSync } from 'node:fs';
import path from 'node:path';
import { QUEUES } from '../../src/storage/storage-clients';
import type { ArmResource, JsonRecord, TemplateScope } from './arm-template';
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
import { BICEP_TIMEOUT_MS, findBicep, MAIN_BICEP, REPO_ROOT, runBicep } from './bicep-cli';

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

/** Roles nobody in this template may hold: management roles, and data roles broader than a reader or writer needs. */
const FORBIDDEN_ROLES: [string, string][] = [
  ['Owner', '8e3af657-a8ff-443c-a75c-2fe8c4bcb635'],
  ['Contributor', 'b24988ac-6180-42a0-ab88-20f7382dd24c'],
  ['User Access Administrator', '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9'],
  ['Role Based Access Control Administrator', 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'],
  ['Storage Account Contributor', '17d1049b-9a84-46fb-8f53-869881c3d3ab'],
  ['Key Vault Administrator', '00482a5a-887f-4fb3-b363-3b7fe8e74483'],
  ['Key Vault Contributor', 'f25e0fa2-a7c8-4377-a976-54943a77a395'],
];

const STORAGE_ACCOUNT = 'Microsoft.Storage/storageAccounts';
const QUEUE = 'Microsoft.Storage/storageAccounts/queueServices/queues';
const CONTAINER = 'Microsoft.Storage/storageAccounts/blobServices/containers';
const VAULT = 'Microsoft.KeyVault/vaults';
const APP_INSIGHTS = 'Microsoft.Insights/components';

/**
 * Every role assignment of the template: [role name, role ID, who, scope type]. docs/deploy.md ("Security baseline")
 * gives the reason for each; the identity's queue role is one assignment per queue (a loop over `queueNames`).
 */
const EXPECTED_ROLES: [string, string, 'identity' | 'deployer', string][] = [
  ['Storage Blob Data Owner', ROLE.storageBlobDataOwner, 'identity', STORAGE_ACCOUNT],
  ['Storage Queue Data Contributor', ROLE.storageQueueDataContributor, 'identity', QUEUE],
  ['Storage Table Data Contributor', ROLE.storageTableDataContributor, 'identity', STORAGE_ACCOUNT],
  ['Key Vault Secrets User', ROLE.keyVaultSecretsUser, 'identity', VAULT],
  ['Monitoring Metrics Publisher', ROLE.monitoringMetricsPublisher, 'identity', APP_INSIGHTS],
  ['Key Vault Secrets Officer', ROLE.keyVaultSecretsOfficer, 'deployer', VAULT],
  ['Storage Blob Data Contributor', ROLE.storageBlobDataContributor, 'deployer', CONTAINER],
];

/** The queues the code uses (src/storage/storage-clients.ts), each with its poison queue and that one's own. */
const CODE_QUEUES = Object.values(QUEUES).flatMap((name) => [
  name,
  `${name}-poison`,
  `${name}-poison-poison`,
]);

const STORAGE_LOG_CATEGORIES = ['StorageRead', 'StorageWrite', 'StorageDelete'];
const DIAGNOSTICS_TYPE = 'Microsoft.Insights/diagnosticSettings';

const IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

/** The settings of docs/contract.md that a deployment sets (PORT and the connection-string and secret forms excepted). */
const CONTRACT_SETTINGS = [
  'APP_CLIENT_ID',
  'KEY_VAULT_URL',
  'APP_CLIENT_SECRET_NAME',
  'CONSENT_REDIRECT_URI',
  'HOME_TENANT_ID',
  'ONBOARDING',
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
  /** The scope as compiled, in its template's terms. */
  scope: unknown;
  principalId: unknown;
  principalType: unknown;
  condition: unknown;
  /** `copy.count` of a loop, undefined for a single assignment. */
  copyCount: unknown;
  resource: ArmResource;
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
      scope: assignment.body.scope,
      principalId: resolveInRoot(props(assignment, 'principalId'), assignment.scope),
      principalType: props(assignment, 'principalType'),
      condition: assignment.body.condition,
      copyCount: valueAt(assignment.body, 'copy', 'count'),
      resource: assignment,
    };
  });
}

/** Who an assignment is for: the site's identity, the deployer parameter, or something else. */
function principalOf(assignment: RoleAssignment): 'identity' | 'deployer' | 'other' {
  if (identityRefIn(assignment.principalId) === siteIdentityRef()) return 'identity';
  if (assignment.principalId === "[parameters('deployerPrincipalId')]") return 'deployer';
  return 'other';
}

/** A value that is `[variables('x')]` replaced by that variable's value in its template (arrays and objects too). */
function variableValue(value: unknown, scope: TemplateScope): unknown {
  const name = typeof value === 'string' ? /^\[variables\('([^']+)'\)\]$/.exec(value)?.[1] : undefined;
  return name === undefined ? value : valueAt(scope.template, 'variables', name);
}

/** The value a nested template's parameter receives, followed up to a root variable or parameter default. */
function passedValue(scope: TemplateScope, parameter: string): unknown {
  const passed = valueAt(scope.passedParameters, parameter, 'value');
  return scope.parent ? variableValue(passed, scope.parent) : passed;
}

function diagnosticSettings(): ArmResource[] {
  return resourcesOfType(resources, DIAGNOSTICS_TYPE);
}

function diagnosticsOn(scopeType: string): ArmResource {
  const matches = diagnosticSettings().filter(
    (setting) => scopeResourceType(setting.body.scope) === scopeType,
  );
  if (matches.length !== 1) {
    throw new Error(`Expected one diagnostic setting on ${scopeType}, found ${String(matches.length)}`);
  }
  return matches[0]!;
}

/** Enabled categories of a diagnostic setting's `logs` or `metrics`, sorted. */
function enabledCategories(setting: ArmResource, kind: 'logs' | 'metrics'): string[] {
  const list = variableValue(props(setting, kind), setting.scope);
  if (!Array.isArray(list)) throw new Error(`${kind} of ${setting.name} is not a list`);
  return list
    .filter((entry) => isRecord(entry) && entry.enabled === true)
    .map((entry) => (isRecord(entry) ? (entry.category ?? entry.categoryGroup) : undefined))
    .filter((category): category is string => typeof category === 'string')
    .sort();
}

/** Expects a diagnostic setting to send to the Log Analytics workspace of the monitoring module, and nowhere else. */
function expectSentToTheWorkspace(setting: ArmResource): void {
  const workspace = only('Microsoft.OperationalInsights/workspaces');
  expect(valueAt(workspace.scope.template, 'outputs', 'workspaceId', 'value')).toBe(
    `[resourceId('Microsoft.OperationalInsights/workspaces', ${workspace.name.slice(1, -1)})]`,
  );
  expect(resolveInRoot(props(setting, 'workspaceId'), setting.scope)).toMatch(
    new RegExp(
      `^\\[reference\\(resourceId\\('Microsoft\\.Resources/deployments', '${workspace.scope.deploymentName}'\\), '[^']+'\\)\\.outputs\\.workspaceId\\.value\\]$`,
    ),
  );
  for (const elsewhere of [
    'storageAccountId',
    'eventHubAuthorizationRuleId',
    'eventHubName',
    'marketplacePartnerId',
  ]) {
    expect(props(setting, elsewhere)).toBeUndefined();
  }
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

    test('keeps deleted and overwritten blobs restorable for the retention days, permanent delete off', () => {
      const blobService = only('Microsoft.Storage/storageAccounts/blobServices');
      const policy = props(blobService, 'deleteRetentionPolicy');
      expect(valueAt(policy, 'enabled')).toBe(true);
      expect(valueAt(policy, 'allowPermanentDelete')).toBe(false);
      expect(resolveInRoot(valueAt(policy, 'days'), blobService.scope)).toBe(
        "[parameters('storageSoftDeleteRetentionDays')]",
      );
    });

    test('keeps deleted containers restorable for the retention days', () => {
      const blobService = only('Microsoft.Storage/storageAccounts/blobServices');
      const policy = props(blobService, 'containerDeleteRetentionPolicy');
      expect(valueAt(policy, 'enabled')).toBe(true);
      expect(resolveInRoot(valueAt(policy, 'days'), blobService.scope)).toBe(
        "[parameters('storageSoftDeleteRetentionDays')]",
      );
    });

    test('keeps soft-deleted blobs and containers for 7 days by default, at least 1', () => {
      const parameter = valueAt(root, 'parameters', 'storageSoftDeleteRetentionDays');
      expect(valueAt(parameter, 'type')).toBe('int');
      expect(valueAt(parameter, 'defaultValue')).toBe(7);
      expect(valueAt(parameter, 'minValue')).toBe(1);
      expect(valueAt(parameter, 'maxValue')).toBe(365);
    });

    test('has no hierarchical namespace and no blob versions, so Blob Data Owner adds nothing to erase with', () => {
      expect(props(only('Microsoft.Storage/storageAccounts'), 'isHnsEnabled')).toBe(false);
      expect(props(only('Microsoft.Storage/storageAccounts/blobServices'), 'isVersioningEnabled')).toBe(
        false,
      );
    });

    test('declares every queue the code uses, with its poison queues', () => {
      const queues = only(QUEUE);
      expect(valueAt(queues.body, 'copy', 'count')).toBe("[length(parameters('queueNames'))]");
      expect(queues.name).toMatch(/parameters\('queueNames'\)\[copyIndex\(\)\]\)\]$/);
      expect(passedValue(queues.scope, 'queueNames')).toEqual(CODE_QUEUES);
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

    test('authorizes with Azure RBAC only, with no access policy', () => {
      expect(props(only('Microsoft.KeyVault/vaults'), 'accessPolicies')).toBeUndefined();
      expect(resourcesOfType(resources, 'Microsoft.KeyVault/vaults/accessPolicies')).toEqual([]);
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

  describe('diagnostic settings', () => {
    test('exist on the vault and on the blob, queue and table services, and nowhere else', () => {
      expect(
        diagnosticSettings()
          .map((setting) => scopeResourceType(setting.body.scope))
          .sort(),
      ).toEqual([
        VAULT,
        'Microsoft.Storage/storageAccounts/blobServices',
        'Microsoft.Storage/storageAccounts/queueServices',
        'Microsoft.Storage/storageAccounts/tableServices',
      ]);
    });

    test('send the Key Vault audit events to the Log Analytics workspace', () => {
      const setting = diagnosticsOn(VAULT);
      expect(enabledCategories(setting, 'logs')).toEqual(['AuditEvent']);
      expect(enabledCategories(setting, 'metrics')).toEqual(['AllMetrics']);
      expectSentToTheWorkspace(setting);
    });

    test.each(['blobServices', 'queueServices', 'tableServices'])(
      'send the reads, writes and deletes of the storage %s to the Log Analytics workspace',
      (service) => {
        const setting = diagnosticsOn(`Microsoft.Storage/storageAccounts/${service}`);
        expect(enabledCategories(setting, 'logs')).toEqual([...STORAGE_LOG_CATEGORIES].sort());
        expect(enabledCategories(setting, 'metrics')).toEqual(['Transaction']);
        expectSentToTheWorkspace(setting);
      },
    );

    test('keep the workspace retaining what they send for 30 days', () => {
      expect(props(only('Microsoft.OperationalInsights/workspaces'), 'retentionInDays')).toBe(30);
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

    test("refuses the deployment's own tenant as a customer and onboards by invitation unless told otherwise", () => {
      expect(setting('HOME_TENANT_ID').value).toMatch(/parameters\('homeTenantId'\)/);
      expect(valueAt(root, 'parameters', 'homeTenantId', 'defaultValue')).toBe('[tenant().tenantId]');
      expect(setting('ONBOARDING').value).toMatch(/parameters\('onboarding'\)/);
      expect(valueAt(root, 'parameters', 'onboarding', 'defaultValue')).toBe('invite');
      expect(valueAt(root, 'parameters', 'onboarding', 'allowedValues')).toEqual(['invite', 'open']);
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
    test('assign exactly the roles of docs/deploy.md, each to its principal at its scope', () => {
      const actual = roleAssignments()
        .map((assignment) => [assignment.roleId, principalOf(assignment), assignment.scopeType].join(' '))
        .sort();
      const expected = EXPECTED_ROLES.map(([, roleId, who, scopeType]) =>
        [roleId, who, scopeType].join(' '),
      ).sort();
      expect(actual).toEqual(expected);
    });

    test.each(EXPECTED_ROLES.filter(([, , who]) => who === 'identity'))(
      'give the identity %s as a service principal, without a condition',
      (_role, roleId) => {
        const matches = roleAssignments().filter((assignment) => assignment.roleId === roleId);
        expect(matches).toHaveLength(1);
        const [assignment] = matches;
        expect(assignment!.principalType).toBe('ServicePrincipal');
        expect(assignment!.principalId).toMatch(/\.principalId\]$/);
        expect(identityRefIn(assignment!.principalId)).toBe(siteIdentityRef());
        expect(assignment!.condition).toBeUndefined();
      },
    );

    test.each(EXPECTED_ROLES.filter(([, , who]) => who === 'deployer'))(
      'give the deployer %s only when there is a deployer',
      (_role, roleId) => {
        const matches = roleAssignments().filter((assignment) => assignment.roleId === roleId);
        expect(matches).toHaveLength(1);
        const [assignment] = matches;
        expect(assignment!.principalId).toBe("[parameters('deployerPrincipalId')]");
        expect(assignment!.principalType).toMatch(/deployerPrincipalType/);
        expect(assignment!.condition).toMatch(/deployerPrincipalId/);
      },
    );

    test('give the identity Storage Queue Data Contributor on each queue the code uses, not on the account', () => {
      const [assignment] = roleAssignments().filter(
        (candidate) => candidate.roleId === ROLE.storageQueueDataContributor,
      );
      expect(assignment!.copyCount).toBe("[length(parameters('queueNames'))]");
      expect(assignment!.scope).toBe(
        `[resourceId('${QUEUE}', parameters('storageAccountName'), 'default', parameters('queueNames')[copyIndex()])]`,
      );
      expect(passedValue(assignment!.resource.scope, 'queueNames')).toEqual(CODE_QUEUES);
    });

    test('give the deployer Storage Blob Data Contributor on the deployment container the app reads from', () => {
      const [assignment] = roleAssignments().filter(
        (candidate) => candidate.roleId === ROLE.storageBlobDataContributor,
      );
      expect(assignment!.scope).toBe(
        `[resourceId('${CONTAINER}', parameters('storageAccountName'), 'default', parameters('deploymentContainerName'))]`,
      );
      const site = only('Microsoft.Web/sites');
      expect(props(site, 'functionAppConfig', 'deployment', 'storage', 'value')).toMatch(
        /parameters\('deploymentContainerName'\)\)\]$/,
      );
      expect(passedValue(assignment!.resource.scope, 'deploymentContainerName')).toBe('app-package');
      expect(passedValue(site.scope, 'deploymentContainerName')).toMatch(
        /outputs\.deploymentContainerName\.value/,
      );
    });

    test.each(FORBIDDEN_ROLES)('never assign %s', (_role, roleId) => {
      expect(roleAssignments().filter((assignment) => assignment.roleId === roleId)).toEqual([]);
    });

    test('name every role by a literal built-in definition ID', () => {
      for (const assignment of roleAssignments()) expect(assignment.roleId).toMatch(/^[0-9a-f-]{36}$/);
    });

    test('scope every role assignment to a resource, never the resource group', () => {
      for (const assignment of roleAssignments()) {
        expect(assignment.scopeType).toMatch(/^Microsoft\.\w+\/\w+/);
      }
    });

    test('are listed in docs/deploy.md with their definition IDs', () => {
      const docs = readFileSync(path.join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
      for (const [name, roleId] of EXPECTED_ROLES) {
        expect(docs).toMatch(new RegExp(`\\| ${name} +\\| \`${roleId}\` +\\|`));
      }
    });
  });

  describe('rate limit', () => {
    test('main.bicep marks where a rate limit in front of the app goes, and docs/deploy.md says how', () => {
      const mainBicep = readFileSync(MAIN_BICEP, 'utf8');
      expect(mainBicep).toMatch(/^\/\/ RATE LIMIT IN FRONT OF THE APP: not deployed; this is where it goes/m);
      expect(mainBicep).toMatch(/RateLimitRule/);
      expect(mainBicep).toMatch(/rate-limit-by-key/);
      const docs = readFileSync(path.join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
      expect(docs).toMatch(/^## A rate limit in front of the consent routes$/m);
      expect(docs).toMatch(/RATE LIMIT IN FRONT OF THE APP/);
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
        'CONSENT_LANDING_URL',
        'CONSENT_REDIRECT_URI',
      ]);
      expect(valueAt(root, 'outputs', 'CONSENT_REDIRECT_URI', 'value')).toMatch(/consentRedirectUri/);
      expect(valueAt(root, 'outputs', 'CONSENT_LANDING_URL', 'value')).toMatch(/consentLandingUrl/);
    });

    test('tells a secret-like name from a vault name', () => {
      expect(
        ['clientSecret', 'storageKey', 'APPINSIGHTS_CONNECTION_STRING', 'connectionString'].map(namesASecret),
      ).toEqual([true, true, true, true]);
      expect(['AZURE_KEY_VAULT_NAME', 'keyVaultUrl', 'CONSENT_LANDING_URL'].map(namesASecret)).toEqual([
        false,
        false,
        false,
      ]);
    });
  });
});
