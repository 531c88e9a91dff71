import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** The repository root, where `infra/` and `.tools/` live. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Where the infra tests take the template from. */
export const MAIN_BICEP = path.join(REPO_ROOT, 'infra', 'main.bicep');

/** What to tell someone whose machine has no Bicep CLI. */
export const INSTALL_HINT =
  'Install the Bicep CLI with `bash dev/tools/install-bicep.sh` (restores it from NuGet into .tools/bicep/bicep ' +
  'with the .NET SDK), or point BICEP_PATH at a bicep binary.';

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The Bicep CLI to test with: `$BICEP_PATH`, then the repository's `.tools/bicep/bicep` (dev/tools/install-bicep.sh),
 * then `bicep` on PATH; undefined when there is none.
 */
export function findBicep(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env.BICEP_PATH?.trim();
  if (fromEnv) return isExecutableFile(fromEnv) ? fromEnv : undefined;
  const repoCopy = path.join(REPO_ROOT, '.tools', 'bicep', 'bicep');
  if (isExecutableFile(repoCopy)) return repoCopy;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'bicep');
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** A cold Bicep CLI takes seconds to start; on a busy two-core CI machine, give it far more. */
export const BICEP_TIMEOUT_MS = 180_000;

export interface BicepRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface BicepRunOptions {
  /** The environment of the run, instead of this process's (`.bicepparam` files read it). */
  env?: NodeJS.ProcessEnv;
}

/** Runs the Bicep CLI to completion; a non-zero exit is a result, not a rejection. */
export function runBicep(
  bicep: string,
  args: readonly string[],
  options: BicepRunOptions = {},
): Promise<BicepRun> {
  return new Promise((resolve, reject) => {
    execFile(
      bicep,
      [...args],
      {
        cwd: REPO_ROOT,
        maxBuffer: 64 * 1024 * 1024,
        timeout: BICEP_TIMEOUT_MS - 10_000,
        // No telemetry and no first-run chatter: the tests must not depend on anything beyond this machine.
        env: {
          ...(options.env ?? process.env),
          BICEP_TELEMETRY_ENABLED: 'false',
          DOTNET_CLI_TELEMETRY_OPTOUT: '1',
        },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`${bicep} ${args.join(' ')} did not run: ${error.message}`, { cause: error }));
          return;
        }
        resolve({ exitCode: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}

/** Lines of Bicep output that report a warning or an error (`file(line,col) : Warning rule: message`). */
export function diagnosticLines(output: string): string[] {
  return output.split(/\r?\n/).filter((line) => /\b(Warning|Error)\b/.test(line));
}
