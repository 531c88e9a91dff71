import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import type { AppCredentialSettings } from './credential-config';
import { optionalText, parseCredentialSettings } from './credential-config';
import { ConfigError } from './errors';
import { Secret } from './secret';
import type { TelemetrySettings } from './telemetry-config';
import { readTelemetrySettings } from './telemetry-config';
import { GUID } from './guid';

/** What a crawl keeps of each user's OneDrive (`CRAWL_SCOPE`, docs/delta.md). */
export type CrawlScope = 'root' | 'drive';

export const CRAWL_SCOPES: readonly CrawlScope[] = ['root', 'drive'];

export type { AppCredentialSettings, VaultSettings } from './credential-config';
export { isKeyVaultHost } from './credential-config';

/**
 * Settings of the product (docs/contract.md, "Configuration"). This module is the only reader of `process.env`;
 * the Azure SDKs read their own `AZURE_*` variables. Parsing happens once, before any I/O, and a bad
 * environment stops the program with one message that names every problem.
 */

const PUBLIC_CLOUD_AUTHORITY = 'https://login.microsoftonline.com';
const PUBLIC_CLOUD_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Storage for tables and queues, as the Functions host reads `AzureWebJobsStorage`. */
export type StorageSettings =
  | { kind: 'connectionString'; connectionString: Secret }
  | {
      kind: 'identity';
      tableServiceUri: string;
      queueServiceUri: string;
      /** `managedidentity` pins ManagedIdentityCredential; otherwise the app's default credential chain. */
      credential?: string;
      clientId?: string;
    };

export { Secret } from './secret';

export interface AppConfig {
  appClientId: string;
  /** The app registration's credential (`APP_CREDENTIAL` and the settings of its kind). */
  appCredential: AppCredentialSettings;
  /** `CRAWL_LOG_LEVEL`: how much `npm run crawl` logs (warnings by default). */
  crawlLogLevel: 'info' | 'warn';
  /** `CRAWL_SCOPE`: `root` (default), the root's children; `drive`, every item of each OneDrive (docs/delta.md). */
  crawlScope: CrawlScope;
  /**
   * `APPLICATIONINSIGHTS_CONNECTION_STRING` and `..._AUTHENTICATION_STRING` (docs/telemetry.md): metrics exported to
   * Application Insights; undefined (metrics off) without a connection string.
   */
  telemetry: TelemetrySettings | undefined;
  /** Absent where only the crawl runs; the consent routes refuse to start without it. */
  consentRedirectUri?: string;
  /** `invite` (default): onboarding needs an operator's invitation; `open`: any admin who signs in may onboard. */
  onboarding: 'invite' | 'open';
  /** The ISV's own tenant (lower-case GUID), never onboarded as a customer; required by the consent routes. */
  homeTenantId?: string;
  authorityHost: string;
  /** True for the public cloud hosts; otherwise every credential turns instance discovery off. */
  authorityIsPublicCloud: boolean;
  /** Graph root without a trailing slash, e.g. `https://graph.microsoft.com`. */
  graphEndpoint: string;
  storage: StorageSettings;
  crawlSchedule: string;
  isvName: string;
  port: number;
}

/** What a caller needs: the consent routes also need `CONSENT_REDIRECT_URI` and `HOME_TENANT_ID`. */
export type ConfigPurpose = 'crawl' | 'consent';

function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

const httpsUrl = (what: string) =>
  z
    .string()
    .trim()
    .refine((value) => URL.canParse(value), { message: `${what} must be an absolute URL` })
    .refine((value) => !URL.canParse(value) || new URL(value).protocol === 'https:', {
      message: `${what} must use https`,
    });

