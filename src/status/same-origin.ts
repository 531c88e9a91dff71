/**
 * Why a status page action was refused before it did anything: a form posted from another site (or by a client that
 * sends no `Origin`), or, under `npm run serve`, a request that reached the loopback listener under a foreign
 * host name (a DNS-rebinding page, whose `Origin` would match its own `Host`).
 */
export type Refusal = 'origin_missing' | 'origin_foreign' | 'host_not_loopback';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether the request's own URL names a loopback host (its `Host` header, as the local host builds it). */
export function isLoopbackRequest(requestUrl: string): boolean {
  return LOOPBACK_HOSTS.has(new URL(requestUrl).hostname);
}

/**
 * Checks that a POST comes from the page's own origin. Browsers send `Origin` with every form POST (the page's
 * `Referrer-Policy` is `strict-origin` for that reason: under `no-referrer` they send `Origin: null`). The host and
 * port must be the request's own; the scheme may be https even when the request URL says http, since a front end
 * that ends TLS may hand the app a plain-http URL for the same site.
 */
export function checkOrigin(origin: string | null, requestUrl: string): Refusal | undefined {
  if (!origin) return 'origin_missing';
  let from: URL;
  try {
    from = new URL(origin);
  } catch {
    return 'origin_foreign';
  }
  const own = new URL(requestUrl);
  const schemeAgrees = from.protocol === own.protocol || from.protocol === 'https:';
  return schemeAgrees && from.host === own.host && origin === from.origin ? undefined : 'origin_foreign';
}
