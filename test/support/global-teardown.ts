/** Stops what global-setup.ts started. */
export default async function globalTeardown(): Promise<void> {
  const services = globalThis.__driveCrawlerTestServices;
  if (!services) return;
  await Promise.all([services.cloud.close(), services.azurite.stop()]);
}
