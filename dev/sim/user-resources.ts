import type { GraphAnswer, GraphCallInput, GraphPlan } from './graph-plan';
import { badRequest, graphError, ok, requireRole } from './graph-plan';
import {
  decodeSkipToken,
  encodeSkipToken,
  nextLink,
  parseSelect,
  parseTop,
  unsupportedOption,
} from './graph-query';
import type { DirectoryUser, LicenseFilter } from './seeded-tenant';

/** Units a directory request costs (docs/graph-facts.md, "Throttling": about one a page). */
const DIRECTORY_UNITS = 1;

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
  const after = decodeSkipToken('u', query.get('$skiptoken'));
  if (after === 'invalid') return badRequest(input, 'Request_BadRequest', 'Invalid skip token.');

  return {
    kind: 'charge',
    bucket: 'directory',
    units: DIRECTORY_UNITS,
    run: () => {
      const page = tenant.usersAfter(after ?? -1, top, filter);
      const last = page.indices[page.indices.length - 1];
      const selectList = select?.join(',') ?? '';
      return ok({
        '@odata.context': `${input.state.url}/v1.0/$metadata#users${selectList ? `(${selectList})` : ''}`,
        ...(count ? { '@odata.count': tenant.countUsers(filter) } : {}),
        ...(page.more && last !== undefined
          ? { '@odata.nextLink': nextLink(input, encodeSkipToken('u', last)) }
          : {}),
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
