import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAzurite } from '../../dev/azurite';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';

/** Storage accounts handed out to test files, one each, so their tables never mix. */
const STORAGE_ACCOUNTS = 48;

/** Simulated seconds per real second for tenants that do not set their own scale. */
const TEST_TIME_SCALE = 60;

/**
 * Starts Azurite and the simulated Microsoft cloud once for the whole run. Jest spawns its workers after this
 * returns, so they inherit the environment set here; the handles stay on globalThis for global-teardown.ts.
 */
export default async function globalSetup(): Promise<void> {
  if (!process.env.NODE_EXTRA_CA_CERTS?.includes('.sim')) {
    throw new Error(
      'Run the tests through `npm test` (dev/with-test-tls.ts), so every process trusts the test CA.',
    );
  }
  const [azurite, cloud] = await Promise.all([
    startAzurite({ extraAccounts: STORAGE_ACCOUNTS }),
    startSimulatedCloud({ timeScale: TEST_TIME_SCALE }),
  ]);
  globalThis.__driveCrawlerTestServices = { azurite, cloud };
  process.env.TEST_STORAGE_CONNECTION_STRING = azurite.connectionString;
  process.env.TEST_STORAGE_ACCOUNTS = JSON.stringify(
    azurite.accounts.map((account) => account.connectionString),
  );
  process.env.TEST_ACCOUNT_CLAIMS_DIR = mkdtempSync(path.join(tmpdir(), 'drive-crawler-claims-'));
  process.env.TEST_SIM_URL = cloud.url;
}
