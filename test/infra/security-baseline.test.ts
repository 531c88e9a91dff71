import { readFileSync } from 'node:fs';
import path from 'node:path';
import { QUEUES } from '../../src/storage/storage-clients';
import type { ArmResource, JsonRecord, TemplateScope } from './arm-template';
import {
  allResources,
  allStrings,
  isRecord,
  resolveInRoot,
  resourcesOfType,
  scopeResourceType,
  templateScopes,
  valueAt,
} from './arm-template';
import { BICEP_TIMEOUT_MS, findBicep, MAIN_BICEP, REPO_ROOT, runBicep } from './bicep-cli';
import type { CredentialKind, DeploymentSnapshot, SnapshotRoleAssignment } from './deployment-snapshot';
import {
  appIdentityId,
  appSettingsOf,
  CREDENTIAL_KINDS,
  onlyOf,
  referencedIdOf,
  referencesIn,
  resourcesOf,
  roleAssignmentsOf,
  siteIdentityIds,
  takeSnapshot,
  TARGET,
  TEST_ENVIRONMENT,
  typeOfId,
} from './deployment-snapshot';

/** Built-in role definition IDs (docs/deploy.md, "Built-in role definition IDs"). */
const ROLE = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985',
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

/** The kinds of credential that keep the app's credential in the vault. */
const VAULT_KINDS: readonly CredentialKind[] = ['secret', 'certificate'];

/**
 * Every role assignment of the template: [role name, role ID, who, scope type, the credential kinds that get it].
 * docs/deploy.md ("Security baseline") gives the reason for each; "identity" is the Function App's own identity, and
 * the identity's queue role is one assignment per queue.
 */
