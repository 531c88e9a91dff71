import { escapeHtml } from './http-kit';
import type { GraphAppRole } from './types';

/** What each application permission lets the app do, as the real consent page words it. */
const ROLE_DESCRIPTIONS: Record<GraphAppRole, string> = {
  'User.Read.All': "Read all users' full profiles",
  'Files.Read.All': 'Read files in all site collections',
};

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}' +
  'h1{font-size:1.5rem}ul{padding-left:1.2rem}label{display:block;margin:1rem 0 .3rem}' +
  'input[type=text]{width:100%;padding:.4rem;box-sizing:border-box}' +
  'button{margin:1rem .5rem 0 0;padding:.5rem 1.5rem;font-size:1rem}.error{color:#a80000}';

function page(title: string, body: string): string {
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main>${body}</main></body></html>\n`
  );
}

/** Everything the adminconsent form carries back to the simulator. */
export interface ConsentPageModel {
  /** Where the form posts: the same `/{tenant}/v2.0/adminconsent` path. */
  action: string;
  appName: string;
  clientId: string;
  roles: readonly GraphAppRole[];
  scope: string;
  redirectUri: string;
  state: string | undefined;
  /** The tenant from the URL, or undefined for `organizations` (the admin then names their tenant). */
  tenantLabel: string | undefined;
  /** Pre-filled value and suggestions for the tenant field. */
  tenantSuggestion: string;
  knownTenants: readonly string[];
  /** Shown above the form when a previous post named an unknown tenant. */
  problem?: string;
}

function hidden(name: string, value: string | undefined): string {
  return value === undefined ? '' : `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
}

/**
 * The "Permissions requested" page: the app, its application permissions, the organization (a field when the
 * URL said `organizations`), and real Accept and Cancel buttons that post the form back. No external assets.
 */
export function renderConsentPage(model: ConsentPageModel): string {
  const roles = model.roles
    .map((role) => `<li><strong>${escapeHtml(ROLE_DESCRIPTIONS[role])}</strong> (${escapeHtml(role)})</li>`)
    .join('');
  const suggestions = model.knownTenants.map((t) => `<option value="${escapeHtml(t)}"></option>`).join('');
  const organization =
    model.tenantLabel === undefined
      ? '<label for="tenant">Your organization (tenant ID or domain)</label>' +
        `<input type="text" id="tenant" name="tenant" value="${escapeHtml(model.tenantSuggestion)}" ` +
        'list="known-tenants" autocomplete="off" required>' +
        `<datalist id="known-tenants">${suggestions}</datalist>`
      : `<p>Organization: <strong>${escapeHtml(model.tenantLabel)}</strong></p>`;
  const problem =
    model.problem === undefined ? '' : `<p class="error" role="alert">${escapeHtml(model.problem)}</p>`;
  return page(
    'Permissions requested',
    '<h1>Permissions requested</h1>' +
      `<p><strong>${escapeHtml(model.appName)}</strong><br><small>Application ID: ${escapeHtml(model.clientId)}</small></p>` +
      problem +
      '<p>This application would like to:</p>' +
      `<ul>${roles || '<li>Sign in (no application permissions are configured)</li>'}</ul>` +
      `<form method="post" action="${escapeHtml(model.action)}">` +
      hidden('client_id', model.clientId) +
      hidden('scope', model.scope) +
      hidden('redirect_uri', model.redirectUri) +
      hidden('state', model.state) +
      organization +
      '<p>If you accept, this app will get access to the specified resources for all users in your organization. ' +
      'No one else will be prompted to review these permissions.</p>' +
      '<button type="submit" name="action" value="accept">Accept</button>' +
      '<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>' +
      '</form>',
  );
}

/** The error page Entra ID shows instead of redirecting (bad redirect URI, unknown app or tenant). */
export function renderConsentErrorPage(code: number, text: string): string {
  return page(
    'Sign in to your account',
    '<h1>Sorry, but we’re having trouble signing you in.</h1>' +
      `<p class="error" role="alert">AADSTS${code}: ${escapeHtml(text)}</p>`,
  );
}

/** What the sign-in page carries: where it posts, the app, the authorize parameters to carry on, the account. */
export interface SignInPageModel {
  action: string;
  appName: string;
  fields: ReadonlyArray<[string, string]>;
  login: string;
  problem?: string;
}

/** Entra ID's "Sign in" page, reduced to the account name (the simulator asks for no password). */
export function renderSignInPage(model: SignInPageModel): string {
  const problem =
    model.problem === undefined ? '' : `<p class="error" role="alert">${escapeHtml(model.problem)}</p>`;
  return page(
    'Sign in to your account',
    '<h1>Sign in</h1>' +
      `<p>to continue to <strong>${escapeHtml(model.appName)}</strong></p>` +
      problem +
      `<form method="post" action="${escapeHtml(model.action)}">` +
      model.fields.map(([name, value]) => hidden(name, value)).join('') +
      '<label for="login">Email, phone, or Skype</label>' +
      `<input type="text" id="login" name="login" value="${escapeHtml(model.login)}" autocomplete="username" required>` +
      '<button type="submit" name="action" value="signin">Sign in</button>' +
      '</form>',
  );
}
