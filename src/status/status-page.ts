/**
 * The operator's status page: server-rendered HTML without a single script, every value from tenant or item data
 * (domains, errors) escaped as text, and only page-made values (GUID-checked tenant IDs, the key URL-encoded,
 * numbers) in attributes. The actions are plain forms; browsers reach them by keyboard as they are.
 */
import type { PageResponse } from '../consent/pages';
import { escapeHtml, PAGE_HEADERS } from '../consent/pages';
import type { CrawlRun } from '../crawl/crawl-runs';
import type { SkipReason } from '../graph/drive-answer';
import { CRAWLABLE } from '../tenants/tenant-registry';
import type { TenantRecord } from '../tenants/tenant-registry';
import { formatCount, formatDuration, formatTime } from './format';
import { runChart, runChartLegend } from './run-chart';
import type { ActionOutcome } from './status-links';
import { actionPath, checkedTenantId } from './status-links';
import type { AttentionReason, SkipSummary, TenantStatus } from './tenant-status';
import { lastFinishedRun, runDurationMs, tenantName } from './tenant-status';

/**
 * The consent pages' headers, but for `Referrer-Policy`: under `no-referrer` browsers send `Origin: null` with a
 * form POST, and the actions accept only the page's own origin. `strict-origin` sends the origin and never the
 * path or query, so the function key in the page's URL does not travel in a `Referer`.
 */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  ...PAGE_HEADERS,
  'Referrer-Policy': 'strict-origin',
};

export interface StatusPageModel {
  tenants: readonly TenantStatus[];
  now: Date;
  /** The function key the page was asked with, carried into the forms' action URLs. */
  functionKey: string | undefined;
  /** What the action that sent the operator back here did, and the tenant it was about. */
  outcome?: { outcome: ActionOutcome; tenantId: string | undefined };
  /** The app's client ID, for the customer's removal command. */
  appClientId: string;
}

const STYLE = `
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:0 auto;padding:1rem;
line-height:1.45;color:#1b1b1b;background:#fff}
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.15rem;margin:0 0 .25rem;overflow-wrap:anywhere}
section.tenant{border:1px solid #d0d0d0;border-left:6px solid #107c10;border-radius:6px;padding:.75rem 1rem;
margin:1rem 0}
section.attention{border-left-color:#a4262c}section.quiet{border-left-color:#8a8886}
dl{display:grid;grid-template-columns:minmax(9rem,max-content) minmax(0,1fr);gap:.2rem 1rem;margin:.5rem 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere;min-width:0}
.flags{color:#a4262c;font-weight:600;margin:.25rem 0}
.badge{display:inline-block;padding:0 .4rem;border-radius:4px;background:#f3f3f3;border:1px solid #8a8886}
.outcome{border:2px solid #107c10;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.outcome.bad{border-color:#a4262c}
figure{margin:.5rem 0}figcaption{font-size:.9rem;color:#3b3b3b}
svg.chart{display:block;width:100%;max-width:320px;height:auto;border:1px solid #e1e1e1}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.5rem}form{margin:0}
button{font:inherit;padding:.45rem 1rem;background:#0f6cbd;color:#fff;border:0;border-radius:4px;cursor:pointer}
button:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px}
a:focus-visible{outline:3px solid #1b1b1b}
code{background:#f3f3f3;padding:0 .2rem;overflow-wrap:anywhere}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
@media (max-width:32rem){dl{grid-template-columns:minmax(0,1fr)}dd{margin-bottom:.35rem}}`;

const ATTENTION_TEXT: Record<AttentionReason, string> = {
  status_error: 'the tenant is in error',
  consent_incomplete: 'a permission is missing',
  run_failed: 'the last run failed',
  skips_growing: 'more users skipped than the run before',
};

const REASON_TEXT: Record<SkipReason, string> = {
  locked: 'locked',
  accessDenied: 'access denied',
  failing: 'failing',
};

