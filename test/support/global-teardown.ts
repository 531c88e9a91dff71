import { rmSync } from 'node:fs';

/** Stops what global-setup.ts started and removes the directory it made for storage account claims. */
export default async function globalTeardown(): Promise<void> {
  const services = globalThis.__driveCrawlerTestServices;
  if (!services) return;
  await Promise.all([services.cloud.close(), services.azurite.stop()]);
  const claims = process.env.TEST_ACCOUNT_CLAIMS_DIR;
  if (claims) rmSync(claims, { recursive: true, force: true });
}
