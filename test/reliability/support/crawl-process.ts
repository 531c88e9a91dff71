import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

export interface ProductProcess {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process ends (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the process and every process it started (tsx runs the script in a child of its own). */
  kill(): void;
}

/**
 * Starts a product entry point under tsx as `npm run crawl` / `npm run serve` do, with only the given
 * environment (plus PATH and the CA bundle that trusts the simulator). It leads a process group of its own,
 * so `kill()` takes tsx's child with it.
 */
export function startProduct(
  script: string,
  env: Record<string, string>,
  args: string[] = [],
): ProductProcess {
  const child = spawn(process.execPath, [TSX, script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

/** `npm run crawl [-- args]` to the end. */
export async function runCrawl(
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const crawl = startProduct('src/cli/crawl.ts', env, args);
  const { code } = await crawl.exited;
  return { code, stdout: crawl.stdout(), stderr: crawl.stderr() };
}
