import { ClientSecretCredential } from '@azure/identity';

/** What the operator credential needs of the simulator's environment (`SimEnvironment`, or a process's env). */
type OperatorEnv = Partial<
  Record<'AZURE_TENANT_ID' | 'AZURE_CLIENT_ID' | 'AZURE_CLIENT_SECRET' | 'AUTHORITY_HOST', string>
>;

/**
 * The operator's own identity in the simulated cloud (Key Vault access), pinned: the product's default credential
 * chain would first probe for a managed identity, which a local run does not have.
 */
export function operatorCredential(env: OperatorEnv): ClientSecretCredential {
  return new ClientSecretCredential(
    env.AZURE_TENANT_ID ?? '',
    env.AZURE_CLIENT_ID ?? '',
    env.AZURE_CLIENT_SECRET ?? '',
    {
      authorityHost: env.AUTHORITY_HOST,
      disableInstanceDiscovery: true,
    },
  );
}
