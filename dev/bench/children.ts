/**
 * Child processes of the benchmark: TypeScript files run by this Node with the tsx loader (so the pid is the
 * process that does the work, not a launcher) and without source maps, as the deployment runs
 * (`no-source-maps.ts`), stdout read as JSON lines, stderr passed through.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';

export interface TsChild {
  process: ChildProcess;
  pid: number;
  /** Resolves with the first stdout line (parsed) that `accept` takes. */
  next<T>(accept: (message: unknown) => message is T, timeoutMs?: number): Promise<T>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
}

/**
 * Starts `file`. A `job` goes to the child as the first line of its stdin (read with `readJob`), not among its
 * arguments, where any user's `ps` would show the client secret and account key it carries; stdin then stays
 * open, so that the child sees the orchestrator go away.
 */
export function startTsChild(
  file: string,
  args: string[],
  options: { stdin?: 'pipe' | 'ignore'; nodeArgs?: readonly string[]; job?: unknown } = {},
): TsChild {
  const argv = [
    ...(options.nodeArgs ?? []),
    '--import',
    'tsx',
    // After tsx, which turns source maps on when it registers.
    '--import',
    pathToFileURL(path.resolve(__dirname, 'no-source-maps.ts')).href,
    path.resolve(__dirname, file),
    ...args,
  ];
  const child = spawn(process.execPath, argv, {
    stdio: [options.job !== undefined ? 'pipe' : (options.stdin ?? 'ignore'), 'pipe', 'inherit'],
    env: process.env,
  });
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  if (options.job !== undefined) child.stdin!.write(`${JSON.stringify(options.job)}\n`);
  const messages: unknown[] = [];
  const waiters: Array<() => void> = [];
  let closed = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) {
      process.stderr.write(`${line}\n`);
      return;
    }
    try {
      messages.push(JSON.parse(line));
    } catch {
      process.stderr.write(`${line}\n`);
      return;
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      closed = true;
      for (const wake of waiters.splice(0)) wake();
      resolve(code ?? (signal ? 128 : 1));
    });
  });

  const next = <T>(accept: (message: unknown) => message is T, timeoutMs = 900_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${file}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const look = (): void => {
        const index = messages.findIndex((message) => accept(message));
        if (index >= 0) {
          clearTimeout(timer);
          resolve(messages.splice(index, 1)[0] as T);
        } else if (closed) {
          clearTimeout(timer);
          reject(new Error(`${file} exited before answering`));
        } else {
          waiters.push(look);
        }
      };
      look();
    });

  return { process: child, pid: child.pid, next, exited };
}

/** A type guard for a JSON line with `event` equal to `name`. */
export function isEvent<T extends { event: string }>(name: T['event']): (message: unknown) => message is T {
  return (message: unknown): message is T =>
    typeof message === 'object' && message !== null && (message as { event?: unknown }).event === name;
}

/**
 * In a child started with a `job`: resolves with it (the first line of stdin). Every later line goes to `onLine`;
 * `onEnd` runs when stdin closes, which is when the orchestrator ends it or goes away.
 */
export function readJob<T>(handlers: { onLine?: (line: string) => void; onEnd: () => void }): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let job: T | undefined;
    createInterface({ input: process.stdin })
      .on('line', (line) => {
        if (job === undefined) {
          try {
            job = JSON.parse(line) as T;
          } catch {
            reject(new Error('the first line of stdin is not the job JSON'));
            return;
          }
          resolve(job);
        } else handlers.onLine?.(line);
      })
      .on('close', () => {
        if (job === undefined) reject(new Error('stdin closed before the job came'));
        handlers.onEnd();
      });
  });
}
