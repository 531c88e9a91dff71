/**
 * Walks the admin consent flow over HTTP the way a browser does (used by the demo; the end-to-end test uses
 * real Chromium): our start route, Entra ID's consent page, its "Accept" (or "Cancel") form, the redirect back
 * to our callback with the cookie our start route set.
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
  button: 'Accept' | 'Cancel',
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
  throw new Error(`The consent page has no "${button}" button`);
}

export interface ConsentWalk {
  status: number;
  body: string;
}

/** Starts consent at `startUrl`, presses `button` on the consent page as the admin of `tenant`, lands on the callback. */
export async function walkConsent(
  startUrl: string,
  button: 'Accept' | 'Cancel',
  tenant?: string,
): Promise<ConsentWalk> {
  const start = await fetch(startUrl, { redirect: 'manual' });
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const consentUrl = start.headers.get('location');
  if (start.status !== 302 || !consentUrl) throw new Error(`start answered ${start.status}`);
  const page = await fetch(consentUrl);
  const form = formOf(await page.text(), button, tenant);
  const body = new URLSearchParams(form.fields.map((field): [string, string] => [field.name, field.value]));
  const target = new URL(form.action, consentUrl);
  const decided =
    form.method === 'post'
      ? await fetch(target, {
          method: 'POST',
          body,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          redirect: 'manual',
        })
      : await fetch(`${target.toString()}?${body.toString()}`, { redirect: 'manual' });
  const callbackUrl = decided.headers.get('location');
  if (!callbackUrl) throw new Error(`the consent page answered ${decided.status} without a redirect`);
  const callback = await fetch(callbackUrl, { headers: { cookie }, redirect: 'manual' });
  return { status: callback.status, body: await callback.text() };
}
