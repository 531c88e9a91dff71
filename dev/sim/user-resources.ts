import type { GraphAnswer, GraphCallInput, GraphPlan } from './graph-plan';
import { badRequest, graphError, ok, requireRole } from './graph-plan';
import { nextLink, parseSelect, parseTop, unsupportedOption } from './graph-query';
import { RESOURCE_UNITS } from './resource-costs';
import type { DirectoryUser, LicenseFilter } from './seeded-tenant';

/** Units a directory request costs (docs/graph-facts.md, "Throttling": about one a page). */
const DIRECTORY_UNITS = RESOURCE_UNITS.directory;

const USER_DEFAULT_PROPS = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
] as const;
const USER_PROPS = [...USER_DEFAULT_PROPS, 'accountEnabled', 'assignedLicenses'] as const;

function userJson(user: DirectoryUser, select: readonly string[] | undefined): Record<string, unknown> {
  const all: Record<string, unknown> = {
    businessPhones: [],
    displayName: user.displayName,
    givenName: user.givenName,
    jobTitle: null,
    mail: user.mail,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
    surname: user.surname,
    userPrincipalName: user.userPrincipalName,
    id: user.id,
    accountEnabled: user.accountEnabled,
    assignedLicenses: user.assignedLicenses,
  };
  const out: Record<string, unknown> = {};
  for (const prop of select ?? USER_DEFAULT_PROPS) if (prop in all) out[prop] = all[prop];
  return out;
}

/** Directory reads need User.Read.All; without it Graph answers 403 `Authorization_RequestDenied`. */
function requireUserRead(input: GraphCallInput): GraphPlan | undefined {
  return requireRole(
    input,
    'User.Read.All',
    'Authorization_RequestDenied',
    'Insufficient privileges to complete the operation.',
  );
}

/** Where a users listing stands: the position after which it goes on, its rotation, and its pages so far. */
interface UserToken {
  position: number;
  offset: number;
  page: number;
  /** The token after this page answers `Directory_ExpiredPageToken` (0: never). */
  expiresAfterPage: number;
  expired: boolean;
}

function encodeUserToken(token: UserToken): string {
  const fields = [token.position, token.offset, token.page, token.expiresAfterPage, token.expired ? 1 : 0];
  return Buffer.from(`u:${fields.join(':')}`).toString('base64url');
}

function decodeUserToken(text: string | null): UserToken | undefined | 'invalid' {
  if (text === null) return undefined;
  const match = /^u:(-?\d+):(\d+):(\d+):(\d+):([01])$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!match) return 'invalid';
  const [position, offset, page, expiresAfterPage, expired] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { position, offset, page, expiresAfterPage, expired: expired === 1 };
}

