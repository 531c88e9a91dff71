import type { TokenCredential } from '@azure/identity';
import {
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
} from '@azure/identity';
import { X509Certificate, createHash } from 'node:crypto';
import type { AppCredentialSettings } from '../config';
import { CredentialError } from '../errors';
import type { VaultSecret, VaultSecretReader } from '../secrets/vault-secret';

/**
 * The app registration's own credential (`APP_CREDENTIAL`, docs/credentials.md): a client secret or a certificate
 * from Key Vault, or a user-assigned managed identity that the app registration trusts as a federated credential.
 * One interface for the three, so the per-tenant token code and the admin sign-in do not care which.
 */
export interface AppCredential {
  readonly kind: AppCredentialSettings['kind'];
  /** Names the credential for messages and logs (`client secret "name"`), never its value. */
  readonly describedAs: string;
  /** The current version, cached where reading it costs a request. Throws `CredentialError`. */
  current(): Promise<AppCredentialVersion>;
  /** The latest version, read again now (after Entra ID rejected the current one). Throws `CredentialError`. */
  refresh(): Promise<AppCredentialVersion>;
}

/** One version of the app's credential. */
export interface AppCredentialVersion {
  /** Changes when the credential is rotated; a per-tenant credential is rebuilt when it does. */
  version: string;
  /** When it stops working: the secret's end date in the vault, the certificate's `notAfter`; none for an identity. */
  expiresOn: Date | undefined;
  /** An SDK credential for app-only tokens in one customer tenant (one per tenant: its token cache is the tenant's). */
  forTenant(tenantId: string): TokenCredential;
  /** How an MSAL confidential client authenticates with it (the admin sign-in's code redemption). */
  msalAuth(): MsalClientAuth;
}

export type MsalClientAuth =
  | { clientSecret: string }
  | { clientCertificate: { thumbprintSha256: string; privateKey: string } }
  | { clientAssertion: () => Promise<string> };

/** What every per-tenant SDK credential is built with. */
export interface TenantCredentialOptions {
  clientId: string;
  authorityHost: string;
  /** Off for any authority that is not a public-cloud host (sovereign clouds behind a proxy, the simulator). */
  disableInstanceDiscovery: boolean;
}

/** A client secret from Key Vault (`APP_CREDENTIAL=secret`). */
export class SecretAppCredential implements AppCredential {
  readonly kind = 'secret';
  readonly describedAs: string;
  readonly #vault: VaultSecretReader;
  readonly #options: TenantCredentialOptions;

  constructor(vault: VaultSecretReader, secretName: string, options: TenantCredentialOptions) {
    this.#vault = vault;
    this.#options = options;
    this.describedAs = `client secret "${secretName}"`;
  }

  async current(): Promise<AppCredentialVersion> {
    return this.#versionOf(await this.#vault.get());
  }

  async refresh(): Promise<AppCredentialVersion> {
    return this.#versionOf(await this.#vault.refresh());
  }

  #versionOf(secret: VaultSecret): AppCredentialVersion {
    const { clientId, ...sdk } = this.#options;
    return {
      version: secret.version,
      expiresOn: secret.expiresOn,
      forTenant: (tenantId) => new ClientSecretCredential(tenantId, clientId, secret.value.reveal(), sdk),
      msalAuth: () => ({ clientSecret: secret.value.reveal() }),
    };
  }
}

const PEM_KEY = /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END \1?PRIVATE KEY-----/;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The parts of a PEM certificate secret (Key Vault's: the private key, then the certificate and its chain). */
export function parseCertificatePem(
  pem: string,
  describedAs: string,
): { privateKey: string; certificates: string[]; leaf: X509Certificate } {
  const unusable = (detail: string): CredentialError =>
    new CredentialError('credential_unusable', describedAs, detail);
  const key = PEM_KEY.exec(pem);
  const certificates = pem.match(PEM_CERTIFICATE) ?? [];
  const first = certificates[0];
  if (!key || !first) {
    throw unusable('the vault holds no PEM private key and certificate (a PEM certificate policy is needed)');
  }
  if (key[1] === 'ENCRYPTED ') throw unusable('its private key is encrypted; Key Vault PEM keys are not');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(first);
  } catch {
    throw unusable('its certificate cannot be read');
  }
  return { privateKey: key[0], certificates, leaf };
}

/** A certificate from Key Vault, read as its PEM backing secret (`APP_CREDENTIAL=certificate`). */
export class CertificateAppCredential implements AppCredential {
  readonly kind = 'certificate';
  readonly describedAs: string;
  readonly #vault: VaultSecretReader;
  readonly #options: TenantCredentialOptions;
  /** The last version parsed: parsing is done once per version, not once per token. */
  #parsed: { version: string; result: AppCredentialVersion } | undefined;

