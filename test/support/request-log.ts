import type { RequestLogEntry } from '../../dev/sim/types';

/**
 * Whether a simulator log entry is a `$batch` envelope: its inner requests have entries of their own (`inBatch`),
 * logged before it.
 */
export function isBatchEnvelope(entry: RequestLogEntry): boolean {
  return !entry.inBatch && /\/\$batch(\?|$)/.test(entry.url);
}
