/**
 * One credential kind's deployment, as Azure would start it. `bicep build-params` compiles `infra/<kind>.bicepparam`
 * (its parameters and the template it uses); `bicep snapshot` evaluates that template with those parameters for a
 * fixed subscription, resource group, tenant and location, offline: conditions are decided, modules and loops are
 * expanded, names and resource IDs are literal. What only the deployment knows (a resource's runtime properties,
 * `environment()`) stays an expression, `reference('<literal resource ID>', ...).<property>`.
 */

import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JsonRecord } from './arm-template';
import { isRecord } from './arm-template';
import { diagnosticLines, REPO_ROOT, runBicep } from './bicep-cli';

export const CREDENTIAL_KINDS = ['secret', 'certificate', 'managed-identity'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

const INFRA_DIR = path.join(REPO_ROOT, 'infra');

/** `infra/<kind>.bicepparam`. */
export function paramsFile(kind: CredentialKind): string {
  return path.join(INFRA_DIR, `${kind}.bicepparam`);
}

/** Where the snapshots deploy to. */
export const TARGET = {
  subscriptionId: '5ab5c41b-0000-4000-8000-000000000001',
  resourceGroup: 'rg-infra-test',
  tenantId: '7e4a47e7-0000-4000-8000-000000000002',
  location: 'swedencentral',
} as const;

/** What the `.bicepparam` files read from the environment, as azd would set it for a deployer. */
export const TEST_ENVIRONMENT: Readonly<Record<string, string>> = {
  AZURE_ENV_NAME: 'infra-test',
  AZURE_PRINCIPAL_ID: 'de910e7e-0000-4000-8000-000000000003',
  APP_CLIENT_ID: 'a9911d00-0000-4000-8000-000000000004',
};

/** Every variable that some `.bicepparam` file of `infra/` reads with readEnvironmentVariable. */
export function variablesReadByParamsFiles(): string[] {
  const names = new Set<string>();
  for (const file of readdirSync(INFRA_DIR).filter((name) => name.endsWith('.bicepparam'))) {
    const text = readFileSync(path.join(INFRA_DIR, file), 'utf8');
    for (const match of text.matchAll(/readEnvironmentVariable\('([^']+)'/g)) names.add(match[1]!);
  }
  return [...names].sort();
}

/** This process's environment without what the parameter files read, plus `values`: they see only the test's. */
function environmentWith(values: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of variablesReadByParamsFiles()) delete env[name];
  return { ...env, ...values };
}

function parseObject(text: string, what: string): JsonRecord {
  const parsed: unknown = JSON.parse(text);
  if (!isRecord(parsed)) throw new Error(`${what} is not a JSON object`);
  return parsed;
}

export interface BuiltParams {
  /** The deployment parameters file (`{ parameters: { name: { value } } }`). */
  parameters: JsonRecord;
  /** The ARM template of the file's `using` target. */
  template: JsonRecord;
  /** Warnings and errors Bicep reported. */
  diagnostics: string[];
}

/** `bicep build-params infra/<kind>.bicepparam --stdout`. */
export async function buildParams(
  bicep: string,
  kind: CredentialKind,
  values: Readonly<Record<string, string>> = TEST_ENVIRONMENT,
): Promise<BuiltParams> {
  const run = await runBicep(bicep, ['build-params', paramsFile(kind), '--stdout'], {
    env: environmentWith(values),
  });
  if (run.exitCode !== 0) throw new Error(`bicep build-params ${kind} failed:\n${run.stderr}`);
  const output = parseObject(run.stdout, 'bicep build-params output');
  if (typeof output.parametersJson !== 'string' || typeof output.templateJson !== 'string') {
    throw new Error('bicep build-params printed no parametersJson and templateJson');
  }
  return {
    parameters: parseObject(output.parametersJson, 'parametersJson'),
    template: parseObject(output.templateJson, 'templateJson'),
    diagnostics: diagnosticLines(run.stderr),
  };
}

export interface SnapshotResource {
  /** The literal resource ID, or an expression for a name computed from runtime values (some role assignments). */
  id: string;
  type: string;
  name: string;
  body: JsonRecord;
}

export interface DeploymentSnapshot {
  kind: CredentialKind;
  resources: SnapshotResource[];
  outputs: JsonRecord;
}

/** Snapshots already taken in this test file, by their arguments: each takes the Bicep CLI seconds. */
const snapshots = new Map<string, Promise<DeploymentSnapshot>>();

/**
 * `bicep snapshot` of `infra/<kind>.bicepparam`, for TARGET and an environment of `values`, taken once per test file
 * (the result is shared: do not change it).
 */
export function takeSnapshot(
  bicep: string,
  kind: CredentialKind,
  values: Readonly<Record<string, string>> = TEST_ENVIRONMENT,
): Promise<DeploymentSnapshot> {
  const key = JSON.stringify([bicep, kind, Object.entries(values).sort()]);
  let snapshot = snapshots.get(key);
  if (!snapshot) {
    snapshot = runSnapshot(bicep, kind, values);
    snapshots.set(key, snapshot);
  }
  return snapshot;
}

/** The snapshot command writes its file beside the parameters file, so it runs on a copy of `infra/`. */
async function runSnapshot(
  bicep: string,
  kind: CredentialKind,
  values: Readonly<Record<string, string>>,
): Promise<DeploymentSnapshot> {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'infra-snapshot-'));
  try {
    cpSync(INFRA_DIR, copy, { recursive: true });
    const run = await runBicep(
      bicep,
      [
        'snapshot',
        path.join(copy, `${kind}.bicepparam`),
        '--mode',
        'overwrite',
        '--subscription-id',
        TARGET.subscriptionId,
        '--resource-group',
        TARGET.resourceGroup,
        '--tenant-id',
        TARGET.tenantId,
        '--location',
        TARGET.location,
      ],
      { env: environmentWith(values) },
    );
    if (run.exitCode !== 0) throw new Error(`bicep snapshot ${kind} failed:\n${run.stderr}`);
    const snapshot = parseObject(readFileSync(path.join(copy, `${kind}.snapshot.json`), 'utf8'), 'snapshot');
    const diagnostics = snapshot.diagnostics;
    if (Array.isArray(diagnostics) && diagnostics.length > 0) {
      throw new Error(`bicep snapshot ${kind} reported: ${JSON.stringify(diagnostics)}`);
    }
    const predicted = Array.isArray(snapshot.predictedResources) ? snapshot.predictedResources : [];
    return {
      kind,
      resources: predicted.filter(isRecord).map((body) => ({
        id: typeof body.id === 'string' ? body.id : '',
        type: typeof body.type === 'string' ? body.type : '',
        name: typeof body.name === 'string' ? body.name : '',
        body,
      })),
      outputs: isRecord(snapshot.outputs) ? snapshot.outputs : {},
    };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

export function resourcesOf(snapshot: DeploymentSnapshot, type: string): SnapshotResource[] {
  return snapshot.resources.filter((resource) => resource.type.toLowerCase() === type.toLowerCase());
}

export function onlyOf(snapshot: DeploymentSnapshot, type: string): SnapshotResource {
  const matches = resourcesOf(snapshot, type);
  if (matches.length !== 1) {
    throw new Error(`Expected one ${type} in the ${snapshot.kind} snapshot, found ${String(matches.length)}`);
  }
  return matches[0]!;
}

/** The type of a resource ID: `Microsoft.Storage/storageAccounts/queueServices/queues` for a queue's ID. */
export function typeOfId(id: string): string | undefined {
  const at = id.lastIndexOf('/providers/');
  if (!id.startsWith('/subscriptions/') || at < 0) return undefined;
  const [namespace, ...segments] = id.slice(at + '/providers/'.length).split('/');
  if (!namespace || segments.length === 0 || segments.length % 2 !== 0) return undefined;
  return [namespace, ...segments.filter((_, index) => index % 2 === 0)].join('/');
}

export interface Reference {
  /** The literal ID of the resource read. */
  id: string;
  /** The property path read, e.g. `clientId` or `primaryEndpoints.blob`. */
  property: string;
}

/** Every `reference('<id>', '<api version>').<property>` in an expression. */
export function referencesIn(value: unknown): Reference[] {
  if (typeof value !== 'string') return [];
  return [...value.matchAll(/reference\('([^']+)', '[^']+'\)((?:\.\w+)+)/g)].map((match) => ({
    id: match[1]!,
    property: match[2]!.slice(1),
  }));
}

