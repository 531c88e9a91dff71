/**
 * `npm run serve`: the product as the Functions host would run it, locally: HTTP functions on
 * http://127.0.0.1:${PORT:-7071}/api/..., the queue workers and the timer, configured from the environment
 * (`npm run sim` prints a matching environment).
 */
import { createAppContext } from '../src/app-context';
import { loadConfig } from '../src/config';
import { ConfigError } from '../src/errors';
import { consoleSink, createLogger } from '../src/logging/logger';
import { startLocalHost } from './local-host/local-functions-host';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, 'consent');
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n(Tip: \`npm run sim\` prints a working environment.)\n`);
      process.exit(2);
    }
    throw error;
  }
  const context = createAppContext(config, { logger: createLogger(consoleSink()) });
  const host = await startLocalHost(context, { port: config.port });
  process.stderr.write(
    `Drive Crawler is serving on http://127.0.0.1:${host.port}/api/consent (queue workers and timer running; ` +
      `schedule ${config.crawlSchedule}); the status page is http://127.0.0.1:${host.port}/api/status. ` +
      `Ctrl-C stops it.\n`,
  );
  const stop = (): void => {
    host.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
