/**
 * The credentials an app registration can hold besides secrets (certificates, federated identity credentials) and
 * the managed identities that live in the operator's tenant, as the control API takes and returns them
 * (dev/sim/README.md, "App credentials").
 */

/** A certificate's public part, as uploaded to an app registration ("Certificates & secrets"). */
export interface AppCertificateSpec {
  /** `-----BEGIN CERTIFICATE-----` PEM; only the first certificate in it counts. */
  certificatePem: string;
}

/**
 * A federated identity credential of an app registration: Entra ID accepts a token from `issuer` about `subject`
 * for one of `audiences` in place of a secret. Matching is exact and case-sensitive, as Entra ID's is.
 */
export interface FederatedCredentialSpec {
  /** Unique per app: 3 to 120 letters, digits, `-` or `_`, starting with a letter or digit. */
  name: string;
  issuer: string;
  subject: string;
  /** For a managed identity: `api://AzureADTokenExchange` (US Government `...USGov`, China `...China`). */
  audiences: string[];
}

/** A user-assigned managed identity to create; IDs default to new random GUIDs. */
export interface ManagedIdentitySpec {
  clientId?: string;
  principalId?: string;
}

/** A user-assigned managed identity: its application (client) ID, its object (principal) ID and its tenant. */
export interface ManagedIdentityInfo {
  clientId: string;
  principalId: string;
  /** Always the operator's tenant, where the identity lives. */
  tenantId: string;
}

/** What App Service and Functions put in the environment of an app with a managed identity. */
export interface ManagedIdentityEnv {
  IDENTITY_ENDPOINT: string;
  IDENTITY_HEADER: string;
}

/** How a Key Vault secret version is stored: its end date, and the content type of a certificate's secret. */
export interface VaultSecretOptions {
  /** ISO 8601. */
  expiresOn?: string;
  /**
   * `application/x-pem-file` or `application/x-pkcs12` make the version a certificate's backing secret, as Key
   * Vault keeps one per certificate version: `managed: true` and a `kid`. Any other value is just stored.
   */
  contentType?: string;
}
