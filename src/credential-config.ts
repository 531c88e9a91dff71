import { z } from 'zod';
import { GUID } from './guid';

/**
 * The settings of the app registration's credential (`APP_CREDENTIAL`, docs/credentials.md), parsed as part of
 * `config.ts`: each kind requires its own settings and refuses another kind's, so a bad combination stops the
 * program with one message.
 */

/** Where the secret or certificate lives. */
export interface VaultSettings {
  url: string;
  /** `KEY_VAULT_ANY_HOST`: a vault that is not a Key Vault host is allowed (a local simulator). */
  anyHost: boolean;
}

export type AppCredentialSettings =
  | { kind: 'secret'; vault: VaultSettings; secretName: string }
  | { kind: 'certificate'; vault: VaultSettings; certificateName: string }
  | {
      kind: 'managed-identity';
      /** The user-assigned identity that the app registration trusts as a federated credential. */
      identityClientId: string;
      /** The token-exchange audience of the cloud `AUTHORITY_HOST` is in. */
      audience: string;
    };

export type AppCredentialKind = AppCredentialSettings['kind'];

const VAULT_NAME = /^[0-9A-Za-z-]{1,127}$/;

/** A setting that may be absent: trimmed, and an empty value counts as unset (config.ts uses it too). */
export const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

/** The credential's settings, parsed on their own so their problems are listed whatever else is wrong. */
const credentialObject = z.object({
  APP_CREDENTIAL: optionalText.pipe(
    z
      .enum(['secret', 'certificate', 'managed-identity'], {
        error: 'APP_CREDENTIAL must be secret, certificate or managed-identity',
      })
      .default('secret'),
  ),
  KEY_VAULT_URL: optionalText,
  KEY_VAULT_ANY_HOST: optionalText.pipe(
    z.enum(['true', 'false'], { error: 'KEY_VAULT_ANY_HOST must be true or false' }).optional(),
  ),
  APP_CLIENT_SECRET_NAME: optionalText.pipe(
    z.string().regex(VAULT_NAME, 'APP_CLIENT_SECRET_NAME must be 1-127 letters, digits or dashes').optional(),
  ),
  APP_CERTIFICATE_NAME: optionalText.pipe(
    z.string().regex(VAULT_NAME, 'APP_CERTIFICATE_NAME must be 1-127 letters, digits or dashes').optional(),
  ),
  APP_FEDERATED_IDENTITY_CLIENT_ID: optionalText.pipe(
    z.string().regex(GUID, 'APP_FEDERATED_IDENTITY_CLIENT_ID must be a GUID (a client ID)').optional(),
  ),
});
type CredentialFields = z.infer<typeof credentialObject>;

/** Each kind's own settings: another kind's are refused. */
const OWN_SETTINGS: Record<AppCredentialKind, readonly (keyof CredentialFields)[]> = {
  secret: ['APP_CLIENT_SECRET_NAME'],
  certificate: ['APP_CERTIFICATE_NAME'],
  'managed-identity': ['APP_FEDERATED_IDENTITY_CLIENT_ID'],
};

/** Whether `url` names a Key Vault host of Azure's public, US Government or China cloud. */
export function isKeyVaultHost(url: string): boolean {
  return /\.vault\.(azure\.net|usgovcloudapi\.net|azure\.cn)$/i.test(new URL(url).hostname);
}

/**
 * The audience a managed identity's token must carry to be exchanged, per cloud ("Configure an application to
 * trust a managed identity"): US Government and China have their own.
 */
export function tokenExchangeAudience(authorityHost: string): string {
  const host = new URL(authorityHost).hostname.toLowerCase();
  if (host.endsWith('.microsoftonline.us')) return 'api://AzureADTokenExchangeUSGov';
  if (host.endsWith('.chinacloudapi.cn') || host.endsWith('.microsoftonline.cn')) {
    return 'api://AzureADTokenExchangeChina';
  }
  return 'api://AzureADTokenExchange';
}

function vaultProblems(data: CredentialFields): string[] {
  const url = data.KEY_VAULT_URL;
  const kind = data.APP_CREDENTIAL;
  if (!url) return [`KEY_VAULT_URL is required with APP_CREDENTIAL=${kind} (the vault holding the ${kind})`];
  if (!URL.canParse(url)) return ['KEY_VAULT_URL must be an absolute URL'];
  if (new URL(url).protocol !== 'https:') return ['KEY_VAULT_URL must use https'];
  if (data.KEY_VAULT_ANY_HOST !== 'true' && !isKeyVaultHost(url)) {
    return [
      'KEY_VAULT_URL must be a Key Vault host (*.vault.azure.net, *.vault.usgovcloudapi.net or *.vault.azure.cn); ' +
        'KEY_VAULT_ANY_HOST=true allows another for a local simulator only (the Key Vault client then skips its ' +
        "check of the challenge's resource)",
    ];
  }
  return [];
}

/**
 * The credential's settings, or every problem with them. The raw environment also tells whether the platform
 * provides the managed-identity endpoint (read by the SDK; checked here so that nothing ever probes the instance
 * metadata address instead). `authorityHost` picks the token-exchange audience.
 */
export function parseCredentialSettings(
  env: Record<string, string | undefined>,
  authorityHost: string,
): { settings: AppCredentialSettings } | { problems: string[] } {
  const parsed = credentialObject.safeParse(env);
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => issue.message) };
  const data = parsed.data;
  const kind = data.APP_CREDENTIAL;
  const problems = (Object.keys(OWN_SETTINGS) as AppCredentialKind[])
    .filter((other) => other !== kind)
    .flatMap((other) => OWN_SETTINGS[other].filter((name) => data[name] !== undefined))
    .map((name) => `${name} belongs to another credential kind than APP_CREDENTIAL=${kind}: remove it`);
  if (kind !== 'managed-identity') problems.push(...vaultProblems(data));
  if (kind === 'certificate' && !data.APP_CERTIFICATE_NAME) {
    problems.push(
      'APP_CERTIFICATE_NAME is required with APP_CREDENTIAL=certificate (the Key Vault certificate)',
    );
  }
  if (kind === 'managed-identity') {
    if (!data.APP_FEDERATED_IDENTITY_CLIENT_ID) {
      problems.push(
        'APP_FEDERATED_IDENTITY_CLIENT_ID is required with APP_CREDENTIAL=managed-identity (the client ID of ' +
          'the user-assigned identity the app registration trusts)',
      );
    }
    if (!env.IDENTITY_ENDPOINT?.trim() || !env.IDENTITY_HEADER?.trim()) {
      problems.push(
        'APP_CREDENTIAL=managed-identity needs the managed-identity endpoint that App Service and Functions ' +
          'provide (IDENTITY_ENDPOINT and IDENTITY_HEADER are not set)',
      );
    }
  }
  if (problems.length > 0) return { problems };
  const vault = { url: data.KEY_VAULT_URL ?? '', anyHost: data.KEY_VAULT_ANY_HOST === 'true' };
  switch (kind) {
    case 'secret':
      return {
        settings: { kind, vault, secretName: data.APP_CLIENT_SECRET_NAME ?? 'graph-app-client-secret' },
      };
    case 'certificate':
      return { settings: { kind, vault, certificateName: data.APP_CERTIFICATE_NAME ?? '' } };
    case 'managed-identity':
      return {
        settings: {
          kind,
          identityClientId: (data.APP_FEDERATED_IDENTITY_CLIENT_ID ?? '').toLowerCase(),
          audience: tokenExchangeAudience(authorityHost),
        },
      };
  }
}