/** `GET /users`: `$select`, `$top` (1..999, default 100), the license filter (needs `$count=true` and `ConsistencyLevel: eventual`), `@odata.count` and paging; User.Read.All; 1 directory unit a page. */
export function listUsers(input: GraphCallInput): GraphPlan {
  const denied = requireUserRead(input);
  if (denied) return denied;
  const { query, tenant } = input;
  const unsupported = unsupportedOption(query, ['$select', '$top', '$filter', '$count', '$skiptoken']);
  if (unsupported)
    return badRequest(input, 'Request_BadRequest', `Query option '${unsupported}' is not supported.`);
  const select = parseSelect(query.get('$select'), USER_PROPS);
  if (select && !Array.isArray(select)) {
    return badRequest(
      input,
      'Request_BadRequest',
      `Parsing OData Select and Expand failed: Could not find a property named '${select.unknown}' on type 'microsoft.graph.user'.`,
    );
  }
  const top = parseTop(query.get('$top'), 999, 100);
  if (top === 'invalid') {
    return badRequest(
      input,
      'Request_BadRequest',
      `Invalid page size specified: '${query.get('$top') ?? ''}'. Must be between 1 and 999 inclusive.`,
    );
  }
  const eventual = input.consistencyLevel?.toLowerCase() === 'eventual';
  const count = query.get('$count')?.toLowerCase() === 'true';
  const filterText = (query.get('$filter') ?? '').replace(/\s+/g, ' ').trim();
  let filter: LicenseFilter = 'all';
  if (filterText) {
    const match = /^assignedLicenses\/\$count (ne|eq) 0$/i.exec(filterText);
    if (!match?.[1]) {
      return badRequest(
        input,
        'Request_UnsupportedQuery',
        `Unsupported or invalid query filter clause specified: '${filterText}'.`,
      );
    }
    if (!count || !eventual) {
      return badRequest(
        input,
        'Request_UnsupportedQuery',
        `Operator '${match[1].toLowerCase()}' is not supported because the required parameters might be missing. ` +
          'Try adding $count=true query parameter and the ConsistencyLevel:eventual header. ' +
          'Refer to https://aka.ms/graph-docs/advanced-queries for more information',
      );
    }
    filter = match[1].toLowerCase() === 'ne' ? 'licensed' : 'unlicensed';
  }
  if (count && !eventual)
    return badRequest(input, 'Request_BadRequest', '$count is not currently supported.');
  const token = decodeUserToken(query.get('$skiptoken'));
  if (token === 'invalid') return badRequest(input, 'Request_BadRequest', 'Invalid skip token.');
  if (token?.expired) {
    return badRequest(
      input,
      'Directory_ExpiredPageToken',
      'The specified page token value has expired and can no longer be included in your request.',
    );
  }
  // A new listing: its order (rotated when the tenant reorders listings) and whether its token will expire.
  let listing = token;
  if (!listing) {
    tenant.userListings += 1;
    const expiring = tenant.expiringUserListings;
    listing = {
      position: -1,
      // The golden ratio spreads the starting points of successive listings over the whole order.
      offset: tenant.reorderUserListings
        ? Math.floor(((tenant.userListings * 0.618034) % 1) * tenant.size)
        : 0,
      page: 0,
      expiresAfterPage: expiring && tenant.userListings <= expiring.listings ? expiring.afterPage : 0,
      expired: false,
    };
  }
  const state = listing;

  return {
    kind: 'charge',
    bucket: 'directory',
    units: DIRECTORY_UNITS,
    run: () => {
      const page = tenant.usersAfter(state.position, top, filter, state.offset);
      const selectList = select?.join(',') ?? '';
      const next: UserToken = {
        position: page.last,
        offset: state.offset,
        page: state.page + 1,
        expiresAfterPage: state.expiresAfterPage,
        expired: state.expiresAfterPage > 0 && state.page + 1 >= state.expiresAfterPage,
      };
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#users${selectList ? `(${selectList})` : ''}`,
        ...(count ? { '@odata.count': tenant.countUsers(filter) } : {}),
        ...(page.more ? { '@odata.nextLink': nextLink(input, encodeUserToken(next)) } : {}),
        value: page.indices.map((index) => userJson(tenant.user(index), select)),
      });
    },
  };
}

/** Graph's 404 for a user that does not exist. */
export function userNotFound(input: GraphCallInput, key: string): GraphAnswer {
  return graphError(
    input,
    404,
    'Request_ResourceNotFound',
    `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
  );
}

/** `GET /users/{id|upn}`: User.Read.All; 1 directory unit. */
export function getUser(input: GraphCallInput, key: string): GraphPlan {
  const denied = requireUserRead(input);
  if (denied) return denied;
  const select = parseSelect(input.query.get('$select'), USER_PROPS);
  if (select && !Array.isArray(select)) {
    return badRequest(
      input,
      'Request_BadRequest',
      `Could not find a property named '${select.unknown}' on type 'microsoft.graph.user'.`,
    );
  }
  return {
    kind: 'charge',
    bucket: 'directory',
    units: DIRECTORY_UNITS,
    run: () => {
      const index = input.tenant.findUser(key);
      return index === undefined ? userNotFound(input, key) : ok(userJson(input.tenant.user(index), select));
    },
  };
}
