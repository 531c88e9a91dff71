/**
 * APP_CREDENTIAL, the app registration's credential in the customer tenants (docs/deploy.md, "The app's
 * credential"): each kind's `infra/<kind>.bicepparam`, compiled with `bicep build-params` and evaluated with
 * `bicep snapshot`, sets APP_CREDENTIAL and only its kind's settings, deploys the vault only for the kinds that read
 * it, and, for managed-identity, a user-assigned identity of its own that nothing but the app registration's
 * federated credential uses. security-baseline.test.ts pins, for every kind, the roles and that no setting or
 * output holds a secret.
 */

import type { JsonRecord } from './arm-template';
import { allStrings, isRecord, valueAt } from './arm-template';
import { BICEP_TIMEOUT_MS, findBicep } from './bicep-cli';
import type { BuiltParams, CredentialKind, DeploymentSnapshot } from './deployment-snapshot';
import {
  appIdentityId,
  appSettingsOf,
  buildParams,
  CREDENTIAL_KINDS,
  onlyOf,
  referencedIdOf,
  resourcesOf,
  roleAssignmentsOf,
  siteIdentityIds,
  takeSnapshot,
  TARGET,
  TEST_ENVIRONMENT,
} from './deployment-snapshot';

const bicep = findBicep();
const run = bicep ? describe : describe.skip;

const VAULT = 'Microsoft.KeyVault/vaults';
const IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

const ROLE = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985',
} as const;

/** The settings each kind needs besides APP_CREDENTIAL; the app refuses another kind's. */
const KIND_SETTINGS: Record<CredentialKind, string[]> = {
  secret: ['APP_CLIENT_SECRET_NAME', 'KEY_VAULT_URL'],
  certificate: ['APP_CERTIFICATE_NAME', 'KEY_VAULT_URL'],
  'managed-identity': ['APP_FEDERATED_IDENTITY_CLIENT_ID'],
};

const ALL_KIND_SETTINGS = [...new Set(Object.values(KIND_SETTINGS).flat())].sort();

/** What the app registration's federated credential names, output for managed-identity only. */
const FEDERATED_OUTPUTS = [
  'APP_FEDERATED_IDENTITY_AUDIENCE',
  'APP_FEDERATED_IDENTITY_CLIENT_ID',
  'APP_FEDERATED_IDENTITY_ISSUER',
  'APP_FEDERATED_IDENTITY_PRINCIPAL_ID',
];

/** The host of each sovereign cloud's login endpoint, with the token-exchange audience of that cloud. */
const SOVEREIGN_AUDIENCES = {
  'login.microsoftonline.us': 'api://AzureADTokenExchangeUSGov',
  'login.chinacloudapi.cn': 'api://AzureADTokenExchangeChina',
};

function identityNamed(snapshot: DeploymentSnapshot, prefix: string): string {
  const matches = resourcesOf(snapshot, IDENTITY_TYPE).filter((identity) => identity.name.startsWith(prefix));
  if (matches.length !== 1) throw new Error(`Expected one identity named ${prefix}*`);
  return matches[0]!.id;
}

function vaultRoles(snapshot: DeploymentSnapshot): string[] {
  return roleAssignmentsOf(snapshot)
    .filter((assignment) => assignment.scope?.includes('/providers/Microsoft.KeyVault/'))
    .map((assignment) => `${String(assignment.roleId)} ${String(assignment.principal)}`)
    .sort();
}

