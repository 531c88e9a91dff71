import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import { REDIRECT_URI, credential, jwtPayload, newApp, newTenant } from './sim-sdk';

/** The form fields of the page (hidden inputs and the tenant field), as a browser would post them. */
function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input [^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
    const value = match[2]!
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
    fields[match[1]!] = value;
  }
  return fields;
}

function formAction(html: string): string {
  return /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? '';
}

describe('simulated adminconsent page', () => {
  let cloud: SimulatedCloud;

  beforeAll(async () => {
    cloud = await startSimulatedCloud({ timeScale: 60 });
  });
  afterAll(() => cloud.close());

  function consentUrl(tenant: string, params: Record<string, string>): string {
    return `${cloud.url}/${tenant}/v2.0/adminconsent?${new URLSearchParams(params).toString()}`;
  }

  async function openPage(tenant: string, clientId: string, state: string): Promise<Response> {
    return fetch(
      consentUrl(tenant, {
        client_id: clientId,
        scope: `${cloud.url}/.default`,
        redirect_uri: REDIRECT_URI,
        state,
      }),
    );
  }

  async function submit(html: string, fields: Record<string, string>): Promise<Response> {
    return fetch(`${cloud.url}${formAction(html)}`, {
      method: 'POST',
      body: new URLSearchParams({ ...formFields(html), ...fields }),
      redirect: 'manual',
    });
  }

  it('renders the requested permissions with Accept and Cancel buttons', async () => {
    const app = await newApp(cloud, { displayName: 'Contoso Drive Crawler' });
    const tenant = await newTenant(cloud, undefined);

    const response = await openPage(tenant.tenantId, app.clientId, 's1');
    const html = await response.text();

    expect(response.status).toBe(200);
    expect(html).toContain('Permissions requested');
    expect(html).toContain('Contoso Drive Crawler');
    expect(html).toContain('User.Read.All');
    expect(html).toContain('Files.Read.All');
    expect(html).toMatch(/<button type="submit" name="action" value="accept">Accept<\/button>/);
    expect(html).toMatch(
      /<button type="submit" name="action" value="cancel" formnovalidate>Cancel<\/button>/,
    );
    expect(html).not.toMatch(/<(script|link|img)\b/);
  });

  it('grants consent on Accept and redirects with admin_consent, tenant, scope and state', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);
    const html = await (await openPage(tenant.domain, app.clientId, 'state-42')).text();

    const response = await submit(html, { action: 'accept' });
    const location = new URL(response.headers.get('location') ?? '');
    const token = await credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(
      `${cloud.url}/.default`,
    );

    expect(response.status).toBe(302);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(Object.fromEntries(location.searchParams)).toEqual({
      admin_consent: 'True',
      tenant: tenant.tenantId,
      scope: `${cloud.url}/.default`,
      state: 'state-42',
    });
    expect(jwtPayload(token.token).roles).toEqual(['User.Read.All', 'Files.Read.All']);
  });

  it('lets the admin name their tenant when the URL says organizations', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);
    const html = await (await openPage('organizations', app.clientId, 'org')).text();

    const response = await submit(html, { action: 'accept', tenant: tenant.domain });

    expect(html).toMatch(/<input type="text" id="tenant" name="tenant"/);
    expect(new URL(response.headers.get('location') ?? '').searchParams.get('tenant')).toBe(tenant.tenantId);
  });

  it('redirects with access_denied and AADSTS65004 on Cancel, granting nothing', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);
    const html = await (await openPage(tenant.tenantId, app.clientId, 'declined')).text();

    const response = await submit(html, { action: 'cancel' });
    const location = response.headers.get('location') ?? '';
    const params = new URL(location).searchParams;
    const attempt = credential(cloud, tenant.tenantId, app.clientId, app.secret).getToken(
      `${cloud.url}/.default`,
    );

    expect(response.status).toBe(302);
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toMatch(/^AADSTS65004: /);
    expect(params.get('admin_consent')).toBe('True');
    expect(params.get('state')).toBe('declined');
    expect(location).toContain('error_description=AADSTS65004%3a+User+declined');
    await expect(attempt).rejects.toThrow(/AADSTS700016:/);
  });

  it('shows an AADSTS50011 error page, without redirecting, for an unregistered redirect URI', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);

    const response = await fetch(
      consentUrl(tenant.tenantId, {
        client_id: app.clientId,
        scope: `${cloud.url}/.default`,
        redirect_uri: 'https://evil.test/cb',
      }),
      { redirect: 'manual' },
    );

    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('AADSTS50011');
  });

  it('shows an AADSTS700016 error page for an unknown client ID', async () => {
    const tenant = await newTenant(cloud, undefined);

    const response = await openPage(tenant.tenantId, '99999999-9999-4999-8999-999999999999', 'x');

    expect(response.status).toBe(400);
    expect(await response.text()).toContain('AADSTS700016');
  });

  it('refuses a request without a scope', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);

    const response = await fetch(
      consentUrl(tenant.tenantId, { client_id: app.clientId, redirect_uri: REDIRECT_URI }),
    );

    expect(response.status).toBe(400);
    expect(await response.text()).toContain('AADSTS900144');
  });

  it('escapes reflected values', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);

    const html = await (await openPage(tenant.tenantId, app.clientId, '"><script>alert(1)</script>')).text();

    expect(html).not.toContain('<script>alert(1)</script>');
    expect(formFields(html).state).toBe('"><script>alert(1)</script>');
  });

  it('logs consent requests', async () => {
    const app = await newApp(cloud);
    const tenant = await newTenant(cloud, undefined);
    await openPage(tenant.tenantId, app.clientId, 'logged');

    const log = await cloud.requestLog({ service: 'consent', clientId: app.clientId });

    expect(log.map((entry) => [entry.method, entry.status, entry.tenantId])).toEqual([
      ['GET', 200, tenant.tenantId],
    ]);
  });
});
