import { randomUUID } from 'node:crypto';
import { createAppCertificate } from './sim/app-certificate';
import type { ManagedIdentityInfo, SimControl } from './sim/types';

export type AppCredentialKind = 'secret' | 'certificate' | 'managed-identity';

/**
 * The app registration's credential of each kind in the simulator, set up as an operator does in Azure
 * (docs/credentials.md): a PEM certificate in the vault and on the app, or a managed identity trusted as a
 * federated credential, its endpoint put into this process's environment (where the SDK reads it) and returned
 * in `env` for a child process. The secret kind is the caller's (its value and end dates vary by caller).
 */
export async function setUpAppCredential(
  cloud: SimControl,
  clientId: string,
  kind: AppCredentialKind,
): Promise<{ env: Record<string, string>; certificateName?: string; identity?: ManagedIdentityInfo }> {
  if (kind === 'certificate') {
    const certificateName = `app-cert-${randomUUID().slice(0, 8)}`;
    const certificate = createAppCertificate({ commonName: `Drive Crawler ${clientId.slice(0, 8)}` });
    await cloud.addAppCertificate(clientId, { certificatePem: certificate.certificatePem });
    await cloud.setVaultSecret(certificateName, certificate.pem, {
      contentType: 'application/x-pem-file',
      expiresOn: certificate.notAfter.toISOString(),
    });
    return { env: { APP_CREDENTIAL: kind, APP_CERTIFICATE_NAME: certificateName }, certificateName };
  }
  if (kind === 'managed-identity') {
    const identity = await cloud.createManagedIdentity({});
    const env = await cloud.env();
    await cloud.addFederatedCredential(clientId, {
      name: 'drive-crawler',
      issuer: `${env.AUTHORITY_HOST}/${identity.tenantId}/v2.0`,
      subject: identity.principalId,
      audiences: ['api://AzureADTokenExchange'],
    });
    const endpoint = await cloud.managedIdentityEnv();
    Object.assign(process.env, endpoint);
    return {
      env: { APP_CREDENTIAL: kind, APP_FEDERATED_IDENTITY_CLIENT_ID: identity.clientId, ...endpoint },
      identity,
    };
  }
  return { env: {} };
}
