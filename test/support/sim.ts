import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { SimClient } from '../../dev/sim/sim-client';

/** The run's simulated Microsoft cloud (started by global-setup.ts), driven over its control API. */
export function sim(): SimClient {
  const url = process.env.TEST_SIM_URL;
  if (!url) throw new Error('TEST_SIM_URL is not set: run the tests through `npm test`.');
  return new SimClient(url);
}

let claimed: string | undefined;

/**
 * A storage account of its own for the calling test file (claimed once per file through an exclusive file
 * create, so parallel workers never share one): its tables and queues hold only this file's data.
 */
export function storageConnectionString(): string {
  if (claimed) return claimed;
  const accounts = JSON.parse(process.env.TEST_STORAGE_ACCOUNTS ?? '[]') as string[];
  const dir = process.env.TEST_ACCOUNT_CLAIMS_DIR;
  if (!dir || accounts.length === 0)
    throw new Error('TEST_STORAGE_ACCOUNTS is not set: run the tests through `npm test`.');
  for (const [index, connectionString] of accounts.entries()) {
    try {
      closeSync(openSync(path.join(dir, String(index)), 'wx'));
      claimed = connectionString;
      return connectionString;
    } catch {
      // taken by another test file
    }
  }
  throw new Error('No free test storage account: raise STORAGE_ACCOUNTS in global-setup.ts');
}