  constructor(vault: VaultSecretReader, certificateName: string, options: TenantCredentialOptions) {
    this.#vault = vault;
    this.#options = options;
    this.describedAs = `certificate "${certificateName}"`;
  }

  async current(): Promise<AppCredentialVersion> {
    return this.#versionOf(await this.#vault.get());
  }

  async refresh(): Promise<AppCredentialVersion> {
    return this.#versionOf(await this.#vault.refresh());
  }

  #versionOf(secret: VaultSecret): AppCredentialVersion {
    if (this.#parsed?.version === secret.version) return this.#parsed.result;
    // Key Vault hands a certificate out as PKCS#12 unless its policy says PEM; the SDK's credential takes PEM only.
    if (secret.contentType?.toLowerCase() === 'application/x-pkcs12') {
      throw new CredentialError(
        'credential_unusable',
        this.describedAs,
        'is stored as PKCS#12 (application/x-pkcs12); create a new version whose policy content type is ' +
          'application/x-pem-file',
      );
    }
    const pem = secret.value.reveal();
    const { privateKey, leaf } = parseCertificatePem(pem, this.describedAs);
    const { clientId, ...sdk } = this.#options;
    const result: AppCredentialVersion = {
      version: secret.version,
      expiresOn: new Date(leaf.validTo),
      forTenant: (tenantId) => new ClientCertificateCredential(tenantId, clientId, { certificate: pem }, sdk),
      // No `x5c`, as the SDK's credential sends none: the certificate is identified by its thumbprint alone.
      msalAuth: () => ({
        clientCertificate: {
          thumbprintSha256: createHash('sha256').update(leaf.raw).digest('hex').toUpperCase(),
          privateKey,
        },
      }),
    };
    this.#parsed = { version: secret.version, result };
    return result;
  }
}

/**
 * A user-assigned managed identity trusted by the app registration as a federated credential
 * (`APP_CREDENTIAL=managed-identity`): no secret exists anywhere. Each tenant's `ClientAssertionCredential`
 * presents the identity's token for the token-exchange audience; the identity's own credential caches that token.
 */
export class ManagedIdentityAppCredential implements AppCredential {
  readonly kind = 'managed-identity';
  readonly describedAs: string;
  readonly #identity: ManagedIdentityCredential;
  readonly #scope: string;
  readonly #options: TenantCredentialOptions;

  constructor(identityClientId: string, audience: string, options: TenantCredentialOptions) {
    this.#identity = new ManagedIdentityCredential({ clientId: identityClientId });
    this.#scope = `${audience}/.default`;
    this.#options = options;
    this.describedAs = `managed identity ${identityClientId}`;
  }

  /** The identity's token for the exchange audience. Throws `CredentialError` when the endpoint gives none. */
  async assertion(): Promise<string> {
    try {
      return (await this.#identity.getToken(this.#scope)).token;
    } catch (error) {
      // The SDK's message may quote the endpoint's answer; only its class travels on.
      const reason = error instanceof Error ? error.name : 'no answer';
      throw new CredentialError(
        'credential_unavailable',
        this.describedAs,
        `the managed-identity endpoint gave no token (${reason})`,
        { cause: error },
      );
    }
  }

  async current(): Promise<AppCredentialVersion> {
    // Asked before each tenant token, so an endpoint that is down surfaces as this error, not inside MSAL's.
    await this.assertion();
    const { clientId, ...sdk } = this.#options;
    return {
      version: 'managed-identity',
      expiresOn: undefined,
      forTenant: (tenantId) => new ClientAssertionCredential(tenantId, clientId, () => this.assertion(), sdk),
      msalAuth: () => ({ clientAssertion: () => this.assertion() }),
    };
  }

  refresh(): Promise<AppCredentialVersion> {
    return this.current();
  }
}

/** Builds the configured kind; the vault reader is made only for the kinds that read the vault. */
export function createAppCredential(
  settings: AppCredentialSettings,
  options: TenantCredentialOptions,
  vaultReader: (secretName: string, describedAs: string) => VaultSecretReader,
): AppCredential {
  switch (settings.kind) {
    case 'secret':
      return new SecretAppCredential(
        vaultReader(settings.secretName, `client secret "${settings.secretName}"`),
        settings.secretName,
        options,
      );
    case 'certificate':
      return new CertificateAppCredential(
        vaultReader(settings.certificateName, `certificate "${settings.certificateName}"`),
        settings.certificateName,
        options,
      );
    case 'managed-identity':
      return new ManagedIdentityAppCredential(settings.identityClientId, settings.audience, options);
  }
}
