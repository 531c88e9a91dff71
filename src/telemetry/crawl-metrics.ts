/**
 * The product's metrics (docs/telemetry.md): what each tenant's runs spend and meet, and how consent ends. Written
 * through `@opentelemetry/api` only, so that with telemetry off the API's no-op meter makes every call free.
 *
 * What may become a dimension is decided here, once: a tenant ID only when it is verified (a run's tenant comes
 * from the registry; a consent outcome's only once consent was proven), never a user name, an item name, a token,
 * a secret or any value a caller chose. Every other dimension is a closed set of constant strings.
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { GUID } from '../guid';

/** The meter's name: the scope Application Insights shows beside each metric. */
export const METER_NAME = 'drive-crawler';

/** Metric names, as they appear in Application Insights' `customMetrics` (docs/telemetry.md). */
export const METRICS = {
  runs: 'drivecrawler.crawl.runs',
  unitsSpent: 'drivecrawler.crawl.units_spent',
  throttled: 'drivecrawler.crawl.throttled',
  usersCrawled: 'drivecrawler.crawl.users_crawled',
  usersSkipped: 'drivecrawler.crawl.users_skipped',
  duration: 'drivecrawler.crawl.duration',
  consentOutcomes: 'drivecrawler.consent.outcomes',
} as const;

/** Dimension names (OpenTelemetry attribute keys). */
export const DIMENSIONS = {
  tenantId: 'tenant.id',
  runStatus: 'run.status',
  consentOutcome: 'consent.outcome',
  consentReason: 'consent.reason',
} as const;

/** A run that ended, with its final counters as `CrawlRuns` holds them. */
export interface EndedRun {
  /** The run's tenant: one the registry holds (a run is only ever opened for a registered tenant). */
  tenantId: string;
  status: 'succeeded' | 'failed';
  unitsSpent: number;
  throttled: number;
  usersCrawled: number;
  usersSkipped: number;
  /** From the run's `startedAt` to its `finishedAt`. */
  durationSeconds: number;
}

/** Why a consent callback refused the request: the `outcome` field of its log line (docs/telemetry.md). */
export type ConsentRefusal =
  | 'malformed'
  | 'state_missing'
  | 'state_unknown'
  | 'state_expired'
  | 'state_other_browser'
  | 'wrong_step'
  | 'code_rejected'
  | 'token_invalid'
  | 'home_tenant'
  | 'not_admin'
  | 'invitation_unknown'
  | 'invitation_expired'
  | 'invitation_used'
  | 'invitation_foreign'
  | 'invitation_missing';

/**
 * How one consent callback ended. Only `granted` and `incomplete` follow a proven consent, so only they carry the
 * tenant ID (the one the app-only token proved); every other outcome carries none, whatever the request named.
 */
export type ConsentOutcome =
  | { outcome: 'granted'; reason: 'active'; verifiedTenantId: string }
  | { outcome: 'incomplete'; reason: 'consent_incomplete'; verifiedTenantId: string }
  /** The admin signed in and was sent on to consent. */
  | { outcome: 'signed_in'; reason: 'admin' }
  /** Entra ID answered with an error: the admin declined, or the sign-in did not finish. */
  | { outcome: 'declined'; reason: 'declined' | 'signin_failed' }
  /** Consent came back but could not be proven for the tenant the admin signed in to. */
  | { outcome: 'not_verified'; reason: 'other_tenant' | 'no_token' | 'tenant_mismatch' }
  /** The app, Entra ID or storage could not finish it now (a 503 page). */
  | { outcome: 'unavailable'; reason: 'unavailable' | 'error' | 'roles_unknown' }
  /** The request itself was refused: malformed, a state not ours or used up, not an admin, an invitation... */
  | { outcome: 'refused'; reason: ConsentRefusal };

/**
 * A tenant ID as a dimension value: only the GUID form, lower-cased, so that a value that is not a tenant ID (a
 * domain an admin typed, a mistake) can never become a dimension; anything else is left out.
 */
function tenantDimension(tenantId: string): Attributes {
  return GUID.test(tenantId) ? { [DIMENSIONS.tenantId]: tenantId.toLowerCase() } : {};
}

/** The instruments, made once per meter; each `record...` takes plain values and never throws. */
export class CrawlMetrics {
  readonly #runs: Counter;
  readonly #unitsSpent: Counter;
  readonly #throttled: Counter;
  readonly #usersCrawled: Counter;
  readonly #usersSkipped: Counter;
  readonly #duration: Histogram;
  readonly #consentOutcomes: Counter;

  constructor(meter: Meter) {
    this.#runs = meter.createCounter(METRICS.runs, { description: 'Crawl runs ended', unit: '{run}' });
    this.#unitsSpent = meter.createCounter(METRICS.unitsSpent, {
      description: 'Graph resource units a run spent, by the documented cost of each answered request',
      unit: '{unit}',
    });
    this.#throttled = meter.createCounter(METRICS.throttled, {
      description: 'Throttled Graph answers (429 and 503) a run met',
      unit: '{response}',
    });
    this.#usersCrawled = meter.createCounter(METRICS.usersCrawled, {
      description: 'Users whose OneDrive a run read',
      unit: '{user}',
    });
    this.#usersSkipped = meter.createCounter(METRICS.usersSkipped, {
      description:
        'Users a run skipped, their rows kept (a locked drive, access denied: docs/drive-answers.md)',
      unit: '{user}',
    });
    this.#duration = meter.createHistogram(METRICS.duration, {
      description: 'From a run starting to its ending',
      unit: 's',
    });
    this.#consentOutcomes = meter.createCounter(METRICS.consentOutcomes, {
      description: 'Consent callbacks answered, by outcome',
      unit: '{callback}',
    });
  }

  /** A run ended (succeeded or failed): its final counters and duration, by tenant and status. */
  recordRunEnded(run: EndedRun): void {
    const dimensions: Attributes = { ...tenantDimension(run.tenantId), [DIMENSIONS.runStatus]: run.status };
    this.#runs.add(1, dimensions);
    this.#unitsSpent.add(run.unitsSpent, dimensions);
    this.#throttled.add(run.throttled, dimensions);
    this.#usersCrawled.add(run.usersCrawled, dimensions);
    this.#usersSkipped.add(run.usersSkipped, dimensions);
    this.#duration.record(Math.max(0, run.durationSeconds), dimensions);
  }

  /** A consent callback answered; the tenant ID only with `granted` and `incomplete` (see `ConsentOutcome`). */
  recordConsentOutcome(answer: ConsentOutcome): void {
    this.#consentOutcomes.add(1, {
      [DIMENSIONS.consentOutcome]: answer.outcome,
      [DIMENSIONS.consentReason]: answer.reason,
      ...('verifiedTenantId' in answer ? tenantDimension(answer.verifiedTenantId) : {}),
    });
  }
}
