/**
 * `npm run sim`: starts Azurite (in memory) and the simulated Microsoft cloud, registers a demo app (its client
 * secret stored in the simulated Key Vault as `graph-app-client-secret`), creates two small demo tenants (one
 * consented, one waiting for consent), prints `export NAME=value` lines for `serve` and `crawl` on stdout and a
 * note on stderr, and runs until Ctrl-C. Optional settings: `PORT` (of `npm run serve`, for the redirect URI),
 * `SIM_PORT` (the simulator's port, default any), `SIM_TIME_SCALE` (default 1: real time).
 */
import { randomBytes } from 'node:crypto';
import { startAzurite } from './azurite';
import { startSimulatedCloud } from './sim/simulated-cloud';
import { ensureTestTls } from './tls/test-ca';

const SECRET_NAME = 'graph-app-client-secret';
const SECRET_LIFETIME_MS = 180 * 86_400_000;

function say(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** Quotes a value for a POSIX shell (`export NAME='value'`). */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!(Number.isFinite(value) && value >= 0))
    throw new Error(`${name} must be a non-negative number, not ${raw}`);
  return value;
}

async function main(): Promise<void> {
  const servePort = positiveNumber('PORT', 7071);
  const simPort = positiveNumber('SIM_PORT', 0);
  const timeScale = positiveNumber('SIM_TIME_SCALE', 1) || 1;
  const { bundlePath } = ensureTestTls();

  const [azurite, cloud] = await Promise.all([
    startAzurite(),
    startSimulatedCloud({ timeScale, port: simPort }),
  ]);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('\nStopping the simulator and Azurite...');
    await Promise.allSettled([cloud.close(), azurite.stop()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());

  const env = await cloud.env();
  const redirectUri = `http://127.0.0.1:${servePort}/api/consent/callback`;
  const secret = `demo~${randomBytes(24).toString('base64url')}`;
  const { clientId } = await cloud.createApp({
    displayName: 'Drive Crawler (local)',
    secrets: [{ value: secret, expiresOn: new Date(Date.now() + SECRET_LIFETIME_MS).toISOString() }],
    redirectUris: [redirectUri],
    groupMembershipClaims: 'DirectoryRole',
  });
  await cloud.setVaultSecret(SECRET_NAME, secret, {
    expiresOn: new Date(Date.now() + SECRET_LIFETIME_MS).toISOString(),
  });
  const consented = await cloud.createTenant({
    seed: 101,
    users: 40,
    domain: 'contoso.onmicrosoft.test',
    consentedApps: [{ clientId }],
  });
  const waiting = await cloud.createTenant({ seed: 202, users: 25, domain: 'fabrikam.onmicrosoft.test' });

  const exports: Record<string, string> = {
    APP_CLIENT_ID: clientId,
    KEY_VAULT_URL: env.KEY_VAULT_URL,
    KEY_VAULT_ANY_HOST: env.KEY_VAULT_ANY_HOST,
    APP_CLIENT_SECRET_NAME: SECRET_NAME,
    CONSENT_REDIRECT_URI: redirectUri,
    HOME_TENANT_ID: env.AZURE_TENANT_ID,
    ONBOARDING: 'invite',
    AUTHORITY_HOST: env.AUTHORITY_HOST,
    AZURE_AUTHORITY_HOST: env.AZURE_AUTHORITY_HOST,
    GRAPH_ENDPOINT: env.GRAPH_ENDPOINT,
    AzureWebJobsStorage: azurite.connectionString,
    AZURE_TOKEN_CREDENTIALS: env.AZURE_TOKEN_CREDENTIALS,
    AZURE_TENANT_ID: env.AZURE_TENANT_ID,
    AZURE_CLIENT_ID: env.AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET: env.AZURE_CLIENT_SECRET,
    NODE_EXTRA_CA_CERTS: bundlePath,
    CRAWL_SCHEDULE: '0 */5 * * * *',
    PORT: String(servePort),
  };
  process.stdout.write(
    Object.entries(exports)
      .map(([name, value]) => `export ${name}=${shellQuote(value)}\n`)
      .join(''),
  );

  say('');
  say(
    `Simulated Microsoft cloud: ${cloud.url} (Entra ID, Graph /v1.0, Key Vault /secrets; time scale ${timeScale})`,
  );
  say(`Azurite: ${azurite.tableEndpoint} (tables), ${azurite.queueEndpoint} (queues)`);
  say(`Demo app ${clientId}; its secret is in the vault as ${SECRET_NAME}.`);
  say(
    `Consented tenant: ${consented.domain} (${consented.tenantId}), ${consented.licensedUsers} licensed users.`,
  );
  say(`Waiting for consent: ${waiting.domain} (${waiting.tenantId}).`);
  say(
    'Copy the export lines above into the shell that runs `npm run serve` or `npm run crawl`, or start this',
  );
  say('as `npm run --silent sim > sim.env &` and `source sim.env` there.');
  say(
    `To onboard ${waiting.domain}: create an invitation (curl -X POST http://127.0.0.1:${servePort}/api/invitations), ` +
      `open its link, and sign in as admin@${waiting.domain} (user1@${waiting.domain} is not an admin).`,
  );
  say('Press Ctrl-C to stop.');
}

main().catch((error: unknown) => {
  say(`npm run sim failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
