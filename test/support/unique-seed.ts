import { randomInt } from 'node:crypto';

/**
 * A seed no other tenant of this run uses: tenant IDs derive from it, and the suites share one simulator. Drawn at
 * random from 2^48 values, because jest starts each test file with fresh modules, so a counter would restart in
 * every file a worker runs; a counter started at random in a million values let the project's CI once create a
 * tenant that "already existed".
 */
export function uniqueSeed(): number {
  return randomInt(1, 2 ** 48 - 1);
}