const hostRoot = (what: string) =>
  httpsUrl(what)
    .refine(
      (value) => {
        if (!URL.canParse(value)) return true;
        const url = new URL(value);
        return (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash;
      },
      { message: `${what} must be a host root with no path, query or fragment` },
    )
    .transform((value) => new URL(value).origin);

const schema = z.object({
  APP_CLIENT_ID: z
    .string({ error: 'APP_CLIENT_ID is required (the application ID of the app registration)' })
    .trim()
    .regex(GUID, 'APP_CLIENT_ID must be a GUID'),
  CRAWL_LOG_LEVEL: optionalText.pipe(
    z.enum(['info', 'warn'], { error: 'CRAWL_LOG_LEVEL must be info or warn' }).default('warn'),
  ),
  CRAWL_SCOPE: optionalText.pipe(
    z.enum(CRAWL_SCOPES, { error: 'CRAWL_SCOPE must be root or drive' }).default('root'),
  ),
  CONSENT_REDIRECT_URI: optionalText.pipe(
    z
      .string()
      .refine((value) => URL.canParse(value), { message: 'CONSENT_REDIRECT_URI must be an absolute URL' })
      .refine(
        (value) => {
          if (!URL.canParse(value)) return true;
          const url = new URL(value);
          return url.protocol === 'https:' || isLoopbackHttp(url);
        },
        { message: 'CONSENT_REDIRECT_URI must use https (plain http only on loopback)' },
      )
      .optional(),
  ),
  ONBOARDING: optionalText.pipe(
    z.enum(['invite', 'open'], { error: 'ONBOARDING must be invite or open' }).default('invite'),
  ),
  HOME_TENANT_ID: optionalText.pipe(
    z
      .string()
      .regex(GUID, "HOME_TENANT_ID must be a GUID (the tenant ID of the ISV's own organization)")
      .optional(),
  ),
  AUTHORITY_HOST: optionalText.pipe(hostRoot('AUTHORITY_HOST').default(PUBLIC_CLOUD_AUTHORITY)),
  GRAPH_ENDPOINT: optionalText.pipe(hostRoot('GRAPH_ENDPOINT').default('https://graph.microsoft.com')),
  AzureWebJobsStorage: optionalText,
  AzureWebJobsStorage__accountName: optionalText.pipe(
    z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, 'AzureWebJobsStorage__accountName must be 3-24 lower-case letters or digits')
      .optional(),
  ),
  AzureWebJobsStorage__tableServiceUri: optionalText.pipe(
    httpsUrl('AzureWebJobsStorage__tableServiceUri').optional(),
  ),
  AzureWebJobsStorage__queueServiceUri: optionalText.pipe(
    httpsUrl('AzureWebJobsStorage__queueServiceUri').optional(),
  ),
  AzureWebJobsStorage__credential: optionalText,
  AzureWebJobsStorage__clientId: optionalText,
  CRAWL_SCHEDULE: optionalText.pipe(
    z
      .string()
      .refine((value) => isNcrontab(value), {
        message:
          'CRAWL_SCHEDULE must be an NCRONTAB expression with 6 fields (seconds first), e.g. "0 0 */6 * * *"',
      })
      .default('0 0 */6 * * *'),
  ),
  ISV_NAME: optionalText.pipe(
    z
      .string()
      .regex(
        /^[A-Za-z0-9 ._-]{1,64}$/,
        'ISV_NAME must be 1-64 letters, digits, spaces, dots, dashes or underscores',
      )
      .default('DriveCrawler'),
  ),
  PORT: optionalText.pipe(
    z
      .string()
      .regex(/^\d{1,5}$/, 'PORT must be a whole number from 1 to 65535')
      .transform(Number)
      .refine((port) => port >= 1 && port <= 65535, {
        message: 'PORT must be a whole number from 1 to 65535',
      })
      .default(7071),
  ),
});

/** Storage problems, checked on the raw environment so they are reported beside every other problem. */
function storageProblems(env: Record<string, string | undefined>): string[] {
  const present = (name: string): boolean => (env[name]?.trim() ?? '') !== '';
  const connectionString = env.AzureWebJobsStorage?.trim() ?? '';
  const identityBased =
    present('AzureWebJobsStorage__accountName') ||
    (present('AzureWebJobsStorage__tableServiceUri') && present('AzureWebJobsStorage__queueServiceUri'));
  if (connectionString === '' && !identityBased) {
    return [
      'AzureWebJobsStorage is required: a connection string, or AzureWebJobsStorage__accountName ' +
        '(or __tableServiceUri and __queueServiceUri) for identity-based storage',
    ];
  }
  if (connectionString !== '' && !isConnectionString(connectionString)) {
    return [
      'AzureWebJobsStorage must be a storage connection string (Name=value;... or UseDevelopmentStorage=true)',
    ];
  }
  return [];
}

/** Six fields, seconds first, as the Functions timer trigger takes them. */
export function isNcrontab(expression: string): boolean {
  if (expression.trim().split(/\s+/).length !== 6) return false;
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' });
    return true;
  } catch {
    return false;
  }
}

