import type { AppCertificateRecord } from './app-credentials';
import { certificateRecord, checkedFederatedCredential } from './app-credentials';
import { SimError } from './sim-error';
import type {
  AppCertificateSpec,
  AppSecretSpec,
  AppSpec,
  FederatedCredentialSpec,
  GraphAppRole,
  GroupMembershipClaims,
  RevocationCode,
} from './types';
import { randomUUID } from 'node:crypto';

/** Every application permission the simulated Graph knows. */
export const GRAPH_APP_ROLES: readonly GraphAppRole[] = ['User.Read.All', 'Files.Read.All'];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An app registration (multi-tenant): its credentials, redirect URIs and the permissions it asks for. */
export interface AppRecord {
  clientId: string;
  displayName: string;
  secrets: AppSecretSpec[];
  certificates: AppCertificateRecord[];
  federatedCredentials: FederatedCredentialSpec[];
  redirectUris: string[];
  requiredRoles: GraphAppRole[];
  groupMembershipClaims: GroupMembershipClaims;
}

/** The state of an app's service principal in one tenant. */
export type Grant =
  | {
      kind: 'granted';
      roles: GraphAppRole[];
      /** Until this real time (ms since epoch) the token endpoint still answers `lagCode`. */
      lagUntil: number;
      lagCode: 700016 | 65001;
      /**
       * From this real time (ms since epoch) tokens carry the roles; before it Entra ID issues tokens without them,
       * as it does right after consent while the grant propagates (dev/sim/README.md).
       */
      rolesFrom: number;
    }
  | { kind: 'revoked'; code: RevocationCode };

/** What checking a presented client secret found. */
export type SecretCheck = 'valid' | 'wrong' | 'expired';

function assertRoles(roles: readonly string[]): asserts roles is GraphAppRole[] {
  for (const role of roles) {
    if (!GRAPH_APP_ROLES.includes(role as GraphAppRole)) throw new SimError(400, `Unknown app role ${role}`);
  }
}

function assertSecret(secret: AppSecretSpec): void {
  if (typeof secret.value !== 'string' || secret.value.length === 0)
    throw new SimError(400, 'A secret needs a value');
  if (secret.expiresOn !== undefined && Number.isNaN(Date.parse(secret.expiresOn))) {
    throw new SimError(400, `expiresOn is not a date: ${secret.expiresOn}`);
  }
}

/**
 * App registrations and their service principals per tenant (consent grants and revocations). Apps are global,
 * as multi-tenant registrations are; a tenant knows an app only once it has been consented there.
 */
export class AppRegistry {
  private readonly apps = new Map<string, AppRecord>();
  private readonly grants = new Map<string, Grant>();

  create(spec: AppSpec): AppRecord {
    const clientId = (spec.clientId ?? randomUUID()).toLowerCase();
    if (!GUID.test(clientId)) throw new SimError(400, 'clientId must be a GUID');
    if (this.apps.has(clientId)) throw new SimError(409, `App ${clientId} already exists`);
    const secrets = spec.secrets ?? [];
    secrets.forEach(assertSecret);
    const requiredRoles = spec.requiredRoles ?? [...GRAPH_APP_ROLES];
    assertRoles(requiredRoles);
    const claims = spec.groupMembershipClaims ?? 'None';
    if (!['None', 'SecurityGroup', 'DirectoryRole', 'ApplicationGroup', 'All'].includes(claims)) {
      throw new SimError(400, `groupMembershipClaims cannot be ${String(claims)}`);
    }
    const redirectUris = spec.redirectUris ?? [];
    for (const uri of redirectUris) {
      if (!URL.canParse(uri)) throw new SimError(400, `Redirect URI is not a URL: ${uri}`);
    }
    const app: AppRecord = {
      clientId,
      displayName: spec.displayName ?? `App ${clientId.slice(0, 8)}`,
      secrets: secrets.map((secret) => ({ ...secret })),
      certificates: [],
      federatedCredentials: [],
      redirectUris: [...redirectUris],
      requiredRoles: [...requiredRoles],
      groupMembershipClaims: spec.groupMembershipClaims ?? 'None',
    };
    for (const certificate of spec.certificates ?? []) addCertificateTo(app, certificate);
    for (const credential of spec.federatedCredentials ?? []) {
      app.federatedCredentials.push(checkedFederatedCredential(credential, app.federatedCredentials));
    }
    this.apps.set(clientId, app);
    return app;
  }

