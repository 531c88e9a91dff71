import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { Secret } from '../config';
import { SecretError } from '../errors';

/** The app registration's client secret as read from Key Vault. */
export interface ClientSecret {
  value: Secret;
  /** Key Vault's version ID: a new one means the secret was rotated. */
  version: string;
  /** The secret's `expiresOn` in the vault, which should be the app registration secret's end date. */
  expiresOn: Date | undefined;
}

export interface ClientSecretSourceOptions {
  vaultUrl: string;
  secretName: string;
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
 * Reads the app's client secret from Key Vault with a per-process cache. `refresh()` bypasses the cache, for
 * when Entra ID rejects the cached value (AADSTS7000215/7000222) after a rotation.
 */
export class ClientSecretSource {
  readonly #client: SecretClient;
  readonly #name: string;
  readonly #cacheMs: number;
  readonly #now: () => number;
  #cached: { secret: ClientSecret; readAt: number } | undefined;
  #inFlight: Promise<ClientSecret> | undefined;

  constructor(options: ClientSecretSourceOptions) {
    this.#client = new SecretClient(options.vaultUrl, options.credential, {
      disableChallengeResourceVerification: options.disableChallengeResourceVerification ?? false,
      retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 },
    });
    this.#name = options.secretName;
    this.#cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
    this.#now = options.now ?? Date.now;
  }

  get secretName(): string {
    return this.#name;
  }

  /** The current secret, from the cache while it is fresh. Throws `SecretError`. */
  async get(): Promise<ClientSecret> {
    const cached = this.#cached;
    if (cached && this.#now() - cached.readAt < this.#cacheMs) return cached.secret;
    return this.refresh();
  }

  /** Reads the latest version from the vault now (concurrent callers share one read). */
  refresh(): Promise<ClientSecret> {
    this.#inFlight ??= this.#read().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #read(): Promise<ClientSecret> {
    let result;
    try {
      result = await this.#client.getSecret(this.#name);
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) {
        throw new SecretError('secret_missing', this.#name, 'not found in the vault', { cause: error });
      }
      throw new SecretError(
        'secret_unavailable',
        this.#name,
        `the vault could not be read (${status ?? 'no answer'})`,
        {
          cause: error,
        },
      );
    }
    if (!result.value || result.properties.enabled === false) {
      throw new SecretError('secret_missing', this.#name, 'has no enabled value');
    }
    const secret: ClientSecret = {
      value: new Secret(result.value),
      version: result.properties.version ?? '',
      expiresOn: result.properties.expiresOn,
    };
    this.#cached = { secret, readAt: this.#now() };
    return secret;
  }
}

/** Days left before the secret expires (negative once expired); undefined when the vault has no end date. */
export function daysUntilExpiry(secret: ClientSecret, now: number = Date.now()): number | undefined {
  if (!secret.expiresOn) return undefined;
  return (secret.expiresOn.getTime() - now) / 86_400_000;
}