/** The resource ID of `[reference('<id>', ...).<property>]` when that is the whole expression. */
export function referencedIdOf(value: unknown, property: string): string | undefined {
  const references = referencesIn(value);
  if (references.length !== 1 || typeof value !== 'string') return undefined;
  const [reference] = references;
  if (reference!.property !== property) return undefined;
  return new RegExp(`^\\[reference\\('[^']+', '[^']+'\\)\\.${property.replace(/\./g, '\\.')}\\]$`).test(value)
    ? reference!.id
    : undefined;
}

export interface SnapshotRoleAssignment {
  roleId: string | undefined;
  /** The literal ID of the scope. */
  scope: string | undefined;
  scopeType: string | undefined;
  /** The principal: a user-assigned identity's resource ID (its principalId read at deployment), or a literal ID. */
  principal: string | undefined;
  principalType: unknown;
  resource: SnapshotResource;
}

const ROLE_ASSIGNMENTS = '/providers/Microsoft.Authorization/roleAssignments/';

function scopeOfRoleAssignment(id: string): string | undefined {
  const extension = /^\[extensionResourceId\('([^']+)', 'Microsoft\.Authorization\/roleAssignments'/.exec(id);
  if (extension) return extension[1];
  const at = id.indexOf(ROLE_ASSIGNMENTS);
  return at > 0 ? id.slice(0, at) : undefined;
}

