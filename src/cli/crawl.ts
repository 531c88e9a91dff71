/**
 * `npm run crawl [-- --tenant <tenant-id>] [--full]`: one crawl now, inline (`--full`: every drive read from scratch,
 * no delta cursor followed). Progress on stderr, the summary table on
 * stdout. Exit codes (docs/contract.md): 0 every tenant crawled, found revoked or still waiting for its permissions
 * (`consent_incomplete`, checked again first); 1 a tenant failed, or the app's credential is missing, expired or
 * rejected; 2 a configuration error or an unknown --tenant.
 */
import { parseArgs } from 'node:util';
import { createAppContext } from '../app-context';
import { loadConfig } from '../config';
import { crawlInline } from '../crawl/inline-crawl';
import { recheckIncompleteConsent } from '../crawl/plan-crawl';
import { ConfigError, CredentialError } from '../errors';
import { consoleSink, createLogger } from '../logging/logger';
import { formatSummaryTable } from './summary-table';
import { GUID } from '../guid';

export async function main(argv: string[]): Promise<number> {
  let tenantArg: string | undefined;
  let full = false;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { tenant: { type: 'string' }, full: { type: 'boolean' } },
      strict: true,
    });
    tenantArg = values.tenant?.toLowerCase();
    full = values.full === true;
  } catch (error) {
    process.stderr.write(
      `${(error as Error).message}\nusage: npm run crawl [-- --tenant <tenant-id>] [--full]\n`,
    );
    return 2;
  }
  if (tenantArg !== undefined && !GUID.test(tenantArg)) {
    process.stderr.write(`--tenant must be a tenant ID (a GUID)\n`);
    return 2;
  }

  let config;
  try {
    config = loadConfig(process.env, 'crawl');
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const logger = createLogger(consoleSink(config.crawlLogLevel));
  const context = createAppContext(config, { logger });
  const deps = context.crawlDeps();

  let tenants;
  if (tenantArg) {
    const tenant = await context.registry.get(tenantArg);
    if (!tenant) {
      process.stderr.write(`Unknown tenant ${tenantArg}: it has not consented (see GET /api/tenants)\n`);
      return 2;
    }
    tenants = [tenant];
  }
  // Tenants whose consent is incomplete are proven again first: those whose permissions arrived are crawled.
  const { waiting } = await recheckIncompleteConsent(deps, tenantArg);
  for (const tenantId of waiting) {
    process.stderr.write(
      `Tenant ${tenantId}: consent_incomplete, still waiting for its permissions (not crawled)\n`,
    );
  }
  if (tenantArg) {
    const tenant = await context.registry.get(tenantArg);
    tenants = tenant && !waiting.includes(tenantArg) ? [tenant] : [];
  } else {
    tenants = await context.registry.listCrawlable();
  }
  process.stderr.write(`Crawling ${tenants.length} tenant(s)...\n`);

  let results;
  try {
    results = await crawlInline(deps, {
      tenants,
      full,
      onProgress: (p) => {
        const seconds = p.elapsedMs / 1000;
        process.stderr.write(
          `[${seconds.toFixed(0)}s] tenants ${p.tenantsDone}/${p.tenantsTotal}  users ${p.usersDone}  items ${p.itemsStored}  ` +
            `${(p.requests / Math.max(seconds, 0.001)).toFixed(1)} req/s  throttled ${p.throttled}\n`,
        );
      },
    });
  } catch (error) {
    if (error instanceof CredentialError) {
      process.stderr.write(`The app's credential cannot be used: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  process.stdout.write(formatSummaryTable(results));
  // The command ends with process.exit, which skips `beforeExit`: metrics go out now (docs/telemetry.md).
  await context.telemetry.shutdown();
  // A revoked tenant, or one whose permissions proved missing, is a status change, reported but not a failure; a
  // rejected app credential fails the runs, so exit 1.
  const failed = results.filter(
    (result) =>
      result.run?.status !== 'succeeded' &&
      result.status !== 'revoked' &&
      result.status !== 'consent_incomplete',
  );
  return failed.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`Crawl failed: ${error instanceof Error ? error.name : 'unknown error'}\n`);
      process.exit(1);
    },
  );
}
