import { randomBytes } from 'node:crypto';

const MAX_TIME = 9_999_999_999_999;

/** A run ID that sorts newest first as a RowKey: inverted milliseconds, then 6 random characters. */
export function newRunId(now: Date): string {
  const inverted = String(MAX_TIME - now.getTime()).padStart(13, '0');
  const suffix = randomBytes(6)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 6);
  return `${inverted}-${suffix}`;
}

/**
 * The ID of one attempt at a piece of a run (`prefix` names the piece: a padded batch number, or `listing`):
 * unique per attempt, and sorting by time within the piece, so the newest failure of a piece is the last one.
 */
export function newAttemptId(prefix: string, now: Date): string {
  return `${prefix}_${now.getTime()}_${randomBytes(3).toString('hex')}`;
}
