import { SimClient } from '../../dev/sim/sim-client';

/** The run's simulated Microsoft cloud (started by global-setup.ts), driven over its control API. */
export function sim(): SimClient {
  const url = process.env.TEST_SIM_URL;
  if (!url) throw new Error('TEST_SIM_URL is not set: run the tests through `npm test`.');
  return new SimClient(url);
}

/** Connection string of the run's Azurite (started by global-setup.ts). */
export function storageConnectionString(): string {
  const value = process.env.TEST_STORAGE_CONNECTION_STRING;
  if (!value) throw new Error('TEST_STORAGE_CONNECTION_STRING is not set: run the tests through `npm test`.');
  return value;
}
