/**
 * The status page's addresses: the page, its two actions, and the outcome an action sends back. The only values
 * read from a request are checked against fixed shapes here (a tenant ID against the GUID pattern, the function key
 * against a key's characters, the outcome against a fixed list), so nothing a caller typed travels on as it came.
 */

export const STATUS_PATH = '/api/status';
import { GUID } from '../guid';

export type StatusAction = 'crawl' | 'permissions';

/** What an action did, as the page tells it after the 303; each value is a fixed message on the page. */
export const OUTCOMES = [
  'crawl-queued',
  'crawl-running',
  'crawl-not-allowed',
  'permissions-proven',
  'permissions-missing',
  'permissions-revoked',
  'permissions-refused',
  'permissions-failed',
  'credential-failed',
  'tenant-offboarded',
  'tenant-not-found',
] as const;
export type ActionOutcome = (typeof OUTCOMES)[number];

/** A function key's characters (Azure's are base64 or base64url, ending `==`); anything else is not carried. */
const FUNCTION_KEY = /^[A-Za-z0-9_\-=+/.~]{1,256}$/;

/** The tenant ID in lower case when it is a GUID; the only form in which one goes into a URL. */
export function checkedTenantId(value: string | null | undefined): string | undefined {
  return value && GUID.test(value) ? value.toLowerCase() : undefined;
}

/**
 * The function key the page was asked with (`?code=`), to carry into the action URLs and back. In Azure the host
 * has already checked it (the routes need it); under `npm run serve` nothing needs it, and one is carried only if
 * it looks like a key.
 */
export function functionKeyOf(query: URLSearchParams): string | undefined {
  const key = query.get('code');
  return key && FUNCTION_KEY.test(key) ? key : undefined;
}

/** The outcome named in the page's query, only when it is one of `OUTCOMES`. */
export function outcomeOf(query: URLSearchParams): ActionOutcome | undefined {
  const done = query.get('done');
  return OUTCOMES.find((outcome) => outcome === done);
}

/** Where a form of the page posts: the action's route, the key in its query. */
export function actionPath(tenantId: string, action: StatusAction, key: string | undefined): string {
  return `${STATUS_PATH}/tenants/${tenantId}/${action}${key ? `?code=${encodeURIComponent(key)}` : ''}`;
}

/** The page again (the 303's `Location`): with the key, the outcome and the tenant it was about. */
export function statusPath(key: string | undefined, outcome?: ActionOutcome, tenantId?: string): string {
  const query = new URLSearchParams();
  if (key) query.set('code', key);
  if (outcome) query.set('done', outcome);
  if (tenantId) query.set('tenant', tenantId);
  const text = query.toString();
  return text ? `${STATUS_PATH}?${text}` : STATUS_PATH;
}