/** Fixed messages of the outcomes; `{tenant}` becomes the tenant's name, escaped, or "the tenant". */
const OUTCOME_TEXT: Record<ActionOutcome, { tone: 'ok' | 'bad'; text: string }> = {
  'crawl-queued': {
    tone: 'ok',
    text: 'A crawl of {tenant} was queued: its run shows as running until the queue workers finish it.',
  },
  'crawl-running': { tone: 'bad', text: '{tenant} has a run going already; no other crawl was queued.' },
  'crawl-not-allowed': {
    tone: 'bad',
    text: '{tenant} is not crawled in its status (only active and error tenants are); nothing was queued.',
  },
  'permissions-proven': { tone: 'ok', text: 'Both permissions of {tenant} are proven granted.' },
  'permissions-missing': {
    tone: 'bad',
    text:
      'A permission of {tenant} is missing: the tenant is consent_incomplete and is not crawled until an ' +
      'administrator of the customer grants it again (its last error names the permission).',
  },
  'permissions-revoked': {
    tone: 'bad',
    text:
      "Entra ID refused a token for {tenant}: the app's access was removed there. The customer has to " +
      'consent again.',
  },
  'permissions-refused': {
    tone: 'bad',
    text:
      'Entra ID refused a token for {tenant} for a reason of the tenant (not found, or a policy); try again ' +
      'later, or ask the customer.',
  },
  'permissions-failed': {
    tone: 'bad',
    text:
      'The permissions of {tenant} could not be checked now (Entra ID or Microsoft Graph did not answer in ' +
      'time); nothing was recorded. Try again in a few minutes.',
  },
  'credential-failed': {
    tone: 'bad',
    text: "The app's own credential could not be used, so nothing was checked; the log says which and why.",
  },
  'tenant-offboarded': { tone: 'bad', text: '{tenant} is offboarded: nothing was checked.' },
  'tenant-not-found': { tone: 'bad', text: 'There is no such tenant; nothing was done.' },
};

/** The page itself. */
export function statusPage(model: StatusPageModel): PageResponse {
  const attention = model.tenants.filter((status) => status.attention.length > 0).length;
  const sections = model.tenants.map((status, index) => tenantSection(status, index + 1, model));
  const summary =
    model.tenants.length === 0
      ? 'No tenant has consented yet.'
      : `${formatCount(model.tenants.length)} ${model.tenants.length === 1 ? 'tenant' : 'tenants'}, ` +
        `${formatCount(attention)} needing attention (listed first).`;
  return layout(
    200,
    'Drive Crawler status',
    `<p>${summary} As of ${timeTag(model.now)}.</p>
${model.outcome ? outcomeBanner(model.outcome, model.tenants) : ''}
${sections.join('\n')}
${removalHelp(model.appClientId)}`,
  );
}

/** A refusal or a failure, in the page's look and with its headers. */
export function statusProblemPage(status: number, title: string, reason: string): PageResponse {
  return layout(status, title, `<p>${escapeHtml(reason)}</p>`);
}

