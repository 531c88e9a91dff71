/**
 * The Application Insights settings (`APPLICATIONINSIGHTS_CONNECTION_STRING`, `..._AUTHENTICATION_STRING`), parsed
 * for `config.ts` like every other setting (docs/telemetry.md): the Functions host reads them too.
 */
import { Secret } from './secret';
import { ConfigError } from './errors';
import { GUID } from './guid';

/** The two settings the Functions host reads too (docs/telemetry.md), parsed. */
export interface TelemetrySettings {
  /** `APPLICATIONINSIGHTS_CONNECTION_STRING`: the component's instrumentation key and ingestion endpoint. */
  connectionString: Secret;
  /**
   * From `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`Authorization=AAD`, with `ClientId=` for a user-assigned
   * identity): telemetry is sent with the managed identity's Entra token. Absent: sent with the key alone, which
   * a component with local authentication off (as infra/ makes it) refuses.
   */
  entra: { clientId: string | undefined } | undefined;
  /**
   * The metrics' `service.name`, which Application Insights shows as `cloud_RoleName`: `WEBSITE_SITE_NAME` (the
   * function app's name, which the platform sets and the host's own telemetry carries), else `drive-crawler`.
   */
  roleName: string;
}

/** The role name where the platform names no site (a local run). */
export const DEFAULT_ROLE_NAME = 'drive-crawler';

/** `Key=value;Key=value` (connection and authentication strings alike), keys lower-cased; undefined if malformed. */
function parsePairs(text: string): Map<string, string> | undefined {
  const pairs = new Map<string, string>();
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const at = part.indexOf('=');
    if (at <= 0) return undefined;
    const key = part.slice(0, at).trim().toLowerCase();
    if (pairs.has(key)) return undefined;
    pairs.set(key, part.slice(at + 1).trim());
  }
  return pairs;
}

function connectionStringProblems(value: string): string[] {
  const pairs = parsePairs(value);
  const key = pairs?.get('instrumentationkey');
  if (!pairs || !key || !GUID.test(key)) {
    return [
      "APPLICATIONINSIGHTS_CONNECTION_STRING must hold InstrumentationKey=<GUID> (the component's connection string)",
    ];
  }
  const endpoint = pairs.get('ingestionendpoint');
  if (endpoint !== undefined && !(URL.canParse(endpoint) && new URL(endpoint).protocol === 'https:')) {
    return ['APPLICATIONINSIGHTS_CONNECTION_STRING must name an https IngestionEndpoint'];
  }
  return [];
}

function parseAuthentication(value: string): { clientId: string | undefined } | string {
  const problem =
    'APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be Authorization=AAD, or ClientId=<GUID>;Authorization=AAD';
  const pairs = parsePairs(value);
  if (!pairs || pairs.get('authorization')?.toUpperCase() !== 'AAD') return problem;
  const clientId = pairs.get('clientid');
  if ([...pairs.keys()].some((key) => key !== 'authorization' && key !== 'clientid')) return problem;
  if (clientId !== undefined && !GUID.test(clientId)) return problem;
  return { clientId: clientId?.toLowerCase() };
}

/**
 * The telemetry settings of the environment; undefined (telemetry off) without a connection string. Throws a
 * `ConfigError` naming every malformed setting (never its value).
 */
export function readTelemetrySettings(
  env: Record<string, string | undefined>,
): TelemetrySettings | undefined {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim() ?? '';
  if (connectionString === '') return undefined;
  const problems = connectionStringProblems(connectionString);
  const authentication = env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING?.trim() ?? '';
  const entra = authentication === '' ? undefined : parseAuthentication(authentication);
  if (typeof entra === 'string') problems.push(entra);
  if (problems.length > 0 || typeof entra === 'string') throw new ConfigError(problems);
  const roleName = env.WEBSITE_SITE_NAME?.trim() || DEFAULT_ROLE_NAME;
  return { connectionString: new Secret(connectionString), entra, roleName };
}