run('appCredential in infra/main.bicep', () => {
  let template: JsonRecord;

  beforeAll(async () => {
    template = (await buildParams(bicep!, 'secret')).template;
  }, BICEP_TIMEOUT_MS);

  test('is secret, certificate or managed-identity, secret by default', () => {
    const parameter = valueAt(template, 'parameters', 'appCredential');
    expect(valueAt(parameter, 'type')).toBe('string');
    expect(valueAt(parameter, 'allowedValues')).toEqual(['secret', 'certificate', 'managed-identity']);
    expect(valueAt(parameter, 'defaultValue')).toBe('secret');
  });

  test('names the secret graph-app-client-secret and the certificate app-certificate, also when given empty', () => {
    expect(valueAt(template, 'parameters', 'appClientSecretName', 'defaultValue')).toBe(
      'graph-app-client-secret',
    );
    expect(valueAt(template, 'parameters', 'appCertificateName', 'defaultValue')).toBe('app-certificate');
    expect(valueAt(template, 'variables', 'secretNameSetting')).toBe(
      "[if(empty(parameters('appClientSecretName')), 'graph-app-client-secret', parameters('appClientSecretName'))]",
    );
    expect(valueAt(template, 'variables', 'certificateNameSetting')).toBe(
      "[if(empty(parameters('appCertificateName')), 'app-certificate', parameters('appCertificateName'))]",
    );
  });

  test("takes the token-exchange audience from the host of the cloud's login endpoint, as the app does", () => {
    expect(valueAt(template, 'variables', 'tokenExchangeAudiences')).toEqual(SOVEREIGN_AUDIENCES);
    expect(valueAt(template, 'variables', 'loginHost')).toBe(
      "[toLower(split(environment().authentication.loginEndpoint, '/')[2])]",
    );
    expect(valueAt(template, 'variables', 'tokenExchangeAudience')).toBe(
      "[coalesce(tryGet(variables('tokenExchangeAudiences'), variables('loginHost')), 'api://AzureADTokenExchange')]",
    );
  });
});

describe.each(CREDENTIAL_KINDS)('infra/%s.bicepparam', (kind) => {
  const readsVault = kind !== 'managed-identity';
  let built: BuiltParams;
  let snapshot: DeploymentSnapshot;

  run(`APP_CREDENTIAL=${kind}`, () => {
    beforeAll(async () => {
      built = await buildParams(bicep!, kind);
      snapshot = await takeSnapshot(bicep!, kind);
    }, BICEP_TIMEOUT_MS);

    test('compiles with bicep build-params, without a warning, for main.bicep and this kind', () => {
      expect(built.diagnostics).toEqual([]);
      expect(valueAt(built.parameters, 'parameters', 'appCredential', 'value')).toBe(kind);
      expect(valueAt(built.template, 'parameters', 'appCredential', 'allowedValues')).toContain(kind);
      expect(valueAt(built.parameters, 'parameters', 'environmentName', 'value')).toBe(
        TEST_ENVIRONMENT.AZURE_ENV_NAME,
      );
    });

    test('passes plain values only: no Key Vault reference, nothing secure', () => {
      const parameters = valueAt(built.parameters, 'parameters');
      expect(isRecord(parameters)).toBe(true);
      for (const [name, entry] of Object.entries(isRecord(parameters) ? parameters : {})) {
        expect([name, Object.keys(isRecord(entry) ? entry : {})]).toEqual([name, ['value']]);
      }
      expect(allStrings(built.parameters).filter(({ value }) => /keyvault|getSecret/i.test(value))).toEqual(
        [],
      );
    });

    test('sets APP_CREDENTIAL and, of the credential settings, only those of its kind', () => {
      const settings = appSettingsOf(snapshot);
      expect(settings.APP_CREDENTIAL).toBe(kind);
      expect(
        Object.keys(settings)
          .filter((name) => ALL_KIND_SETTINGS.includes(name))
          .sort(),
      ).toEqual(KIND_SETTINGS[kind]);
    });

    test(readsVault ? 'deploys the vault and names it' : 'deploys no vault and names none', () => {
      const vaults = resourcesOf(snapshot, VAULT);
      expect(vaults).toHaveLength(readsVault ? 1 : 0);
      expect(snapshot.outputs.AZURE_KEY_VAULT_NAME).toBe(readsVault ? vaults[0]!.name : '');
      if (readsVault) {
        expect(referencedIdOf(appSettingsOf(snapshot).KEY_VAULT_URL, 'vaultUri')).toBe(vaults[0]!.id);
      }
    });

    if (kind !== 'managed-identity') {
      test('outputs nothing for a federated credential', () => {
        for (const name of FEDERATED_OUTPUTS) expect([name, snapshot.outputs[name]]).toEqual([name, '']);
      });

      test("gives the app's identity Key Vault Secrets User on the vault itself, nothing narrower or wider", () => {
        const vault = onlyOf(snapshot, VAULT).id;
        const readers = roleAssignmentsOf(snapshot).filter(
          (assignment) => assignment.roleId === ROLE.keyVaultSecretsUser,
        );
        expect(readers.map((assignment) => [assignment.scope, assignment.principal])).toEqual([
          [vault, appIdentityId(snapshot)],
        ]);
        expect(
          roleAssignmentsOf(snapshot).filter((assignment) => assignment.scope?.startsWith(`${vault}/`)),
        ).toEqual([]);
      });
    }
  });
});