const EXPECTED_ROLES: [string, string, 'identity' | 'deployer', string, readonly CredentialKind[]][] = [
  ['Storage Blob Data Owner', ROLE.storageBlobDataOwner, 'identity', STORAGE_ACCOUNT, CREDENTIAL_KINDS],
  ['Storage Queue Data Contributor', ROLE.storageQueueDataContributor, 'identity', QUEUE, CREDENTIAL_KINDS],
  [
    'Storage Table Data Contributor',
    ROLE.storageTableDataContributor,
    'identity',
    STORAGE_ACCOUNT,
    CREDENTIAL_KINDS,
  ],
  ['Key Vault Secrets User', ROLE.keyVaultSecretsUser, 'identity', VAULT, VAULT_KINDS],
  [
    'Monitoring Metrics Publisher',
    ROLE.monitoringMetricsPublisher,
    'identity',
    APP_INSIGHTS,
    CREDENTIAL_KINDS,
  ],
  ['Key Vault Secrets Officer', ROLE.keyVaultSecretsOfficer, 'deployer', VAULT, ['secret']],
  ['Key Vault Certificates Officer', ROLE.keyVaultCertificatesOfficer, 'deployer', VAULT, ['certificate']],
  ['Storage Blob Data Contributor', ROLE.storageBlobDataContributor, 'deployer', CONTAINER, CREDENTIAL_KINDS],
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

/**
 * The settings of docs/contract.md that every deployment sets, whatever its credential kind (PORT and the
 * connection-string and secret forms excepted); app-credential.test.ts pins each kind's own settings.
 */
const CONTRACT_SETTINGS = [
  'APP_CLIENT_ID',
  'APP_CREDENTIAL',
  'CONSENT_REDIRECT_URI',
  'HOME_TENANT_ID',
  'ONBOARDING',
  'AUTHORITY_HOST',
  'GRAPH_ENDPOINT',
  'CRAWL_SCHEDULE',
  'CRAWL_SCOPE',
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
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
] as const;

/**
 * The runtime properties an app setting or an output may read from a resource at deployment (`reference(...)`):
 * identities' IDs, endpoints and names. None is a key or a secret; the Application Insights connection string
 * carries no key that works, since local authentication is off.
 */
const READABLE_PROPERTIES = [
  'clientId',
  'principalId',
  'vaultUri',
  'defaultHostName',
  'primaryEndpoints.blob',
  'primaryEndpoints.queue',
  'primaryEndpoints.table',
  'ConnectionString',
];

/** What a value holding or fetching a secret looks like in a template, a setting or an output. */
const SECRET_VALUE_PATTERNS: [string, RegExp][] = [
  ['a list* call (listKeys, listSecrets, listConnectionStrings...)', /\blist[A-Za-z]*\(/],
  ['a Key Vault reference', /@Microsoft\.KeyVault\(/i],
  ['a read of a Key Vault secret, key or certificate', /\/vaults\/[^/']+\/(secrets|keys|certificates)\b/i],
  ['a getSecret call', /\bgetSecret\(/i],
];

const bicep = findBicep();

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

/** The role assignments a kind's deployment should make, as `<role ID> <who> <scope type>`, sorted. */
function expectedRoleLines(kind: CredentialKind, withDeployer: boolean): string[] {
  return EXPECTED_ROLES.filter(
    ([, , who, , kinds]) => kinds.includes(kind) && (withDeployer || who !== 'deployer'),
  )
    .flatMap(([, roleId, who, scopeType]) =>
      (scopeType === QUEUE ? CODE_QUEUES : ['']).map(() => `${roleId} ${who} ${scopeType}`),
    )
    .sort();
}

/** Who a snapshot's role assignment is for: the app's own identity, the deployer, or something else. */
function whoIn(snapshot: DeploymentSnapshot, assignment: SnapshotRoleAssignment): string {
  if (assignment.principal === appIdentityId(snapshot)) return 'identity';
  if (assignment.principal === TEST_ENVIRONMENT.AZURE_PRINCIPAL_ID) return 'deployer';
  return `other (${String(assignment.principal)})`;
}

function roleLines(snapshot: DeploymentSnapshot): string[] {
  return roleAssignmentsOf(snapshot)
    .map((assignment) => [assignment.roleId, whoIn(snapshot, assignment), assignment.scopeType].join(' '))
    .sort();
}

/** The values of every app setting and every output of a snapshot, with where each is. */
function settingAndOutputValues(snapshot: DeploymentSnapshot): { path: string; value: string }[] {
  return [
    ...allStrings(appSettingsOf(snapshot), ['appsettings']),
    ...allStrings(snapshot.outputs, ['outputs']),
  ];
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
  });

  describe('parameters', () => {
    test("refuse the deployment's own tenant as a customer and onboard by invitation unless told otherwise", () => {
      expect(valueAt(root, 'parameters', 'homeTenantId', 'defaultValue')).toBe('[tenant().tenantId]');
      expect(valueAt(root, 'parameters', 'onboarding', 'defaultValue')).toBe('invite');
      expect(valueAt(root, 'parameters', 'onboarding', 'allowedValues')).toEqual(['invite', 'open']);
    });

    test('default CRAWL_SCHEDULE to every six hours, also when azd passes an empty value', () => {
      expect(valueAt(root, 'parameters', 'crawlSchedule', 'defaultValue')).toBe('0 0 */6 * * *');
      const site = only('Microsoft.Web/sites');
      expect(resolveInRoot(valueAt(site.scope.passedParameters, 'crawlSchedule', 'value'), site.scope)).toBe(
        "[if(empty(parameters('crawlSchedule')), '0 0 */6 * * *', parameters('crawlSchedule'))]",
      );
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

    test('declares no secure parameter in any template, so none can reach a setting or an output', () => {
      const secure = templateScopes(root).flatMap((scope) => {
        const parameters = isRecord(scope.template.parameters) ? scope.template.parameters : {};
        return Object.entries(parameters)
          .filter(([, parameter]) => /^secure/i.test(String(valueAt(parameter, 'type'))))
          .map(([name]) => `${scope.deploymentName || 'main'}: ${name}`);
      });
      expect(secure).toEqual([]);
    });

    test('creates no Key Vault secret, key or certificate: the operator puts the credential in', () => {
      for (const type of ['secrets', 'keys', 'certificates']) {
        expect(resourcesOfType(resources, `${VAULT}/${type}`)).toEqual([]);
      }
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

    test('outputs the consent URLs, the app and vault names, and what the federated credential names', () => {
      const outputs = valueAt(root, 'outputs');
      expect(Object.keys(isRecord(outputs) ? outputs : {}).sort()).toEqual([
        'APP_FEDERATED_IDENTITY_AUDIENCE',
        'APP_FEDERATED_IDENTITY_CLIENT_ID',
        'APP_FEDERATED_IDENTITY_ISSUER',
        'APP_FEDERATED_IDENTITY_PRINCIPAL_ID',
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
      expect(
        [
          'AZURE_KEY_VAULT_NAME',
          'keyVaultUrl',
          'CONSENT_LANDING_URL',
          'APP_FEDERATED_IDENTITY_CLIENT_ID',
        ].map(namesASecret),
      ).toEqual([false, false, false, false]);
    });
  });
});

describe.each(CREDENTIAL_KINDS)('infra/%s.bicepparam, evaluated with bicep snapshot', (kind) => {
  const run = bicep ? describe : describe.skip;
  const usesVault = VAULT_KINDS.includes(kind);
  let snapshot: DeploymentSnapshot;
  /** The same deployment by nobody in particular: AZURE_PRINCIPAL_ID unset. */
  let withoutDeployer: DeploymentSnapshot;

  run('the security baseline', () => {
    beforeAll(async () => {
      snapshot = await takeSnapshot(bicep!, kind);
      const { AZURE_PRINCIPAL_ID: _deployer, ...rest } = TEST_ENVIRONMENT;
      withoutDeployer = await takeSnapshot(bicep!, kind, rest);
    }, BICEP_TIMEOUT_MS);

    function setting(name: string): unknown {
      const settings = appSettingsOf(snapshot);
      if (!(name in settings)) throw new Error(`App setting ${name} is not set`);
      return settings[name];
    }

    describe('Function App', () => {
      test('runs as its own user-assigned identity; the only other one attached is the federated credential', () => {
        const site = onlyOf(snapshot, 'Microsoft.Web/sites');
        expect(valueAt(site.body, 'identity', 'type')).toBe('UserAssigned');
        const identities = resourcesOf(snapshot, IDENTITY_TYPE).map((identity) => identity.id);
        expect(identities).toContain(appIdentityId(snapshot));
        expect(identities).toHaveLength(kind === 'managed-identity' ? 2 : 1);
        expect(siteIdentityIds(snapshot)).toEqual([...identities].sort());
      });

      test('reads the deployment package with its own identity', () => {
        const storage = valueAt(
          onlyOf(snapshot, 'Microsoft.Web/sites').body,
          'properties',
          'functionAppConfig',
        );
        expect(valueAt(storage, 'deployment', 'storage', 'type')).toBe('blobContainer');
        expect(valueAt(storage, 'deployment', 'storage', 'authentication', 'type')).toBe(
          'UserAssignedIdentity',
        );
        expect(
          valueAt(storage, 'deployment', 'storage', 'authentication', 'userAssignedIdentityResourceId'),
        ).toBe(appIdentityId(snapshot));
      });
    });

    test('sends the vault audit events and the storage logs to Log Analytics, the vault only where there is one', () => {
      const scopes = resourcesOf(snapshot, DIAGNOSTICS_TYPE).map((setting) =>
        typeOfId(setting.id.slice(0, setting.id.lastIndexOf('/providers/'))),
      );
      expect(scopes.sort()).toEqual(
        [
          ...(usesVault ? [VAULT] : []),
          'Microsoft.Storage/storageAccounts/blobServices',
          'Microsoft.Storage/storageAccounts/queueServices',
          'Microsoft.Storage/storageAccounts/tableServices',
        ].sort(),
      );
      const workspace = onlyOf(snapshot, 'Microsoft.OperationalInsights/workspaces');
      for (const setting of resourcesOf(snapshot, DIAGNOSTICS_TYPE)) {
        expect(valueAt(setting.body, 'properties', 'workspaceId')).toBe(workspace.id);
      }
    });

    describe('app settings', () => {
      test.each(CONTRACT_SETTINGS)('sets %s', (name) => {
        const value = setting(name);
        expect(typeof value).toBe('string');
        expect(value).not.toBe('');
      });

      test.each(FORBIDDEN_SETTINGS)('does not set %s', (name) => {
        expect(Object.keys(appSettingsOf(snapshot))).not.toContain(name);
      });

      test('pins @azure/identity to its own user-assigned managed identity', () => {
        expect(setting('AZURE_TOKEN_CREDENTIALS')).toBe('ManagedIdentityCredential');
        expect(referencedIdOf(setting('AZURE_CLIENT_ID'), 'clientId')).toBe(
          resourcesOf(snapshot, IDENTITY_TYPE).find((identity) => identity.name.startsWith('id-func-'))?.id,
        );
      });

      test('connects the host to storage with its own managed identity, never a key', () => {
        const account = onlyOf(snapshot, STORAGE_ACCOUNT).id;
        expect(setting('AzureWebJobsStorage__credential')).toBe('managedidentity');
        expect(referencedIdOf(setting('AzureWebJobsStorage__clientId'), 'clientId')).toBe(
          appIdentityId(snapshot),
        );
        for (const service of ['blob', 'queue', 'table']) {
          const name = `AzureWebJobsStorage__${service}ServiceUri`;
          expect(referencedIdOf(setting(name), `primaryEndpoints.${service}`)).toBe(account);
        }
      });

      test('sends telemetry with an Entra token of its own managed identity', () => {
        const auth = setting('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
        expect(auth).toMatch(/^\[format\('ClientId=\{0\};Authorization=AAD', reference\(/);
        expect(referencesIn(auth)).toEqual([{ id: appIdentityId(snapshot), property: 'clientId' }]);
        expect(referencedIdOf(setting('APPLICATIONINSIGHTS_CONNECTION_STRING'), 'ConnectionString')).toBe(
          onlyOf(snapshot, APP_INSIGHTS).id,
        );
      });

      test("refuses the deployment's own tenant as a customer and onboards by invitation", () => {
        expect(setting('HOME_TENANT_ID')).toBe(TARGET.tenantId);
        expect(setting('ONBOARDING')).toBe('invite');
        expect(setting('AUTHORITY_HOST')).toBe('[environment().authentication.loginEndpoint]');
      });

      test('builds CONSENT_REDIRECT_URI from the site host name outside the site resource', () => {
        const site = onlyOf(snapshot, 'Microsoft.Web/sites');
        expect(setting('CONSENT_REDIRECT_URI')).toBe(
          `[format('{0}/callback', format('https://{0}/api/consent', reference('${site.id}', '2024-11-01').defaultHostName))]`,
        );
        expect(JSON.stringify(site.body)).not.toMatch(/defaultHostName/);
      });

      test('takes APP_CLIENT_ID from the environment and defaults ISV_NAME and CRAWL_SCHEDULE when unset', () => {
        expect(setting('APP_CLIENT_ID')).toBe(TEST_ENVIRONMENT.APP_CLIENT_ID);
        expect(setting('ISV_NAME')).toBe('DriveCrawler');
        expect(setting('CRAWL_SCHEDULE')).toBe('0 0 */6 * * *');
        expect(setting('CRAWL_SCOPE')).toBe('root');
        expect(setting('APP_CREDENTIAL')).toBe(kind);
      });
    });

    describe('role assignments', () => {
      test('assign exactly the roles of docs/deploy.md for this kind, each to its principal at its scope', () => {
        expect(roleLines(snapshot)).toEqual(expectedRoleLines(kind, true));
      });

      test('give the deployer nothing when there is no deployer', () => {
        expect(roleLines(withoutDeployer)).toEqual(expectedRoleLines(kind, false));
      });

      test('give the identity its roles as a service principal, and the deployer as a user', () => {
        for (const assignment of roleAssignmentsOf(snapshot)) {
          const who = whoIn(snapshot, assignment);
          expect(assignment.principalType).toBe(who === 'identity' ? 'ServicePrincipal' : 'User');
          expect(valueAt(assignment.resource.body, 'properties', 'condition')).toBeUndefined();
        }
      });

      test('scope each role to the very resource of this deployment that it names', () => {
        const ids = new Set(snapshot.resources.map((resource) => resource.id));
        for (const assignment of roleAssignmentsOf(snapshot)) expect(ids).toContain(assignment.scope);
      });

      test('give the identity Storage Queue Data Contributor on each queue the code uses, not on the account', () => {
        const scopes = roleAssignmentsOf(snapshot)
          .filter((assignment) => assignment.roleId === ROLE.storageQueueDataContributor)
          .map((assignment) => assignment.scope?.split('/').pop())
          .sort();
        expect(scopes).toEqual([...CODE_QUEUES].sort());
      });

      test('give the deployer Storage Blob Data Contributor on the deployment container the app reads from', () => {
        const [assignment] = roleAssignmentsOf(snapshot).filter(
          (candidate) => candidate.roleId === ROLE.storageBlobDataContributor,
        );
        const container = onlyOf(snapshot, CONTAINER);
        expect(assignment!.scope).toBe(container.id);
        expect(container.name.split('/').pop()).toBe('app-package');
        const site = onlyOf(snapshot, 'Microsoft.Web/sites');
        expect(
          valueAt(site.body, 'properties', 'functionAppConfig', 'deployment', 'storage', 'value'),
        ).toMatch(/, 'app-package'\)\]$/);
      });

      test.each(FORBIDDEN_ROLES)('never assign %s', (_role, roleId) => {
        expect(roleAssignmentsOf(snapshot).filter((assignment) => assignment.roleId === roleId)).toEqual([]);
      });

      test('name every role by a built-in definition ID and scope it to a resource, never the resource group', () => {
        for (const assignment of roleAssignmentsOf(snapshot)) {
          expect(assignment.roleId).toMatch(/^[0-9a-f-]{36}$/);
          expect(assignment.scopeType).toMatch(/^Microsoft\.\w+\/\w+/);
          expect(assignment.scopeType).not.toBe('Microsoft.Resources/resourceGroups');
        }
      });
    });

    describe('secrets', () => {
      test.each(SECRET_VALUE_PATTERNS)('puts %s in no app setting and no output', (_what, pattern) => {
        expect(settingAndOutputValues(snapshot).filter(({ value }) => pattern.test(value))).toEqual([]);
      });

      test('lets settings and outputs read only IDs, endpoints and names of resources at deployment', () => {
        const read = settingAndOutputValues(snapshot).flatMap(({ path: where, value }) =>
          referencesIn(value).map((reference) => `${where}: ${reference.property}`),
        );
        expect(read.length).toBeGreaterThan(0);
        expect(read.filter((entry) => !READABLE_PROPERTIES.includes(entry.split(': ')[1]!))).toEqual([]);
      });

      test('creates no Key Vault secret, key or certificate', () => {
        for (const type of ['secrets', 'keys', 'certificates']) {
          expect(resourcesOf(snapshot, `${VAULT}/${type}`)).toEqual([]);
        }
      });
    });
  });
});

test('docs/deploy.md lists every role with its definition ID', () => {
  const docs = readFileSync(path.join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
  for (const [name, roleId] of EXPECTED_ROLES) {
    expect(docs).toMatch(new RegExp(`\\| ${name} +\\| \`${roleId}\` +\\|`));
  }
});
