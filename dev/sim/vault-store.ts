import { randomBytes } from 'node:crypto';
import type { VaultSecretOptions } from './credential-types';
import { SimError } from './sim-error';

/** One version of a Key Vault secret; times are unix seconds, as Key Vault reports them. */
export interface VaultSecretVersion {
  name: string;
  version: string;
  value: string;
  created: number;
  updated: number;
  expires?: number;
  contentType?: string;
  /** A certificate's backing secret (Key Vault manages it; its key is at `kid`). */
  managed?: true;
}

/** The content types of the secret Key Vault keeps behind each certificate version (PEM or PKCS#12). */
export const CERTIFICATE_CONTENT_TYPES: readonly string[] = [
  'application/x-pem-file',
  'application/x-pkcs12',
];

const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The secrets of the simulated Key Vault, every version kept, names case-insensitive as in Key Vault. */
export class VaultStore {
  private readonly secrets = new Map<string, { latest: string; versions: Map<string, VaultSecretVersion> }>();

  /**
   * Stores a new version and makes it the latest. `managed` marks a certificate's backing secret (the control API
   * sets it for the certificate content types; a secret written through Key Vault's own API never is).
   */
  set(
    name: string,
    value: string,
    options: VaultSecretOptions & { managed?: boolean },
    nowMs: number,
  ): VaultSecretVersion {
    const { expiresOn, contentType, managed } = options;
    if (!SECRET_NAME.test(name))
      throw new SimError(400, `Invalid secret name ${name}: letters, digits and '-' only`);
    if (typeof value !== 'string') throw new SimError(400, 'A secret needs a string value');
    if (contentType !== undefined && typeof contentType !== 'string') {
      throw new SimError(400, 'contentType must be a string');
    }
    let expires: number | undefined;
    if (expiresOn !== undefined) {
      const ms = Date.parse(expiresOn);
      if (Number.isNaN(ms)) throw new SimError(400, `expiresOn is not a date: ${expiresOn}`);
      expires = Math.floor(ms / 1000);
    }
    const key = name.toLowerCase();
    const secret = this.secrets.get(key) ?? { latest: '', versions: new Map<string, VaultSecretVersion>() };
    const now = Math.floor(nowMs / 1000);
    const version: VaultSecretVersion = {
      name: secret.versions.values().next().value?.name ?? name,
      version: randomBytes(16).toString('hex'),
      value,
      created: now,
      updated: now,
      ...(expires === undefined ? {} : { expires }),
      ...(contentType === undefined ? {} : { contentType }),
      ...(managed ? { managed: true as const } : {}),
    };
    secret.versions.set(version.version, version);
    secret.latest = version.version;
    this.secrets.set(key, secret);
    return version;
  }

  delete(name: string): void {
    if (!this.secrets.delete(name.toLowerCase())) throw new SimError(404, `No secret ${name}`);
  }

  /** The latest version, or the named one; undefined when either is missing. */
  get(name: string, version?: string): VaultSecretVersion | undefined {
    const secret = this.secrets.get(name.toLowerCase());
    if (!secret) return undefined;
    return secret.versions.get(version ?? secret.latest);
  }
}
