import type { TokenCredential } from '@azure/identity';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import type { AppConfig } from '../config';

/**
 * The app's own identity (Key Vault, identity-based storage): `DefaultAzureCredential`, which honours
 * `AZURE_TOKEN_CREDENTIALS` (managed identity in Azure, `EnvironmentCredential` in tests and the demo), on the
 * configured authority host, with instance discovery off for a non-public host.
 */
export function createHostIdentity(config: AppConfig): TokenCredential {
  return new DefaultAzureCredential({
    authorityHost: config.authorityHost,
    disableInstanceDiscovery: !config.authorityIsPublicCloud,
  });
}

/** The identity for storage when `AzureWebJobsStorage__credential` is `managedidentity` (as the host reads it). */
export function createStorageCredential(config: AppConfig, hostIdentity: TokenCredential): TokenCredential {
  const storage = config.storage;
  if (storage.kind === 'identity' && storage.credential?.toLowerCase() === 'managedidentity') {
    return storage.clientId
      ? new ManagedIdentityCredential({ clientId: storage.clientId })
      : new ManagedIdentityCredential();
  }
  return hostIdentity;
}
