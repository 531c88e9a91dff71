import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { Secret } from '../config';
import { CredentialError } from '../errors';

/** One version of a Key Vault secret as the app reads it. */
export interface VaultSecret {
  value: Secret;
  /** Key Vault's version ID: a new one means the secret (or the certificate behind it) was rotated. */
  version: string;
  /** The secret's `expiresOn` in the vault (a certificate's backing secret carries the certificate's end). */
  expiresOn: Date | undefined;
  /** `application/x-pem-file` or `application/x-pkcs12` for a certificate's backing secret. */
  contentType: string | undefined;
}

export interface VaultSecretReaderOptions {
  vaultUrl: string;
  /** The secret's name; a certificate's backing secret has the certificate's name. */
  secretName: string;
  /** What the secret is, for messages: `client secret "name"`, `certificate "name"`. */
  describedAs: string;
  /** The app's own identity (managed identity in Azure). */
  credential: TokenCredential;
  /** How long a read is reused before the vault is asked again; rotation is picked up within this time. */
  cacheMs?: number;
  now?: () => number;
  /** Set for a vault whose host is not a Key Vault domain (the simulator). */
  disableChallengeResourceVerification?: boolean;
}

const DEFAULT_CACHE_MS = 5 * 60_000;

/**
 * Reads one Key Vault secret with a per-process cache. `refresh()` bypasses the cache, for when Entra ID rejects
 * what the cache holds after a rotation. Failures are `CredentialError`s that name the secret, never its value.
 */
export class VaultSecretReader {
  readonly #client: SecretClient;
  readonly #name: string;
  readonly #describedAs: string;
  readonly #cacheMs: number;
  readonly #now: () => number;
  #cached: { secret: VaultSecret; readAt: number } | undefined;
  #inFlight: Promise<VaultSecret> | undefined;

  constructor(options: VaultSecretReaderOptions) {
    this.#client = new SecretClient(options.vaultUrl, options.credential, {
      disableChallengeResourceVerification: options.disableChallengeResourceVerification ?? false,
      retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 },
    });
    this.#name = options.secretName;
    this.#describedAs = options.describedAs;
    this.#cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The current version, from the cache while it is fresh. Throws `CredentialError`. */
  async get(): Promise<VaultSecret> {
    const cached = this.#cached;
    if (cached && this.#now() - cached.readAt < this.#cacheMs) return cached.secret;
    return this.refresh();
  }

  /** Reads the latest version from the vault now (concurrent callers share one read). */
  refresh(): Promise<VaultSecret> {
    this.#inFlight ??= this.#read().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #read(): Promise<VaultSecret> {
    let result;
    try {
      result = await this.#client.getSecret(this.#name);
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) {
        throw new CredentialError('credential_missing', this.#describedAs, 'not found in the vault', {
          cause: error,
        });
      }
      const detail = `the vault could not be read (${status ?? 'no answer'})`;
      throw new CredentialError('credential_unavailable', this.#describedAs, detail, { cause: error });
    }
    if (!result.value || result.properties.enabled === false) {
      throw new CredentialError('credential_missing', this.#describedAs, 'has no enabled value in the vault');
    }
    const secret: VaultSecret = {
      value: new Secret(result.value),
      version: result.properties.version ?? '',
      expiresOn: result.properties.expiresOn,
      contentType: result.properties.contentType,
    };
    this.#cached = { secret, readAt: this.#now() };
    return secret;
  }
}