run('APP_CREDENTIAL=secret', () => {
  let snapshot: DeploymentSnapshot;
  let named: DeploymentSnapshot;

  beforeAll(async () => {
    snapshot = await takeSnapshot(bicep!, 'secret');
    named = await takeSnapshot(bicep!, 'secret', {
      ...TEST_ENVIRONMENT,
      APP_CLIENT_SECRET_NAME: 'crawler-secret',
    });
  }, BICEP_TIMEOUT_MS);

  test('names the secret graph-app-client-secret, or APP_CLIENT_SECRET_NAME', () => {
    expect(appSettingsOf(snapshot).APP_CLIENT_SECRET_NAME).toBe('graph-app-client-secret');
    expect(appSettingsOf(named).APP_CLIENT_SECRET_NAME).toBe('crawler-secret');
  });

  test('lets the deployer set secrets (Key Vault Secrets Officer), not certificates', () => {
    expect(vaultRoles(snapshot)).toEqual(
      [
        `${ROLE.keyVaultSecretsUser} ${appIdentityId(snapshot)}`,
        `${ROLE.keyVaultSecretsOfficer} ${TEST_ENVIRONMENT.AZURE_PRINCIPAL_ID!}`,
      ].sort(),
    );
  });
});

run('APP_CREDENTIAL=certificate', () => {
  let snapshot: DeploymentSnapshot;
  let named: DeploymentSnapshot;

  beforeAll(async () => {
    snapshot = await takeSnapshot(bicep!, 'certificate');
    named = await takeSnapshot(bicep!, 'certificate', {
      ...TEST_ENVIRONMENT,
      APP_CERTIFICATE_NAME: 'crawler-cert',
    });
  }, BICEP_TIMEOUT_MS);

  test('names the certificate app-certificate, or APP_CERTIFICATE_NAME', () => {
    expect(appSettingsOf(snapshot).APP_CERTIFICATE_NAME).toBe('app-certificate');
    expect(appSettingsOf(named).APP_CERTIFICATE_NAME).toBe('crawler-cert');
  });

  test('lets the deployer create certificates (Key Vault Certificates Officer), not set secrets', () => {
    expect(vaultRoles(snapshot)).toEqual(
      [
        `${ROLE.keyVaultSecretsUser} ${appIdentityId(snapshot)}`,
        `${ROLE.keyVaultCertificatesOfficer} ${TEST_ENVIRONMENT.AZURE_PRINCIPAL_ID!}`,
      ].sort(),
    );
  });

  test('keeps the same vault role when the certificate has another name: its scope is the vault', () => {
    expect(vaultRoles(named)).toEqual(vaultRoles(snapshot));
  });
});