  get(clientId: string): AppRecord | undefined {
    return this.apps.get(clientId.toLowerCase());
  }

  require(clientId: string): AppRecord {
    const app = this.get(clientId);
    if (!app) throw new SimError(404, `No app ${clientId}`);
    return app;
  }

  addSecret(clientId: string, secret: AppSecretSpec): void {
    assertSecret(secret);
    this.require(clientId).secrets.push({ ...secret });
  }

  removeSecret(clientId: string, value: string): void {
    const app = this.require(clientId);
    const kept = app.secrets.filter((secret) => secret.value !== value);
    if (kept.length === app.secrets.length) throw new SimError(404, `App ${clientId} has no such secret`);
    app.secrets = kept;
  }

  addCertificate(clientId: string, certificate: AppCertificateSpec): void {
    addCertificateTo(this.require(clientId), certificate);
  }

  removeCertificate(clientId: string, thumbprintSha256Hex: string): void {
    const app = this.require(clientId);
    const record = certificateOf(app, thumbprintSha256Hex);
    app.certificates = app.certificates.filter((certificate) => certificate !== record);
  }

  revokeCertificate(clientId: string, thumbprintSha256Hex: string): void {
    certificateOf(this.require(clientId), thumbprintSha256Hex).revoked = true;
  }

  addFederatedCredential(clientId: string, credential: FederatedCredentialSpec): void {
    const app = this.require(clientId);
    app.federatedCredentials.push(checkedFederatedCredential(credential, app.federatedCredentials));
  }

  removeFederatedCredential(clientId: string, name: string): void {
    const app = this.require(clientId);
    const kept = app.federatedCredentials.filter((credential) => credential.name !== name);
    if (kept.length === app.federatedCredentials.length) {
      throw new SimError(404, `App ${clientId} has no federated credential ${name}`);
    }
    app.federatedCredentials = kept;
  }

  /** Compares a presented secret with the app's; an expired match is `expired`, as Entra ID tells them apart. */
  checkSecret(app: AppRecord, presented: string, nowMs: number): SecretCheck {
    const matches = app.secrets.filter((secret) => secret.value === presented);
    if (matches.length === 0) return 'wrong';
    return matches.some((secret) => secret.expiresOn === undefined || Date.parse(secret.expiresOn) > nowMs)
      ? 'valid'
      : 'expired';
  }

  /** Records consent: the app's service principal exists in the tenant with these roles. */
  grant(
    tenantId: string,
    clientId: string,
    roles: readonly string[],
    lagUntil: number,
    lagCode: 700016 | 65001,
    rolesFrom = 0,
  ): void {
    assertRoles(roles);
    this.require(clientId);
    this.grants.set(`${tenantId}|${clientId.toLowerCase()}`, {
      kind: 'granted',
      roles: [...roles],
      lagUntil,
      lagCode,
      rolesFrom,
    });
  }

  revoke(tenantId: string, clientId: string, code: RevocationCode): void {
    this.require(clientId);
    this.grants.set(`${tenantId}|${clientId.toLowerCase()}`, { kind: 'revoked', code });
  }

  grantOf(tenantId: string, clientId: string): Grant | undefined {
    return this.grants.get(`${tenantId}|${clientId.toLowerCase()}`);
  }
}

/** Registers a certificate once: the same certificate twice is refused, as Entra ID refuses a duplicate key. */
function addCertificateTo(app: AppRecord, certificate: AppCertificateSpec): void {
  const record = certificateRecord(certificate);
  if (app.certificates.some((known) => known.thumbprintSha256Hex === record.thumbprintSha256Hex)) {
    throw new SimError(409, `App ${app.clientId} already has this certificate`);
  }
  app.certificates.push(record);
}

function certificateOf(app: AppRecord, thumbprintSha256Hex: string): AppCertificateRecord {
  const wanted = typeof thumbprintSha256Hex === 'string' ? thumbprintSha256Hex.toLowerCase() : '';
  const record = app.certificates.find((certificate) => certificate.thumbprintSha256Hex === wanted);
  if (!record) throw new SimError(404, `App ${app.clientId} has no certificate ${thumbprintSha256Hex}`);
  return record;
}
