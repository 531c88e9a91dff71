import type { Random } from './seeded-random';
import { randomInt } from './seeded-random';
import { SimError } from './sim-error';
import type { DriveAnomaly, TenantSpec } from './types';

/**
 * How a seeded tenant's drives are drawn per user: how many root items (`itemsPerUser`) and which drives answer
 * otherwise (`driveAnomalies`), with the checks of those spec fields.
 */

/** Every drive anomaly, in the order shares are drawn (the stored code is the index + 1; 0 is a normal drive). */
export const DRIVE_ANOMALIES: readonly DriveAnomaly[] = [
  'locked',
  'accessDenied',
  'mysiteUrl400',
  'noSpoLicense400',
  'unknownError404',
];

/** Anomalies whose drive Graph cannot find: not in `drives()` nor in the drive counts. */
export const DRIVELESS_ANOMALIES: ReadonlySet<DriveAnomaly> = new Set([
  'mysiteUrl400',
  'noSpoLicense400',
  'unknownError404',
]);

export function share(value: number | undefined, fallback: number, field: string): number {
  const result = value ?? fallback;
  if (!(result >= 0 && result <= 1)) throw new SimError(400, `${field} must be between 0 and 1`);
  return result;
}

/**
 * How many root children a user gets: a fixed count, uniform in [min, max], long-tailed in [min, max], or drawn
 * from a log-normal distribution (its median and the standard deviation of its logarithm), capped at max.
 */
export interface ItemCountRule {
  min: number;
  max: number;
  longTail: boolean;
  logNormal?: { median: number; sigma: number };
}

export function itemCountRule(value: TenantSpec['itemsPerUser']): ItemCountRule {
  let rule: ItemCountRule;
  if (value === undefined) rule = { min: 0, max: 12, longTail: false };
  else if (typeof value === 'number') rule = { min: value, max: value, longTail: false };
  else if (Array.isArray(value)) rule = { min: value[0], max: value[1], longTail: false };
  else if (
    typeof value === 'object' &&
    value !== null &&
    'longTail' in value &&
    Array.isArray(value.longTail)
  ) {
    rule = { min: value.longTail[0], max: value.longTail[1], longTail: true };
  } else if (typeof value === 'object' && value !== null && 'logNormal' in value) {
    const { median, sigma, max } = value.logNormal;
    if (!(median > 0 && sigma >= 0)) throw new SimError(400, 'logNormal needs a median > 0 and a sigma >= 0');
    rule = { min: 0, max, longTail: false, logNormal: { median, sigma } };
  } else {
    throw new SimError(
      400,
      'itemsPerUser must be a count, [min, max], { longTail: [min, max] } or { logNormal: { median, sigma, max } }',
    );
  }
  if (!(
    Number.isSafeInteger(rule.min) &&
    Number.isSafeInteger(rule.max) &&
    rule.min >= 0 &&
    rule.max >= rule.min
  )) {
    throw new SimError(
      400,
      'itemsPerUser must be a count, [min, max] or { longTail: [min, max] } with 0 <= min <= max',
    );
  }
  return rule;
}

/**
 * Draws a user's item count from the rule: `min + floor((max - min + 1) * u^4)` for a long tail; for a log-normal
 * rule, `round(median * e^(sigma * z))` with z standard normal (Box-Muller over two draws), capped at max.
 */
export function drawItemCount(random: Random, rule: ItemCountRule): number {
  if (rule.logNormal) {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.min(rule.max, Math.round(rule.logNormal.median * Math.exp(rule.logNormal.sigma * z)));
  }
  if (!rule.longTail) return randomInt(random, rule.min, rule.max);
  return rule.min + Math.floor((rule.max - rule.min + 1) * random() ** 4);
}

/** Checks the anomaly shares; returns their cumulative sums in `DRIVE_ANOMALIES` order (undefined: none). */
export function anomalyThresholds(shares: TenantSpec['driveAnomalies']): number[] | undefined {
  if (shares === undefined) return undefined;
  if (typeof shares !== 'object' || shares === null)
    throw new SimError(400, 'driveAnomalies must be an object');
  for (const key of Object.keys(shares)) {
    if (!DRIVE_ANOMALIES.includes(key as DriveAnomaly))
      throw new SimError(400, `Unknown drive anomaly ${key}`);
  }
  let sum = 0;
  const thresholds = DRIVE_ANOMALIES.map((anomaly) => {
    sum += share(shares[anomaly], 0, `driveAnomalies.${anomaly}`);
    return sum;
  });
  if (sum > 1 + 1e-9) throw new SimError(400, 'driveAnomalies must add up to at most 1');
  return sum > 0 ? thresholds : undefined;
}

export function parseDriveAnomaly(answer: unknown): number {
  if (answer === 'items') return 0;
  const index = DRIVE_ANOMALIES.indexOf(answer as DriveAnomaly);
  if (index < 0) {
    throw new SimError(400, `answer must be 'items' or one of ${DRIVE_ANOMALIES.join(', ')}`);
  }
  return index + 1;
}
