import { graphErrorCode, graphErrorMessage } from './graph-error-body';

/** Why a user's drive could not be read this run (the contract's `CrawlSkips.reason`). */
export type SkipReason = 'locked' | 'accessDenied' | 'failing';

/** A drive that answered with something other than its items, kept as Graph gave it (no token, no secret). */
export interface DriveSkip {
  reason: SkipReason;
  /** The last answer's HTTP status; 0 when no answer came (a reset, a timeout). */
  status: number;
  graphCode: string | undefined;
  message: string | undefined;
}

/**
 * What one drive listing request's answer means (docs/drive-answers.md):
 * - `page`: items;
 * - `noDrive`: the user has no OneDrive: `404` with any code, or a `400` saying the user's personal site (mysite)
 *   cannot be found or the tenant has no SharePoint licence;
 * - `skip`: a drive that cannot be read this run and that retrying soon will not fix: `423` (locked), `403`
 *   (access denied), another `4xx`;
 * - `throttled`: `429`/`503`, waited out (never a reason to skip);
 * - `retry`: a `5xx` or no answer, retried a bounded number of times before the user is skipped as `failing`;
 * - `tenant`: a `401`, which no single user causes: the tenant's token is refused;
 * - `resync`: a `410` from a delta: the cursor is no longer known, and the drive must be enumerated again.
 */
export type DriveAnswerKind =
  | { kind: 'page' }
  | { kind: 'noDrive' }
  | { kind: 'skip'; skip: DriveSkip }
  | { kind: 'throttled' }
  | { kind: 'retry' }
  | { kind: 'tenant' }
  | { kind: 'resync' };

/** Graph's words for a user without a personal site, on a `400` (docs/drive-answers.md). */
const NO_MYSITE = /mysite|\bSPO licen[cs]e|SharePoint (Online )?licen[cs]e/i;

export function classifyDriveAnswer(status: number, body: unknown): DriveAnswerKind {
  if (status >= 200 && status < 300) return { kind: 'page' };
  if (status === 429 || status === 503) return { kind: 'throttled' };
  if (status === 0 || status >= 500) return { kind: 'retry' };
  if (status === 401) return { kind: 'tenant' };
  if (status === 404) return { kind: 'noDrive' };
  if (status === 410) return { kind: 'resync' };
  const message = graphErrorMessage(body);
  if (status === 400 && message !== undefined && NO_MYSITE.test(message)) return { kind: 'noDrive' };
  const reason: SkipReason = status === 423 ? 'locked' : status === 403 ? 'accessDenied' : 'failing';
  return { kind: 'skip', skip: { reason, status, graphCode: graphErrorCode(body), message } };
}

/** The skip of a drive whose last answer was a retryable failure that outlasted its attempts. */
export function failingSkip(status: number, body: unknown): DriveSkip {
  return { reason: 'failing', status, graphCode: graphErrorCode(body), message: graphErrorMessage(body) };
}