function layout(status: number, title: string, content: string): PageResponse {
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${content}
</main>
</body>
</html>`;
  return { status, headers: { ...STATUS_PAGE_HEADERS }, body };
}

function outcomeBanner(
  { outcome, tenantId }: NonNullable<StatusPageModel['outcome']>,
  tenants: readonly TenantStatus[],
): string {
  const { tone, text } = OUTCOME_TEXT[outcome];
  const tenant = tenants.find((status) => status.tenant.tenantId === tenantId)?.tenant;
  const name = tenant ? `<strong>${escapeHtml(tenantName(tenant))}</strong>` : 'the tenant';
  const html = escapeHtml(text).replace('{tenant}', name);
  return `<p class="outcome ${tone}" role="status">${html.charAt(0).toUpperCase()}${html.slice(1)}</p>`;
}

function tenantSection(status: TenantStatus, index: number, model: StatusPageModel): string {
  const { tenant, runs, skips, attention } = status;
  const name = escapeHtml(tenantName(tenant));
  const id = `tenant-${index}`;
  const tone = attention.length > 0 ? ' attention' : CRAWLABLE.has(tenant.status) ? '' : ' quiet';
  const flags =
    attention.length > 0
      ? `<p class="flags">Needs attention: ${attention.map((reason) => ATTENTION_TEXT[reason]).join('; ')}.</p>`
      : '';
  const rows: Array<[string, string]> = [
    ['Status', `<span class="badge">${escapeHtml(tenant.status)}</span>`],
    ['Tenant ID', `<code>${escapeHtml(tenant.tenantId)}</code>`],
    ['Permissions proven', tenant.permissionsProvenAt ? timeTag(tenant.permissionsProvenAt) : 'never'],
  ];
  if (tenant.lastError) rows.push(['Last error', escapeHtml(tenant.lastError)]);
  rows.push(['Last run', lastRunText(runs[0], model.now)]);
  // A failed run usually left its reason in the tenant's last error too: said once is enough.
  if (runs[0]?.error && runs[0].error !== tenant.lastError)
    rows.push(['Run error', escapeHtml(runs[0].error)]);
  rows.push(['Skipped users', skipText(skips)]);
  rows.push(['Units spent', unitsText(runs)]);
  const chart = runs.length
    ? `<figure>
${runChart(runs, model.now, `${id}-chart`)}
<figcaption>${escapeHtml(runChartLegend(runs, model.now))}</figcaption>
</figure>`
    : '';
  return `<section class="tenant${tone}" aria-labelledby="${id}">
<h2 id="${id}">${name}</h2>
${flags}
<dl>
${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('\n')}
</dl>
${chart}
${actions(tenant, name, model.functionKey)}
</section>`;
}

function lastRunText(run: CrawlRun | undefined, now: Date): string {
  if (!run) return 'none yet';
  const started = `started ${timeTag(new Date(run.startedAt))}`;
  const took =
    run.status === 'running'
      ? `running for ${formatDuration(runDurationMs(run, now))}`
      : `took ${formatDuration(runDurationMs(run, now))}`;
  const users =
    `${formatCount(run.usersCrawled)} of ${formatCount(run.usersSeen)} users crawled, ` +
    `${formatCount(run.usersSkipped)} skipped, ${formatCount(run.itemsStored)} items`;
  return `<strong>${escapeHtml(run.status)}</strong>, ${started}, ${took}; ${users}`;
}

function skipText(skips: SkipSummary): string {
  if (skips.count === 0) return 'none';
  const reasons = (Object.keys(REASON_TEXT) as SkipReason[])
    .filter((reason) => skips.byReason[reason])
    .map((reason) => `${formatCount(skips.byReason[reason] ?? 0)} ${REASON_TEXT[reason]}`);
  const since = skips.since ? `, the first since ${timeTag(new Date(skips.since))}` : '';
  return `${formatCount(skips.count)} (${reasons.join(', ')})${since}`;
}

function unitsText(runs: readonly CrawlRun[]): string {
  const last = lastFinishedRun(runs);
  if (!last) return runs[0] ? `${formatCount(runs[0].unitsSpent)} so far` : 'none yet';
  const total = runs.reduce((sum, run) => sum + run.unitsSpent, 0);
  const throttled = last.throttled ? `, ${formatCount(last.throttled)} throttled answers` : '';
  const over = last.timeOverIdeal ? `, ${last.timeOverIdeal.toFixed(1)}× the ideal time` : '';
  const all = runs.length > 1 ? `; ${formatCount(total)} in the last ${runs.length} runs` : '';
  return `${formatCount(last.unitsSpent)} in the last finished run${throttled}${over}${all}`;
}

function actions(tenant: TenantRecord, name: string, key: string | undefined): string {
  const tenantId = checkedTenantId(tenant.tenantId);
  // A row whose key is not a GUID gets no action: only a checked ID is put into a URL.
  if (!tenantId || tenant.status === 'offboarded') return '';
  const form = (action: 'crawl' | 'permissions', label: string) =>
    `<form method="post" action="${escapeHtml(actionPath(tenantId, action, key))}">` +
    `<button type="submit">${label}<span class="vh"> for ${name}</span></button></form>`;
  const buttons = [form('permissions', 'Check permissions again')];
  if (CRAWLABLE.has(tenant.status)) buttons.unshift(form('crawl', 'Crawl now'));
  return `<div class="actions">${buttons.join('')}</div>`;
}

function removalHelp(appClientId: string): string {
  return `<section aria-labelledby="removal">
<h2 id="removal">When a customer leaves</h2>
<p>The customer removes the app from their own tenant; only an administrator there can. In the Microsoft Entra
admin center: <strong>Enterprise applications</strong> &gt; the app (application ID
<code>${escapeHtml(appClientId)}</code>) &gt; <strong>Properties</strong> &gt; <strong>Delete</strong>. Or with
Microsoft Graph PowerShell, signed in with <code>Connect-MgGraph -Scopes Application.ReadWrite.All</code>:</p>
<p><code>Get-MgServicePrincipal -Filter "appId eq '${escapeHtml(appClientId)}'" | ForEach-Object {
Remove-MgServicePrincipal -ServicePrincipalId $_.Id }</code></p>
<p>That withdraws the app's consent: the next run finds the tenant revoked and reads nothing more. What Drive
Crawler stored about the tenant stays until you offboard it (<code>DELETE /api/tenants/{tenantId}</code>).
Microsoft's steps: <a href="https://learn.microsoft.com/entra/identity/enterprise-apps/delete-application-portal"
rel="noreferrer">Delete an enterprise application</a>.</p>
</section>`;
}

function timeTag(when: Date): string {
  if (Number.isNaN(when.getTime())) return 'unknown';
  return `<time datetime="${escapeHtml(when.toISOString())}">${escapeHtml(formatTime(when))}</time>`;
}
