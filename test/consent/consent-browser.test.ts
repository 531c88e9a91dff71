import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { ARTIFACTS, CHROMIUM, launchChromium } from '../support/chromium';
import type { RunningLocalHost } from '../../dev/local-host/local-functions-host';
import { startLocalHost } from '../../dev/local-host/local-functions-host';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, freePort, uniqueSeed } from '../support/test-app';

const available = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true';

if (!available && !inCi) {
  console.warn(
    `Skipping the browser test: Debian's chromium is not installed at ${CHROMIUM} (apt-get install chromium).`,
  );
}

(available ? describe : describe.skip)('consent in a real browser', () => {
  let app: TestApp;
  let host: RunningLocalHost;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    app = await createTestApp({}, { redirectUri: `${base}/api/consent/callback`, onboarding: 'invite' });
    host = await startLocalHost(app.context, { port, workers: false, log: () => undefined });
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
  });

  /** The operator's invitation, created through the route, as the link the customer gets. */
  async function invitationLink(): Promise<string> {
    const answer = await fetch(`${base}/api/invitations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(answer.status).toBe(201);
    return ((await answer.json()) as { link: string }).link;
  }

  async function walk(
    button: 'Accept' | 'Cancel',
    name: string,
    login = (domain: string) => `admin@${domain}`,
  ) {
    const tenant = await sim().createTenant({ seed: uniqueSeed(), users: 8, withoutDriveShare: 0 });
    // The simulator's pages are served over https with the test CA, which Chromium does not know.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(await invitationLink());
    await page.screenshot({ path: path.join(ARTIFACTS, `consent-${name}-1-landing.png`), fullPage: true });
    await page.getByLabel(/domain or tenant ID/).fill(tenant.domain);
    await page.getByRole('button', { name: /Continue to Microsoft/ }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, `consent-${name}-2-sign-in.png`), fullPage: true });
    await page.getByLabel(/Email/).fill(login(tenant.domain));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    if (!page.url().includes('/api/consent/callback')) {
      await page.screenshot({ path: path.join(ARTIFACTS, `consent-${name}-3-entra.png`), fullPage: true });
      await page.getByRole('button', { name: button }).waitFor({ timeout: 10_000 });
      await page.getByRole('button', { name: button }).click();
      await page.waitForURL(/\/api\/consent\/callback/);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, `consent-${name}-4-result.png`), fullPage: true });
    const heading = await page.getByRole('heading', { level: 1 }).textContent();
    const text = await page.locator('main').textContent();
    await context.close();
    return { tenant, heading, text };
  }

  it('walks from the invitation through sign-in and Accept to the success page and stores the tenant', async () => {
    const { tenant, heading, text } = await walk('Accept', 'accept');
    expect(heading).toBe('Your organization is connected');
    expect(text).toContain(tenant.domain);
    expect(await app.context.registry.get(tenant.tenantId)).toMatchObject({
      status: 'active',
      domain: tenant.domain,
    });
  });

  it('stores nothing when the admin presses Cancel', async () => {
    const { tenant, heading } = await walk('Cancel', 'cancel');
    expect(heading).toBe('Consent was not granted');
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
  });

  it('tells a signed-in member without an admin role who can grant it, and stores nothing', async () => {
    const { tenant, heading, text } = await walk('Accept', 'member', (domain) => `user2@${domain}`);
    expect(heading).toBe('An administrator needs to do this');
    expect(text).toContain('Global Administrator');
    expect(await app.context.registry.get(tenant.tenantId)).toBeUndefined();
  });
});

if (!available && inCi) {
  it('has Debian chromium installed in CI', () => {
    throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run must install Debian's chromium package`);
  });
}
