import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningLocalHost } from '../../dev/local-host/local-functions-host';
import { startLocalHost } from '../../dev/local-host/local-functions-host';
import type { SimClient } from '../../dev/sim/sim-client';
import type { TenantInfo } from '../../dev/sim/types';
import { PAGE_HEADERS } from '../../src/consent/pages';
import { sim } from '../support/sim';
import type { TestApp } from '../support/test-app';
import { createTestApp, freePort } from '../support/test-app';
import {
  ARTIFACTS,
  CHROMIUM,
  HOSTILE,
  launchChromium,
  onboard,
  eventHandlerAttributes,
  focusedControl,
  formActions,
  rawPost,
  seedHostileTenant,
  tabOrder,
  tenantHeadings,
  tenantSection,
} from './status-helpers';

const available = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true';
const SETTINGS = { userPageSize: 10, usersPerBatch: 6, graphMaxAttempts: 2, graphBackoffMs: 10 };
/** A key as Azure makes them (base64url and `==`); under `npm run serve` nothing checks it. */
const KEY = 'k3y_Abc-0123456789abcdefABCDEF==';

if (!available && !inCi) {
  console.warn(`Skipping the status page test: Debian's chromium is not installed at ${CHROMIUM}.`);
}

(available ? describe : describe.skip)('the status page in a real browser', () => {
  let cloud: SimClient;
  let app: TestApp;
  let host: RunningLocalHost;
  let browser: Browser;
  let base: string;
  /** Crawled clean, then again with one user's OneDrive locked: skips growing. */
  let skipped: TenantInfo;
  /** Consent recorded without Files.Read.All. */
  let waiting: TenantInfo;
  /** Revoked before its crawl: a failed run. */
  let revoked: TenantInfo;
  /** Crawled clean. */
  let healthy: TenantInfo;
  /** Recorded active, but its consent lacks Files.Read.All (withdrawn since). */
  let partial: TenantInfo;
  let hostileId: string;
  /** What the local host logged: the handlers log through the invocation, as in Azure. */
  const hostLog: string[] = [];

  /** Queues a crawl through the operator's JSON route and lets the queue workers finish it. */
  async function crawl(tenantId: string): Promise<void> {
    const answer = await fetch(`${base}/api/tenants/${tenantId}/crawl`, { method: 'POST' });
    expect(answer.status).toBe(202);
    await host.drain();
  }

  async function openPage(query = '', viewport = { width: 1100, height: 900 }) {
    const context: BrowserContext = await browser.newContext({ viewport });
    const page: Page = await context.newPage();
    const answer = await page.goto(`${base}/api/status${query}`);
    expect(answer?.status()).toBe(200);
    return { context, page, answer: answer! };
  }

  beforeAll(async () => {
    cloud = sim();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    app = await createTestApp({ crawlSettings: SETTINGS });
    host = await startLocalHost(app.context, {
      port,
      workers: false,
      log: (_level, text) => hostLog.push(text),
    });
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });

    [skipped, waiting, revoked, healthy, partial] = await Promise.all([
      onboard(cloud, app.context, app.clientId),
      onboard(cloud, app.context, app.clientId, { status: 'consent_incomplete', roles: ['User.Read.All'] }),
      onboard(cloud, app.context, app.clientId),
      onboard(cloud, app.context, app.clientId),
      onboard(cloud, app.context, app.clientId, { roles: ['User.Read.All'] }),
    ]);
    hostileId = await seedHostileTenant(app.context);

    await crawl(skipped.tenantId);
    const [first] = await cloud.listUsers(skipped.tenantId);
    await cloud.setDriveAnomaly(skipped.tenantId, first!.id, 'locked');
    await crawl(skipped.tenantId);
    await cloud.revoke(revoked.tenantId, app.clientId);
    await crawl(revoked.tenantId);
    await crawl(healthy.tenantId);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
  });

  it('lists the tenants needing attention first, each with its status, last run, skips, units and chart', async () => {
    expect((await app.context.runs.latest(skipped.tenantId))?.usersSkipped).toBe(1);
    const { context, page, answer } = await openPage();
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page.png'), fullPage: true });

    const headings = await tenantHeadings(page);
    expect(headings.slice(0, 4)).toEqual([HOSTILE.domain, waiting.domain, revoked.domain, skipped.domain]);
    expect(headings.slice(4).sort()).toEqual([healthy.domain, partial.domain].sort());

    const hostile = tenantSection(page, HOSTILE.domain);
    await expect(hostile.locator('.flags').textContent()).resolves.toBe(
      'Needs attention: the tenant is in error; the last run failed.',
    );

    const incomplete = tenantSection(page, waiting.domain);
    await expect(incomplete.textContent()).resolves.toMatch(/Statusconsent_incomplete/);
    await expect(incomplete.locator('.flags').textContent()).resolves.toMatch(/a permission is missing/);
    await expect(incomplete.textContent()).resolves.toContain('Last runnone yet');
    // Only active and error tenants are crawled: no "Crawl now" for it.
    await expect(incomplete.getByRole('button').allTextContents()).resolves.toEqual([
      `Check permissions again for ${waiting.domain}`,
    ]);

    const failed = tenantSection(page, revoked.domain);
    const failedText = await failed.textContent();
    expect(failedText).toContain('the last run failed');
    expect(failedText).toMatch(/Last runfailed, started .* UTC, took /);
    expect(failedText).toContain("The app's access was revoked by the tenant");

    const growing = tenantSection(page, skipped.domain);
    const growingText = await growing.textContent();
    expect(growingText).toContain('more users skipped than the run before');
    expect(growingText).toMatch(/Skipped users1 \(1 locked\), the first since .* UTC/);
    expect(growingText).toMatch(
      /Last runsucceeded, started .* UTC, took .*; 7 of 8 users crawled, 1 skipped/,
    );
    // Two runs drawn, the chart named in words.
    expect(await growing.locator('svg.chart rect').count()).toBe(2);
    await expect(growing.getByRole('img').getAttribute('aria-labelledby')).resolves.toBeTruthy();
    await expect(growing.locator('svg.chart title').textContent()).resolves.toMatch(
      /^Last 2 runs, oldest first: succeeded, .* units; succeeded, .* units$/,
    );

    const calm = tenantSection(page, healthy.domain);
    const run = await app.context.runs.latest(healthy.tenantId);
    expect(run?.unitsSpent).toBeGreaterThan(0);
    const calmText = await calm.textContent();
    expect(calmText).not.toContain('Needs attention');
    expect(calmText).toContain(`${run!.unitsSpent.toLocaleString('en-US')} in the last finished run`);
    expect(calmText).toMatch(/Permissions proven\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(calmText).toContain('Skipped usersnone');

    // How a customer removes the app, as static text.
    const text = await page.locator('main').textContent();
    expect(text).toContain('Enterprise applications');
    expect(text).toContain('Remove-MgServicePrincipal');
    expect(text).toContain(app.clientId);

    // The consent pages' headers, but a Referrer-Policy under which a form POST still carries its Origin.
    const headers = answer.headers();
    for (const [name, value] of Object.entries(PAGE_HEADERS)) {
      if (name !== 'Referrer-Policy') expect(headers[name.toLowerCase()]).toBe(value);
    }
    expect(headers['referrer-policy']).toBe('strict-origin');
    await context.close();
  });

  it('queues a crawl from "Crawl now" and shows the run once the workers finish it', async () => {
    const before = await app.context.runs.latest(healthy.tenantId);
    const { context, page } = await openPage();
    await Promise.all([
      page.waitForURL(/done=crawl-queued/),
      page.getByRole('button', { name: `Crawl now for ${healthy.domain}` }).click(),
    ]);
    await expect(page.getByRole('status').textContent()).resolves.toBe(
      `A crawl of ${healthy.domain} was queued: its run shows as running until the queue workers finish it.`,
    );
    const queued = await app.context.runs.latest(healthy.tenantId);
    expect(queued?.runId).not.toBe(before?.runId);
    expect(queued?.status).toBe('running');
    await expect(tenantSection(page, healthy.domain).textContent()).resolves.toMatch(
      /Last runrunning, started/,
    );

    await host.drain();
    await page.reload();
    expect((await app.context.runs.get(healthy.tenantId, queued!.runId))?.status).toBe('succeeded');
    expect(await tenantSection(page, healthy.domain).locator('svg.chart rect').count()).toBe(2);
    await context.close();
  });

  it('turns a tenant without Files.Read.All consent_incomplete on "Check permissions again", and active again once granted', async () => {
    const { context, page } = await openPage();
    const check = () => page.getByRole('button', { name: `Check permissions again for ${partial.domain}` });
    await Promise.all([page.waitForURL(/done=permissions-missing/), check().click()]);
    const missing = await app.context.registry.get(partial.tenantId);
    expect(missing?.status).toBe('consent_incomplete');
    expect(missing?.lastError).toMatch(/Files\.Read\.All/);
    await expect(page.getByRole('status').textContent()).resolves.toMatch(
      new RegExp(`^A permission of ${partial.domain.replace(/\./g, '\\.')} is missing`),
    );
    await expect(tenantSection(page, partial.domain).locator('.flags').textContent()).resolves.toMatch(
      /a permission is missing/,
    );

    // The customer's admin grants both permissions again.
    await cloud.consent(partial.tenantId, app.clientId);
    const asked = Date.now();
    await Promise.all([page.waitForURL(/done=permissions-proven/), check().click()]);
    const proven = await app.context.registry.get(partial.tenantId);
    expect(proven?.status).toBe('active');
    expect(proven?.lastError).toBeUndefined();
    expect(proven?.permissionsProvenAt?.getTime()).toBeGreaterThanOrEqual(asked - 1000);
    await expect(page.getByRole('status').textContent()).resolves.toBe(
      `Both permissions of ${partial.domain} are proven granted.`,
    );
    await context.close();
  });

  it('answers a re-check of a revoked tenant with an outcome on the page, not a failure', async () => {
    const { context, page } = await openPage();
    await Promise.all([
      page.waitForURL(/done=permissions-revoked/),
      page.getByRole('button', { name: `Check permissions again for ${revoked.domain}` }).click(),
    ]);
    await expect(page.getByRole('status').textContent()).resolves.toMatch(/access was removed there/);
    expect((await app.context.registry.get(revoked.tenantId))?.status).toBe('revoked');
    await context.close();
  });

  it("refuses an action without the page's own Origin, and does nothing", async () => {
    const action = `${base}/api/status/tenants/${healthy.tenantId}/crawl`;
    const permissions = `${base}/api/status/tenants/${partial.tenantId}/permissions`;
    const runBefore = await app.context.runs.latest(healthy.tenantId);
    const tenantBefore = await app.context.registry.get(partial.tenantId);
    await cloud.consent(partial.tenantId, app.clientId, { roles: ['User.Read.All'] });
    const refusedLogs = () => hostLog.filter((line) => line.startsWith('status action refused ')).length;
    const logsBefore = refusedLogs();

    const attempts: Array<[string, Record<string, string>]> = [
      [action, {}],
      [action, { Origin: 'https://evil.example' }],
      [action, { Origin: 'null' }],
      [action, { Origin: `${base}.evil.example` }],
      // A DNS-rebinding page: its Origin matches its own Host, which is not loopback.
      [
        action,
        {
          Host: `rebound.example:${new URL(base).port}`,
          Origin: `http://rebound.example:${new URL(base).port}`,
        },
      ],
      [permissions, { Origin: 'https://evil.example' }],
      [permissions, {}],
    ];
    for (const [url, headers] of attempts) {
      const answer = await rawPost(url, headers);
      expect(answer.status).toBe(403);
      expect(answer.location).toBeUndefined();
    }
    expect(refusedLogs() - logsBefore).toBe(attempts.length);
    expect((await app.context.runs.latest(healthy.tenantId))?.runId).toBe(runBefore?.runId);
    // The permission check did not run: with Files.Read.All withdrawn again it would have turned the tenant.
    expect(await app.context.registry.get(partial.tenantId)).toEqual(tenantBefore);
    await cloud.consent(partial.tenantId, app.clientId);

    // The same POST from the page's own origin goes through.
    const accepted = await rawPost(permissions, { Origin: base });
    expect(accepted.status).toBe(303);
    expect(accepted.location).toBe(`/api/status?done=permissions-proven&tenant=${partial.tenantId}`);
  });

  it('reaches every action by keyboard, and submits one with Enter', async () => {
    const { context, page } = await openPage();
    const buttons = (await page.getByRole('button').allTextContents()).map((text) => `button:${text}`);
    const reached = await tabOrder(page);
    expect(reached.filter((entry) => entry.startsWith('button:'))).toEqual(buttons);

    await page.reload();
    const target = `button:Crawl now for ${skipped.domain}`;
    for (let step = 0; step < reached.length; step += 1) {
      await page.keyboard.press('Tab');
      if ((await focusedControl(page)) === target) break;
    }
    expect(await focusedControl(page)).toBe(target);
    await Promise.all([page.waitForURL(/done=crawl-queued/), page.keyboard.press('Enter')]);
    expect((await app.context.runs.latest(skipped.tenantId))?.status).toBe('running');
    await host.drain();
    await context.close();
  });

  it('reads at 360 px wide without scrolling sideways', async () => {
    const { context, page } = await openPage('', { width: 360, height: 800 });
    const width = await page.evaluate<number>(
      'Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)',
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-360.png'), fullPage: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-360-first-screen.png') });
    expect(width).toBeLessThanOrEqual(360);
    await context.close();
  });

  it('shows markup from tenant data as text, and has no script or event handler anywhere', async () => {
    const { context, page } = await openPage('?done=%3Cscript%3Ealert(1)%3C/script%3E&tenant=%3Cimg%3E');
    expect(await page.locator('script').count()).toBe(0);
    expect(await eventHandlerAttributes(page)).toEqual([]);
    expect(await page.locator('[href^="javascript:"]').count()).toBe(0);
    // An outcome that is not one of the page's own is not shown at all.
    expect(await page.getByRole('status').count()).toBe(0);

    const hostile = tenantSection(page, HOSTILE.domain);
    await expect(hostile.getByRole('heading').textContent()).resolves.toBe(HOSTILE.domain);
    const text = await hostile.textContent();
    expect(text).toContain(`Last error${HOSTILE.lastError}`);
    expect(text).toContain(`Run error${HOSTILE.runError}`);
    // The hostile tenant's ID is a GUID, so its forms exist, their URLs made of it alone.
    const actions = (await formActions(hostile)).map((action) => `${action.pathname}${action.search}`);
    expect(actions).toEqual([
      `/api/status/tenants/${hostileId}/crawl`,
      `/api/status/tenants/${hostileId}/permissions`,
    ]);

    const raw = await (await fetch(`${base}/api/status?done=%3Cb%3E&code=%3Cb%3E`)).text();
    // Markup only as escaped text (a javascript: URL included: it is text, never an href).
    expect(raw).not.toMatch(/<script|<img|<svg onload|<b>|href="javascript:/i);
    expect(raw).not.toMatch(/<[^>]*\son\w+\s*=/i);
    expect(raw).toContain('&lt;script&gt;alert(&quot;domain&quot;)&lt;/script&gt;');
    await context.close();
  });

  it('carries the function key from the page address into every action URL and back, and never logs it', async () => {
    const { context, page } = await openPage(`?code=${encodeURIComponent(KEY)}`);
    const actions = await formActions(page);
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(action.searchParams.get('code')).toBe(KEY);

    await Promise.all([
      page.waitForURL(/done=permissions-proven/),
      page.getByRole('button', { name: `Check permissions again for ${healthy.domain}` }).click(),
    ]);
    expect(new URL(page.url()).searchParams.get('code')).toBe(KEY);
    for (const action of await formActions(page)) expect(action.searchParams.get('code')).toBe(KEY);

    // Something that is not a key is not carried.
    await page.goto(`${base}/api/status?code=${encodeURIComponent('"><b>')}`);
    for (const action of await formActions(page)) expect(action.search).toBe('');

    const logged = JSON.stringify([app.logs, hostLog]);
    expect(hostLog.some((line) => line.startsWith('status action done '))).toBe(true);
    expect(logged).not.toContain(KEY);
    expect(logged).not.toContain(encodeURIComponent(KEY));
    await context.close();
  });
});

if (!available && inCi) {
  it('has Debian chromium installed in CI', () => {
    throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run must install Debian's chromium package`);
  });
}
