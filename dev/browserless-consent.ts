/**
 * Walks onboarding over HTTP the way a browser does (used by the demo and the consent tests; the end-to-end test
 * uses real Chromium): our start route, Entra ID's sign-in page, the redirect back to our callback, Entra ID's
 * consent page and its "Accept" (or "Cancel") form, the redirect back to our callback, each time with the cookie
 * our start route set.
 */

interface FormField {
  name: string;
  value: string;
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(tag);
  const raw = match?.[2] ?? match?.[3];
  return raw
    ?.replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

function formOf(
  html: string,
  button: string,
  tenantField?: string,
): { action: string; method: string; fields: FormField[] } {
  const forms = html.match(/<form[\s\S]*?<\/form>/gi) ?? [];
  for (const form of forms) {
    const buttons = form.match(/<button[\s\S]*?<\/button>/gi) ?? [];
    const chosen = buttons.find((tag) => tag.replace(/<[^>]+>/g, '').trim() === button);
    if (!chosen) continue;
    const open = /<form[^>]*>/i.exec(form)?.[0] ?? '';
    const fields: FormField[] = [];
    for (const input of form.match(/<input[^>]*>/gi) ?? []) {
      const name = attribute(input, 'name');
      if (!name) continue;
      const type = (attribute(input, 'type') ?? 'text').toLowerCase();
      let value = attribute(input, 'value') ?? '';
      if (tenantField !== undefined && type !== 'hidden') value = tenantField;
      fields.push({ name, value });
    }
    for (const select of form.match(/<select[\s\S]*?<\/select>/gi) ?? []) {
      const name = attribute(select, 'name');
      const option = /<option[^>]*>/i.exec(select)?.[0];
      if (name)
        fields.push({ name, value: tenantField ?? (option ? (attribute(option, 'value') ?? '') : '') });
    }
    const buttonName = attribute(chosen, 'name');
    if (buttonName) fields.push({ name: buttonName, value: attribute(chosen, 'value') ?? '' });
    return {
      action: attribute(open, 'action') ?? '',
      method: (attribute(open, 'method') ?? 'get').toLowerCase(),
      fields,
    };
  }
  const problem = /role="alert">([^<]*)</.exec(html)?.[1];
  throw new Error(`The page has no "${button}" button${problem ? `: ${problem}` : ''}`);
}

async function submit(pageUrl: string, html: string, button: string, field?: string): Promise<Response> {
  const form = formOf(html, button, field);
  const body = new URLSearchParams(form.fields.map((entry): [string, string] => [entry.name, entry.value]));
  const target = new URL(form.action, pageUrl);
  return form.method === 'post'
    ? fetch(target, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        redirect: 'manual',
      })
    : fetch(`${target.toString()}?${body.toString()}`, { redirect: 'manual' });
}

/**
 * Signs `login` in on Entra ID's sign-in page at `authorizeUrl`; returns where Entra ID redirects (our callback
 * with the code). Throws with the page's message when the sign-in is refused (an unknown account).
 */
export async function signInAt(authorizeUrl: string, login: string): Promise<string> {
  const page = await fetch(authorizeUrl);
  const html = await page.text();
  const answer = await submit(authorizeUrl, html, 'Sign in', login);
  const location = answer.headers.get('location');
  if (answer.status !== 302 || !location) {
    const problem = /role="alert">([^<]*)</.exec(await answer.text())?.[1];
    throw new Error(`sign-in as ${login} answered ${answer.status}${problem ? `: ${problem}` : ''}`);
  }
  return location;
}

export interface ConsentWalk {
  status: number;
  body: string;
}

/**
 * Starts at `startUrl`, signs in as `login` (an admin of the organization, e.g. `admin@contoso.onmicrosoft.test`),
 * presses `button` on the consent page and lands on our callback.
 */
export async function walkConsent(
  startUrl: string,
  login: string,
  button: 'Accept' | 'Cancel',
): Promise<ConsentWalk> {
  const start = await fetch(startUrl, { redirect: 'manual' });
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const authorizeUrl = start.headers.get('location');
  if (start.status !== 302 || !authorizeUrl) throw new Error(`start answered ${start.status}`);
  const signedIn = await fetch(await signInAt(authorizeUrl, login), {
    headers: { cookie },
    redirect: 'manual',
  });
  const consentUrl = signedIn.headers.get('location');
  if (signedIn.status !== 302 || !consentUrl) return { status: signedIn.status, body: await signedIn.text() };
  const page = await fetch(consentUrl);
  const decided = await submit(consentUrl, await page.text(), button);
  const callbackUrl = decided.headers.get('location');
  if (!callbackUrl) throw new Error(`the consent page answered ${decided.status} without a redirect`);
  const callback = await fetch(callbackUrl, { headers: { cookie }, redirect: 'manual' });
  return { status: callback.status, body: await callback.text() };
}
