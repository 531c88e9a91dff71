import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** The emulator's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningAzurite {
  /** Connection string of the development account. */
  connectionString: string;
  /** Extra accounts (isolated storage for test files running in parallel), with their connection strings. */
  accounts: Array<{ name: string; connectionString: string }>;
  tableEndpoint: string;
  queueEndpoint: string;
  blobEndpoint: string;
  /** Process ID of the Azurite child (for CPU and memory figures, e.g. the benchmark's). */
  pid: number | undefined;
  stop(): Promise<void>;
}

const BIN = path.resolve(__dirname, '..', 'node_modules', 'azurite', 'dist', 'src', 'azurite.js');
const START_TIMEOUT_MS = 30_000;

/**
 * Starts Azurite in memory on random loopback ports and resolves once its blob, queue and table services all
 * listen. Telemetry is off (with it on, Azurite takes over 10 s to exit offline).
 */
export async function startAzurite(options: { extraAccounts?: number } = {}): Promise<RunningAzurite> {
  const extra = Array.from({ length: options.extraAccounts ?? 0 }, (_, index) => ({
    name: `testacct${String(index + 1).padStart(2, '0')}`,
    key: randomBytes(32).toString('base64'),
  }));
  const accountsEnv = [{ name: AZURITE_ACCOUNT, key: AZURITE_KEY }, ...extra]
    .map((account) => `${account.name}:${account.key}`)
    .join(';');
  const location = mkdtempSync(path.join(tmpdir(), 'azurite-'));
  const child = spawn(
    process.execPath,
    [
      BIN,
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--loose',
      '--blobHost',
      '127.0.0.1',
      '--queueHost',
      '127.0.0.1',
      '--tableHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--queuePort',
      '0',
      '--tablePort',
      '0',
    ],
    // In memory nothing is written, but Azurite may still drop files in its working folder: give it a scratch one.
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: location,
      env: { ...process.env, ...(extra.length > 0 ? { AZURITE_ACCOUNTS: accountsEnv } : {}) },
    },
  );

  const ports: Partial<Record<'blob' | 'queue' | 'table', number>> = {};
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start within ${START_TIMEOUT_MS} ms: ${stderr}`));
    }, START_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with code ${String(code)} before listening: ${stderr}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match =
        /Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(
          line,
        );
      if (!match?.[1] || !match[2]) return;
      ports[match[1].toLowerCase() as 'blob' | 'queue' | 'table'] = Number(match[2]);
      if (ports.blob && ports.queue && ports.table) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve();
      }
    });
  });

  const connectionFor = (name: string, key: string): string =>
    `DefaultEndpointsProtocol=http;AccountName=${name};AccountKey=${key};` +
    `BlobEndpoint=http://127.0.0.1:${ports.blob}/${name};QueueEndpoint=http://127.0.0.1:${ports.queue}/${name};` +
    `TableEndpoint=http://127.0.0.1:${ports.table}/${name};`;
  const blobEndpoint = `http://127.0.0.1:${ports.blob}/${AZURITE_ACCOUNT}`;
  const queueEndpoint = `http://127.0.0.1:${ports.queue}/${AZURITE_ACCOUNT}`;
  const tableEndpoint = `http://127.0.0.1:${ports.table}/${AZURITE_ACCOUNT}`;
  const connectionString = connectionFor(AZURITE_ACCOUNT, AZURITE_KEY);

  return {
    connectionString,
    accounts: extra.map((account) => ({
      name: account.name,
      connectionString: connectionFor(account.name, account.key),
    })),
    blobEndpoint,
    queueEndpoint,
    tableEndpoint,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          rmSync(location, { recursive: true, force: true });
          resolve();
          return;
        }
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(killer);
          rmSync(location, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