/** The next time a six-field NCRONTAB schedule fires after `from` (UTC, as on Flex Consumption). */
export function nextScheduledRun(schedule: string, from: Date): Date {
  return CronExpressionParser.parse(schedule, { tz: 'UTC', currentDate: from }).next().toDate();
}

function isConnectionString(value: string): boolean {
  if (/^UseDevelopmentStorage=true;?$/i.test(value.trim())) return true;
  const pairs = value.split(';').filter((part) => part.trim() !== '');
  return pairs.length > 0 && pairs.every((part) => /^[A-Za-z]+=.+$/.test(part.trim()));
}

function storageFrom(env: z.infer<typeof schema>): StorageSettings {
  if (env.AzureWebJobsStorage) {
    return { kind: 'connectionString', connectionString: new Secret(env.AzureWebJobsStorage) };
  }
  const account = env.AzureWebJobsStorage__accountName;
  return {
    kind: 'identity',
    tableServiceUri: env.AzureWebJobsStorage__tableServiceUri ?? `https://${account}.table.core.windows.net`,
    queueServiceUri: env.AzureWebJobsStorage__queueServiceUri ?? `https://${account}.queue.core.windows.net`,
    credential: env.AzureWebJobsStorage__credential,
    clientId: env.AzureWebJobsStorage__clientId,
  };
}

/**
 * The settings only the consent routes need, checked where they start (a host that only crawls runs without
 * them). Throws `ConfigError` naming what is missing.
 */
export function consentSettings(config: AppConfig): { redirectUri: string; homeTenantId: string } {
  const { consentRedirectUri: redirectUri, homeTenantId } = config;
  if (!redirectUri || !homeTenantId) throw new ConfigError(consentProblems(redirectUri, homeTenantId));
  return { redirectUri, homeTenantId };
}

function consentProblems(redirectUri: string | undefined, homeTenantId: string | undefined): string[] {
  return [
    ...(redirectUri
      ? []
      : ['CONSENT_REDIRECT_URI is required for the consent routes (the registered callback URL)']),
    ...(homeTenantId
      ? []
      : [
          "HOME_TENANT_ID is required for the consent routes (the ISV's own tenant ID, which is never onboarded)",
        ]),
  ];
}

/**
 * Parses the environment. Throws a `ConfigError` listing every missing or invalid setting at once.
 * `purpose: 'consent'` also requires `CONSENT_REDIRECT_URI` and `HOME_TENANT_ID`.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  purpose: ConfigPurpose = 'crawl',
): AppConfig {
  const parsed = schema.safeParse(env);
  const problems: string[] = parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
  problems.push(...storageProblems(env));
  if (purpose === 'consent') {
    const data = parsed.success ? parsed.data : undefined;
    problems.push(
      ...consentProblems(
        data ? data.CONSENT_REDIRECT_URI : env.CONSENT_REDIRECT_URI,
        data ? data.HOME_TENANT_ID : env.HOME_TENANT_ID?.trim(),
      ),
    );
  }
  const credential = parseCredentialSettings(
    env,
    parsed.success ? parsed.data.AUTHORITY_HOST : PUBLIC_CLOUD_AUTHORITY,
  );
  if ('problems' in credential) problems.splice(1, 0, ...credential.problems);
  let telemetry: TelemetrySettings | undefined;
  try {
    telemetry = readTelemetrySettings(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (!parsed.success || problems.length > 0 || 'problems' in credential) {
    throw new ConfigError(problems);
  }
  const data = parsed.data;
  return {
    appClientId: data.APP_CLIENT_ID.toLowerCase(),
    appCredential: credential.settings,
    crawlLogLevel: data.CRAWL_LOG_LEVEL,
    crawlScope: data.CRAWL_SCOPE,
    telemetry,
    consentRedirectUri: data.CONSENT_REDIRECT_URI,
    onboarding: data.ONBOARDING,
    homeTenantId: data.HOME_TENANT_ID?.toLowerCase(),
    authorityHost: data.AUTHORITY_HOST,
    authorityIsPublicCloud: PUBLIC_CLOUD_AUTHORITY_HOSTS.has(new URL(data.AUTHORITY_HOST).hostname),
    graphEndpoint: data.GRAPH_ENDPOINT,
    storage: storageFrom(data),
    crawlSchedule: data.CRAWL_SCHEDULE,
    isvName: data.ISV_NAME,
    port: data.PORT,
  };
}
