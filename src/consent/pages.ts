/**
 * The HTML a tenant admin sees. Plain, accessible, no scripts and no external assets; every reflected value
 * goes through `escapeHtml`. The headers forbid scripts, framing, sniffing, caching and referrers.
 */

export interface PageResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
};

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (char) => ENTITIES[char] ?? char);
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;
line-height:1.5;color:#1b1b1b;background:#fff}
h1{font-size:1.6rem}main{border:1px solid #d0d0d0;border-radius:8px;padding:1.5rem}
.ok{border-color:#107c10}.bad{border-color:#a4262c}label{display:block;font-weight:600;margin-top:1rem}
input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}
button{font:inherit;margin-top:1rem;padding:.5rem 1.2rem;background:#0f6cbd;color:#fff;border:0;border-radius:4px}
code{background:#f3f3f3;padding:0 .2rem}`;

function page(
  status: number,
  title: string,
  tone: 'neutral' | 'ok' | 'bad',
  content: string,
  headers: Record<string, string> = PAGE_HEADERS,
): PageResponse {
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - Drive Crawler</title>
<style>${STYLE}</style>
</head>
<body>
<main class="${tone}">
<h1>${escapeHtml(title)}</h1>
${content}
</main>
</body>
</html>`;
  return { status, headers: { ...headers }, body };
}

/** What the landing page needs: whose app it is, where sign-in goes, and the invitation it came with. */
export interface LandingModel {
  isvName: string;
  authorityHost: string;
  /** The invitation token from the link, carried into the form (already checked). */
  invitation?: string;
  /** `ONBOARDING=invite` and no invitation: the page explains that a link from the ISV is needed. */
  invitationNeeded: boolean;
}

/**
 * The landing page: what the app reads and why, who can grant it, and the button that starts sign-in. Its form
 * goes to our start route, which redirects to Entra ID; browsers apply `form-action` to that redirect too, so the
 * policy names the authority host.
 */
export function landingPage(model: LandingModel): PageResponse {
  const { isvName, authorityHost } = model;
  const csp = (PAGE_HEADERS['Content-Security-Policy'] ?? '').replace(
    "form-action 'self'",
    `form-action 'self' ${new URL(authorityHost).origin}`,
  );
  const form = model.invitationNeeded
    ? `<p><strong>You need an invitation link.</strong> ${escapeHtml(isvName)} connects organizations it has
invited. Ask your contact at ${escapeHtml(isvName)} for the link, and open it here.</p>`
    : `<form method="get" action="/api/consent/start">
${model.invitation ? `<input type="hidden" name="invitation" value="${escapeHtml(model.invitation)}">` : ''}
<label for="tenant">Your organization's domain or tenant ID (optional)</label>
<input id="tenant" name="tenant" type="text" autocomplete="off" spellcheck="false" maxlength="253"
placeholder="contoso.onmicrosoft.com">
<button type="submit">Continue to Microsoft to sign in and grant consent</button>
</form>`;
  return page(
    200,
    `Connect your organization to ${isvName}`,
    'neutral',
    `<p>${escapeHtml(isvName)} reads what sits at the top level of each licensed user's OneDrive, on a schedule
and with nobody signed in. To allow that, an administrator of your Microsoft 365 organization grants these
application permissions once:</p>
<ul>
<li><strong>User.Read.All</strong>: to list the licensed users of the organization.</li>
<li><strong>Files.Read.All</strong>: to read the names, sizes and dates of the files and folders at the root of
their OneDrive. The app never changes or deletes anything.</li>
</ul>
<p>First you sign in with your work account, so that we know who grants it: a Global Administrator or a
Privileged Role Administrator of your organization. Then Microsoft shows you the permissions to accept.</p>
<p>You can withdraw this at any time by removing the app under Enterprise applications in Microsoft Entra ID.</p>
${form}`,
    { ...PAGE_HEADERS, 'Content-Security-Policy': csp },
  );
}

/** Consent granted and proven. */
export function connectedPage(organization: string, nextRun: Date, incomplete: string[]): PageResponse {
  const when = nextRun
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');
  if (incomplete.length > 0) {
    return page(
      200,
      'Consent is incomplete',
      'bad',
      `<p>The app can sign in to <strong>${escapeHtml(organization)}</strong>, but these permissions have not
arrived yet: ${incomplete.map((p) => `<code>${escapeHtml(p)}</code>`).join(', ')}. Right after consent, Microsoft
can take a few minutes to make new permissions effective. Your organization will be checked again automatically
before each scheduled run, and read once both permissions are in place; nothing is read until then.</p>
<p>If the administrator declined or removed a permission, start again from the consent link.</p>`,
    );
  }
  return page(
    200,
    'Your organization is connected',
    'ok',
    `<p><strong>${escapeHtml(organization)}</strong> is connected. Its users' OneDrive files will first be read at
the next scheduled run, <time datetime="${escapeHtml(nextRun.toISOString())}">${escapeHtml(when)}</time>.</p>
<p>You can close this page.</p>`,
  );
}

/** Any refusal: a 4xx page with a plain reason, or a 503 when a service we depend on failed. */
export function problemPage(status: number, title: string, reason: string): PageResponse {
  return page(
    status,
    title,
    'bad',
    `<p>${escapeHtml(reason)}</p>
<p><a href="/api/consent">Start again</a></p>`,
  );
}
