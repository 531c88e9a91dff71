import type { TokenCredential } from '@azure/identity';
import { ManagedIdentityCredential } from '@azure/identity';
import { createNoopMeter } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter } from '@opentelemetry/sdk-metrics';
import { ConfigError } from '../../src/errors';
import { CrawlMetrics, METRICS } from '../../src/telemetry/crawl-metrics';
import { readTelemetrySettings } from '../../src/telemetry-config';
import {
  TELEMETRY_OFF,
  azureMonitorExporterOptions,
  startTelemetry,
} from '../../src/telemetry/telemetry-setup';
import { createTestApp } from '../support/test-app';

/**
 * How telemetry is set up from the environment (docs/telemetry.md). The Azure Monitor exporter is never started
 * here (it would contact Microsoft's endpoints): its options are built and checked instead.
 */
const IKEY = '0f8fad5b-d9cb-469f-a165-70867728950e';
const CONNECTION_STRING =
  `InstrumentationKey=${IKEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;` +
  'LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId=7b1ad3e1-0b1c-4c57-9a8e-1d6b3c9d6e11';
const CLIENT_ID = '6f1d8b1e-8c4e-4f0a-9d3b-2a7c5e9f4b10';

describe('telemetry setup', () => {
  /** A credential factory that only notes which identity it was asked for. */
  const fakeCredentials = () => {
    const asked: Array<string | undefined> = [];
    const credential: TokenCredential = { getToken: () => Promise.resolve(null) };
    return {
      asked,
      credential,
      credentialFor: (clientId: string | undefined) => {
        asked.push(clientId);
        return credential;
      },
    };
  };

  it('builds the exporter options from the connection string and the identity the authentication string names', () => {
    const settings = readTelemetrySettings({
      APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${CLIENT_ID.toUpperCase()};Authorization=AAD`,
    });
    expect(settings).toBeDefined();
    const fake = fakeCredentials();
    expect(azureMonitorExporterOptions(settings!, fake.credentialFor)).toEqual({
      connectionString: CONNECTION_STRING,
      credential: fake.credential,
    });
    expect(fake.asked).toEqual([CLIENT_ID]);
    // By default, a managed identity credential (constructed only: it asks for no token until an export).
    expect(azureMonitorExporterOptions(settings!).credential).toBeInstanceOf(ManagedIdentityCredential);
  });

  it('uses the system-assigned identity when the authentication string names no client ID', () => {
    const settings = readTelemetrySettings({
      APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
    });
    const fake = fakeCredentials();
    expect(azureMonitorExporterOptions(settings!, fake.credentialFor).credential).toBe(fake.credential);
    expect(fake.asked).toEqual([undefined]);
  });

  it('sends with the key alone without an authentication string', () => {
    const settings = readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING });
    const fake = fakeCredentials();
    expect(azureMonitorExporterOptions(settings!, fake.credentialFor)).toEqual({
      connectionString: CONNECTION_STRING,
    });
    expect(fake.asked).toEqual([]);
  });

  it('keeps the connection string out of logs and JSON', () => {
    const settings = readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING });
    expect(JSON.stringify(settings)).not.toContain(IKEY);
    expect(String(settings?.connectionString)).toBe('[redacted]');
  });

  it('names every malformed setting in one error, never its value', () => {
    let thrown: unknown;
    try {
      readTelemetrySettings({
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=secret-looking-value',
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=not-a-guid;Authorization=AAD',
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const problems = (thrown as ConfigError).problems;
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^APPLICATIONINSIGHTS_CONNECTION_STRING /);
    expect(problems[1]).toMatch(/^APPLICATIONINSIGHTS_AUTHENTICATION_STRING /);
    expect((thrown as Error).message).not.toMatch(/secret-looking-value|not-a-guid/);
    for (const [name, value] of [
      [
        'APPLICATIONINSIGHTS_CONNECTION_STRING',
        `InstrumentationKey=${IKEY};IngestionEndpoint=http://plain.example/`,
      ],
      ['APPLICATIONINSIGHTS_AUTHENTICATION_STRING', 'Authorization=Basic'],
      ['APPLICATIONINSIGHTS_AUTHENTICATION_STRING', `ClientId=${CLIENT_ID}`],
      ['APPLICATIONINSIGHTS_AUTHENTICATION_STRING', `ClientId=${CLIENT_ID};Authorization=AAD;Secret=x`],
    ] as const) {
      expect(() =>
        readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING, [name]: value }),
      ).toThrow(ConfigError);
    }
  });

  it('is off without a connection string: the no-op meter, no provider, no exit hook', async () => {
    expect(readTelemetrySettings({})).toBeUndefined();
    expect(
      readTelemetrySettings({
        APPLICATIONINSIGHTS_CONNECTION_STRING: '  ',
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${CLIENT_ID};Authorization=AAD`,
      }),
    ).toBeUndefined();
    const hooks = process.listenerCount('beforeExit');
    const telemetry = startTelemetry(undefined);
    expect(telemetry).toBe(TELEMETRY_OFF);
    expect(telemetry.exporting).toBe(false);
    expect(telemetry.meter).toBe(createNoopMeter());
    expect(process.listenerCount('beforeExit')).toBe(hooks);
    await telemetry.shutdown();
  });

  it('builds an app whose metrics go nowhere when the environment has no connection string', async () => {
    const app = await createTestApp();
    expect(app.context.telemetry.exporting).toBe(false);
    expect(app.context.telemetry.meter).toBe(createNoopMeter());
  });

  it('exports what was recorded when shut down, and stops listening for the exit', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
    const settings = readTelemetrySettings({
      APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING,
      WEBSITE_SITE_NAME: 'func-drivecrawler-prod',
    });
    const hooks = process.listenerCount('beforeExit');
    // The in-memory exporter stands in for Azure Monitor's; the interval is long, so only shutdown() exports.
    const telemetry = startTelemetry(settings, { exporter, exportIntervalMs: 86_400_000 });
    expect(telemetry.exporting).toBe(true);
    expect(process.listenerCount('beforeExit')).toBe(hooks + 1);
    new CrawlMetrics(telemetry.meter).recordConsentOutcome({ outcome: 'declined', reason: 'declined' });
    await telemetry.shutdown();
    await telemetry.shutdown();
    expect(process.listenerCount('beforeExit')).toBe(hooks);
    const exported = exporter
      .getMetrics()
      .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
    expect(exported.map((metric) => metric.descriptor.name)).toContain(METRICS.consentOutcomes);
    // The function app's name is the rows' `cloud_RoleName`, as on the host's own telemetry.
    expect(exporter.getMetrics()[0]?.resource.attributes).toMatchObject({
      'service.name': 'func-drivecrawler-prod',
      'service.version': expect.any(String) as unknown,
    });
  });

  it('names the role drive-crawler where the platform names no site', () => {
    const settings = readTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING });
    expect(settings?.roleName).toBe('drive-crawler');
    expect(
      readTelemetrySettings({
        APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING,
        WEBSITE_SITE_NAME: ' ',
      })?.roleName,
    ).toBe('drive-crawler');
  });
});
