import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isRecord } from './arm-template';
import { MAIN_BICEP, REPO_ROOT } from './bicep-cli';
import { CREDENTIAL_KINDS, paramsFile } from './deployment-snapshot';

const azureYaml = readFileSync(path.join(REPO_ROOT, 'azure.yaml'), 'utf8');
const parametersFile: unknown = JSON.parse(
  readFileSync(path.join(REPO_ROOT, 'infra', 'main.parameters.json'), 'utf8'),
);
const declaredParams = [...readFileSync(MAIN_BICEP, 'utf8').matchAll(/^param (\w+) /gm)].map(
  (match) => match[1],
);

function mappedParameters(): Record<string, unknown> {
  const parameters = isRecord(parametersFile) ? parametersFile.parameters : undefined;
  if (!isRecord(parameters)) throw new Error('infra/main.parameters.json has no parameters object');
  return parameters;
}

describe('azd project', () => {
  test('deploys the api service as a TypeScript function app from the repository root', () => {
    expect(azureYaml).toMatch(/^services:\n {2}api:\n(?: {4}.*\n)*? {4}project: \.\n/m);
    expect(azureYaml).toMatch(/^ {4}language: ts$/m);
    expect(azureYaml).toMatch(/^ {4}host: function$/m);
    expect(azureYaml).toMatch(/^ {2}path: infra$/m);
  });

  test('maps only parameters that main.bicep declares', () => {
    const unknown = Object.keys(mappedParameters()).filter((name) => !declaredParams.includes(name));
    expect(unknown).toEqual([]);
  });

  test('passes the azd environment, the deployer and APP_CLIENT_ID to the template', () => {
    const value = (name: string): unknown => {
      const entry = mappedParameters()[name];
      return isRecord(entry) ? entry.value : undefined;
    };
    expect(value('environmentName')).toBe('${AZURE_ENV_NAME}');
    expect(value('location')).toBe('${AZURE_LOCATION}');
    expect(value('deployerPrincipalId')).toBe('${AZURE_PRINCIPAL_ID}');
    expect(value('appClientId')).toBe('${APP_CLIENT_ID}');
    expect(value('keyVaultNameSeed')).toBe('${KEY_VAULT_NAME_SEED}');
  });

  test('passes APP_CREDENTIAL (secret when unset) and the names of the secret and the certificate', () => {
    const value = (name: string): unknown => {
      const entry = mappedParameters()[name];
      return isRecord(entry) ? entry.value : undefined;
    };
    expect(value('appCredential')).toBe('${APP_CREDENTIAL=secret}');
    expect(value('appClientSecretName')).toBe('${APP_CLIENT_SECRET_NAME}');
    expect(value('appCertificateName')).toBe('${APP_CERTIFICATE_NAME}');
  });

  test('has no infra/main.bicepparam, which azd would take instead of main.parameters.json', () => {
    expect(existsSync(path.join(REPO_ROOT, 'infra', 'main.bicepparam'))).toBe(false);
    for (const kind of CREDENTIAL_KINDS) expect(existsSync(paramsFile(kind))).toBe(true);
  });

  test('renews the Key Vault name seed after azd down and keeps it otherwise', () => {
    expect(azureYaml).toMatch(/^ {2}preprovision:\n(?: {4}.*\n)+?.*key-vault-name-seed\.sh ensure$/m);
    expect(azureYaml).toMatch(/^ {2}postdown:\n(?: {4}.*\n)+?.*key-vault-name-seed\.sh renew$/m);
    expect(existsSync(path.join(REPO_ROOT, 'infra', 'hooks', 'key-vault-name-seed.sh'))).toBe(true);
    expect(existsSync(path.join(REPO_ROOT, 'infra', 'hooks', 'key-vault-name-seed.ps1'))).toBe(true);
  });
});
