import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { Locator, Page } from 'playwright-core';
import type { SimClient } from '../../dev/sim/sim-client';
import type { TenantInfo } from '../../dev/sim/types';
import type { AppContext } from '../../src/app-context';
import { newRunId } from '../../src/crawl/run-id';
import { uniqueSeed } from '../support/test-app';

export { ARTIFACTS, CHROMIUM, launchChromium } from '../support/chromium';

/** Creates a simulated tenant of licensed users with drives, consents the app with `roles` and records it. */
export async function onboard(
  cloud: SimClient,
  context: AppContext,
  clientId: string,
  options: {
    status?: 'active' | 'consent_incomplete';
    roles?: Array<'User.Read.All' | 'Files.Read.All'>;
  } = {},
): Promise<TenantInfo> {
  const tenant = await cloud.createTenant({
    seed: uniqueSeed(),
    users: 8,
    unlicensedShare: 0,
    withoutDriveShare: 0,
    itemsPerUser: [1, 4],
  });
  await cloud.consent(tenant.tenantId, clientId, options.roles ? { roles: options.roles } : undefined);
  await context.registry.recordConsent(
    tenant.tenantId,
    options.status ?? 'active',
    new Date(),
    tenant.domain,
  );
  return tenant;
}

/** Markup where tenant data goes: the page must show every bit of it as text. */
export const HOSTILE = {
  domain: '<script>alert("domain")</script><img src=x onerror=alert(1)>.onmicrosoft.test',
  lastError: `<img src=x onerror=alert(2)>" onmouseover="alert(3)" '><b>bold</b>`,
  runError: '<svg onload=alert(4)></svg><a href="javascript:alert(5)">x</a>',
};

/**
 * A tenant no simulator knows, written straight into the tables with markup in its domain, its last error and
 * its failed run's error: `error`, so the page lists it first.
 */
export async function seedHostileTenant(context: AppContext): Promise<string> {
  const tenantId = randomUUID();
  const started = new Date(Date.now() - 95_000);
  await context.registry.recordConsent(tenantId, 'active', started, HOSTILE.domain);
  const runId = newRunId(started);
  await context.runs.open(tenantId, runId, started);
  await context.runs.finish(tenantId, runId, {
    status: 'failed',
    finishedAt: new Date(started.getTime() + 65_000),
    error: HOSTILE.runError,
  });
  await context.registry.recordCrawlOutcome(tenantId, {
    status: 'error',
    at: new Date(),
    error: HOSTILE.lastError,
    runId,
  });
  return tenantId;
}

export interface RawAnswer {
  status: number;
  location: string | undefined;
  body: string;
}

/** A POST with exactly the headers given (no `Origin` unless named), as a script or another site would send it. */
export function rawPost(url: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: 'POST', headers: { 'Content-Length': '0', ...headers } },
      (answer) => {
        let body = '';
        answer.setEncoding('utf8');
        answer.on('data', (chunk: string) => (body += chunk));
        answer.on('end', () =>
          resolve({ status: answer.statusCode ?? 0, location: answer.headers.location, body }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** The visible heading of every tenant section, in page order. */
export function tenantHeadings(page: Page): Promise<string[]> {
  return page.locator('section.tenant h2').allTextContents();
}

/** The tenant's section, found by its heading's exact text. */
export function tenantSection(page: Page, name: string) {
  return page.locator('section.tenant').filter({ has: page.getByRole('heading', { name, exact: true }) });
}

/** The control that has the keyboard focus, as `tag:text`, or undefined when none has it. */
export async function focusedControl(page: Page): Promise<string | undefined> {
  // An expression, not a function: the tests compile without the DOM's types.
  const focused = await page.evaluate<string | null>(
    `(() => { const e = document.activeElement;
      return e && e !== document.body ? e.tagName.toLowerCase() + ':' + (e.textContent || '').trim() : null; })()`,
  );
  return focused ?? undefined;
}

/** What the keyboard reaches: Tab from the top of the page until focus leaves it or comes round again. */
export async function tabOrder(page: Page, limit = 200): Promise<string[]> {
  const reached: string[] = [];
  for (let step = 0; step < limit; step += 1) {
    await page.keyboard.press('Tab');
    const focused = await focusedControl(page);
    if (focused === undefined || reached.includes(focused)) break;
    reached.push(focused);
  }
  return reached;
}

/** The form actions of the page, as the browser resolves them against the page's address. */
export async function formActions(scope: Page | Locator): Promise<URL[]> {
  const page = 'page' in scope ? scope.page() : scope;
  const actions: URL[] = [];
  for (const form of await scope.locator('form').all()) {
    actions.push(new URL((await form.getAttribute('action')) ?? '', page.url()));
  }
  return actions;
}

/** The names of every attribute on the page that starts with `on` (an event handler). */
export function eventHandlerAttributes(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(
    `Array.from(document.querySelectorAll('*')).flatMap((e) => e.getAttributeNames().filter((n) => /^on/i.test(n)))`,
  );
}
