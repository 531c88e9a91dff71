/**
 * Where the product's metrics go (docs/telemetry.md). With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, a meter
 * provider exports them to Application Insights every minute through the Azure Monitor exporter, authenticated
 * with Entra ID as `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` names (the app's managed identity, as infra/ sets
 * it); without it, the API's no-op meter records nothing and costs nothing.
 *
 * Only metrics leave the worker this way: its logs reach Application Insights through the Functions host, which
 * also sends the invocations (host.json), so nothing is sent twice.
 */
import type { TokenCredential } from '@azure/identity';
import { ManagedIdentityCredential } from '@azure/identity';
import type { AzureMonitorExporterOptions } from '@azure/monitor-opentelemetry-exporter';
import { AzureMonitorMetricExporter } from '@azure/monitor-opentelemetry-exporter';
import type { Meter } from '@opentelemetry/api';
import { createNoopMeter } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { TelemetrySettings } from '../telemetry-config';
import { VERSION } from '../version';
import { METER_NAME } from './crawl-metrics';

/** The credential of the identity the authentication string names (the system-assigned one without a client ID). */
export function managedIdentityCredential(clientId: string | undefined): TokenCredential {
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/** The Azure Monitor exporter's options: the connection string, and the managed identity's credential if named. */
export function azureMonitorExporterOptions(
  settings: TelemetrySettings,
  credentialFor: (clientId: string | undefined) => TokenCredential = managedIdentityCredential,
): AzureMonitorExporterOptions {
  return {
    connectionString: settings.connectionString.reveal(),
    ...(settings.entra ? { credential: credentialFor(settings.entra.clientId) } : {}),
  };
}

/** The product's meter and the way to flush it. */
export interface Telemetry {
  /** True when metrics leave the process (a connection string is set). */
  exporting: boolean;
  meter: Meter;
  /** Exports what was recorded since the last export and stops; safe to call more than once. */
  shutdown(): Promise<void>;
}

/** Application Insights aggregates custom metrics by the minute; a run's figures leave within one. */
const EXPORT_INTERVAL_MS = 60_000;

/** Telemetry off: the API's no-op meter, no provider, no timer. */
export const TELEMETRY_OFF: Telemetry = {
  exporting: false,
  meter: createNoopMeter(),
  shutdown: () => Promise.resolve(),
};

/**
 * Starts exporting metrics when `settings` are given (an exporter built from them, or `exporter` in tests); the
 * last figures are flushed when the process runs out of work (`beforeExit`), or by `shutdown()`.
 */
export function startTelemetry(
  settings: TelemetrySettings | undefined,
  options: { exporter?: PushMetricExporter; exportIntervalMs?: number } = {},
): Telemetry {
  if (!settings) return TELEMETRY_OFF;
  const exporter = options.exporter ?? new AzureMonitorMetricExporter(azureMonitorExporterOptions(settings));
  const provider = new MeterProvider({
    // Without a service name the exporter reports `unknown_service:node` as every row's `cloud_RoleName`.
    resource: resourceFromAttributes({ 'service.name': settings.roleName, 'service.version': VERSION }),
    readers: [
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: options.exportIntervalMs ?? EXPORT_INTERVAL_MS,
      }),
    ],
  });
  let stopped: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    process.removeListener('beforeExit', onBeforeExit);
    // A failed export is the exporter's to retry or drop; ending the process never waits on it or fails for it.
    stopped ??= provider.shutdown().catch(() => undefined);
    return stopped;
  };
  const onBeforeExit = (): void => void shutdown();
  process.once('beforeExit', onBeforeExit);
  return { exporting: true, meter: provider.getMeter(METER_NAME, VERSION), shutdown };
}