export function roleAssignmentsOf(snapshot: DeploymentSnapshot): SnapshotRoleAssignment[] {
  return resourcesOf(snapshot, 'Microsoft.Authorization/roleAssignments').map((resource) => {
    const properties = isRecord(resource.body.properties) ? resource.body.properties : {};
    const definition = properties.roleDefinitionId;
    const principalId = properties.principalId;
    const scope = scopeOfRoleAssignment(resource.id);
    return {
      roleId:
        typeof definition === 'string'
          ? /\/roleDefinitions\/([0-9a-f-]{36})$/i.exec(definition)?.[1]?.toLowerCase()
          : undefined,
      scope,
      scopeType: scope === undefined ? undefined : typeOfId(scope),
      principal:
        referencedIdOf(principalId, 'principalId') ??
        (typeof principalId === 'string' ? principalId : undefined),
      principalType: properties.principalType,
      resource,
    };
  });
}

/** The Function App's settings (its `appsettings` config resource). */
export function appSettingsOf(snapshot: DeploymentSnapshot): JsonRecord {
  const configs = resourcesOf(snapshot, 'Microsoft.Web/sites/config').filter((config) =>
    config.name.endsWith('/appsettings'),
  );
  if (configs.length !== 1)
    throw new Error(`Expected one appsettings resource in the ${snapshot.kind} snapshot`);
  const properties = configs[0]!.body.properties;
  if (!isRecord(properties)) throw new Error('The appsettings resource has no literal properties');
  return properties;
}

/** The user-assigned identities attached to the Function App, by resource ID. */
export function siteIdentityIds(snapshot: DeploymentSnapshot): string[] {
  const site = onlyOf(snapshot, 'Microsoft.Web/sites');
  const identity = site.body.identity;
  const attached = isRecord(identity) ? identity.userAssignedIdentities : undefined;
  return isRecord(attached) ? Object.keys(attached).sort() : [];
}

/** The identity the app runs as: the one `AZURE_CLIENT_ID` names for @azure/identity. */
export function appIdentityId(snapshot: DeploymentSnapshot): string {
  const id = referencedIdOf(appSettingsOf(snapshot).AZURE_CLIENT_ID, 'clientId');
  if (!id) throw new Error('AZURE_CLIENT_ID does not name a user-assigned identity');
  return id;
}