run('APP_CREDENTIAL=managed-identity', () => {
  let snapshot: DeploymentSnapshot;
  let federated: string;
  let own: string;

  beforeAll(async () => {
    snapshot = await takeSnapshot(bicep!, 'managed-identity');
    federated = identityNamed(snapshot, 'id-fic-');
    own = identityNamed(snapshot, 'id-func-');
  }, BICEP_TIMEOUT_MS);

  test("creates a user-assigned identity of its own, beside the Function App's", () => {
    expect(
      resourcesOf(snapshot, IDENTITY_TYPE)
        .map((identity) => identity.id)
        .sort(),
    ).toEqual([federated, own].sort());
    expect(appIdentityId(snapshot)).toBe(own);
  });

  test('attaches it to the Function App, which can then ask IDENTITY_ENDPOINT for its token', () => {
    expect(siteIdentityIds(snapshot)).toEqual([federated, own].sort());
  });

  test('names it in APP_FEDERATED_IDENTITY_CLIENT_ID only', () => {
    const settings = appSettingsOf(snapshot);
    expect(referencedIdOf(settings.APP_FEDERATED_IDENTITY_CLIENT_ID, 'clientId')).toBe(federated);
    const naming = Object.entries(settings)
      .filter(([, value]) => typeof value === 'string' && value.includes(federated))
      .map(([name]) => name);
    expect(naming).toEqual(['APP_FEDERATED_IDENTITY_CLIENT_ID']);
  });

  test('uses it for nothing else: storage, the package, telemetry and @azure/identity use the app identity', () => {
    const settings = appSettingsOf(snapshot);
    expect(referencedIdOf(settings.AZURE_CLIENT_ID, 'clientId')).toBe(own);
    expect(referencedIdOf(settings.AzureWebJobsStorage__clientId, 'clientId')).toBe(own);
    expect(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toContain(`reference('${own}'`);
    const site = onlyOf(snapshot, 'Microsoft.Web/sites');
    expect(
      valueAt(
        site.body,
        'properties',
        'functionAppConfig',
        'deployment',
        'storage',
        'authentication',
        'userAssignedIdentityResourceId',
      ),
    ).toBe(own);
  });

  test('gives it no role assignment at all', () => {
    const assignments = roleAssignmentsOf(snapshot);
    expect(assignments.length).toBeGreaterThan(0);
    expect(
      assignments.filter((assignment) => JSON.stringify(assignment.resource.body).includes(federated)),
    ).toEqual([]);
  });

  test("is named nowhere but by itself, the site's identities and APP_FEDERATED_IDENTITY_CLIENT_ID", () => {
    const mentions = snapshot.resources
      .filter((resource) => resource.id !== federated)
      .flatMap((resource) =>
        allStrings(resource.body, [resource.type])
          .filter(({ path, value }) => value.includes(federated) || path.includes(federated))
          .map(({ path }) => path),
      );
    // allStrings reports the value under the site's identity key ({}), so the key itself is checked separately.
    expect(mentions).toEqual(['Microsoft.Web/sites/config.properties.APP_FEDERATED_IDENTITY_CLIENT_ID']);
    expect(siteIdentityIds(snapshot)).toContain(federated);
  });

  test('reads no vault: no vault, no Key Vault role, no KEY_VAULT_URL', () => {
    expect(resourcesOf(snapshot, VAULT)).toEqual([]);
    expect(vaultRoles(snapshot)).toEqual([]);
    expect(Object.keys(appSettingsOf(snapshot))).not.toContain('KEY_VAULT_URL');
  });

  test("outputs the identity's client and principal IDs, the issuer and the audience of its federated credential", () => {
    expect(referencedIdOf(snapshot.outputs.APP_FEDERATED_IDENTITY_CLIENT_ID, 'clientId')).toBe(federated);
    expect(referencedIdOf(snapshot.outputs.APP_FEDERATED_IDENTITY_PRINCIPAL_ID, 'principalId')).toBe(
      federated,
    );
    expect(snapshot.outputs.APP_FEDERATED_IDENTITY_ISSUER).toBe(
      `[format('{0}{1}/v2.0', environment().authentication.loginEndpoint, '${TARGET.tenantId}')]`,
    );
    expect(snapshot.outputs.APP_FEDERATED_IDENTITY_AUDIENCE).toBe(
      "[coalesce(tryGet(createObject('login.microsoftonline.us', 'api://AzureADTokenExchangeUSGov', " +
        "'login.chinacloudapi.cn', 'api://AzureADTokenExchangeChina'), " +
        "toLower(split(environment().authentication.loginEndpoint, '/')[2])), 'api://AzureADTokenExchange')]",
    );
  });
});
