import type { DeltaCursor, DeltaEntry, DeltaTokens } from './delta-tokens';
import { DELTA_DEFAULT_PROPS, ITEM_PROPS, deletedJson, itemJson, rootJson } from './drive-item-json';
import type { DriveRef } from './drive-resources';
import { driveWebUrl, resolveDrive } from './drive-resources';
import type { DriveTree } from './drive-tree';
import type { GraphAnswer, GraphCallInput, GraphPlan } from './graph-plan';
import { badRequest, graphError, ok, requireRole } from './graph-plan';
import { encodeQueryValue, parseSelect, unsupportedOption } from './graph-query';
import { DELTA_ENUMERATION_PAGE_UNITS, RESOURCE_UNITS } from './resource-costs';

/** Items a delta page holds without `$top`, and the most it holds whatever `$top` asks. */
export const DELTA_DEFAULT_PAGE = 200;
export const DELTA_MAX_PAGE = 1000;

/** The message of the `410` for a token the service no longer knows (as public reports quote it). */
export const RESYNC_MESSAGE =
  "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.";

/** What one delta request asks for, checked before it is charged. */
interface DeltaAsk {
  select: string[] | undefined;
  top: number;
  /** `null`: no token (an enumeration starts); `latest`; or the opened token (undefined: not one of ours). */
  token: null | 'latest' | { cursor: DeltaCursor | undefined };
}

/** `$select` of delta: known properties kept in the order given, unknown ones ignored; undefined when absent. */
function deltaSelect(value: string | null): string[] | undefined {
  const select = parseSelect(value, ITEM_PROPS, { ignoreUnknown: true });
  return Array.isArray(select) ? select : undefined;
}

/** Whether a comma-separated header value holds `token` (case-insensitive). */
function holds(value: string | undefined, token: string): boolean {
  return (value ?? '').split(',').some((part) => part.trim().toLowerCase() === token.toLowerCase());
}

/** The same delta URL with a new `token` (or none: a fresh enumeration), the other options kept. */
function deltaUrl(input: GraphCallInput, token: string | undefined): string {
  const parts: string[] = [];
  for (const [name, value] of input.query) {
    if (name !== 'token') parts.push(`${name}=${encodeQueryValue(value)}`);
  }
  if (token !== undefined) parts.push(`token=${token}`);
  return `${input.state.url}/v1.0${input.path}${parts.length > 0 ? `?${parts.join('&')}` : ''}`;
}

/** `410 Gone`, `resyncRequired`, and a `Location` that starts a fresh enumeration. */
function resyncRequired(input: GraphCallInput): GraphAnswer {
  const answer = graphError(input, 410, 'resyncRequired', RESYNC_MESSAGE, 'resyncChangesApplyDifferences');
  answer.headers.Location = deltaUrl(input, undefined);
  return answer;
}

/** The whole drive: the root, then every item, parents before children. */
function enumeration(tree: DriveTree): DeltaEntry[] {
  const entries: DeltaEntry[] = [{ kind: 'root', childCount: tree.children(tree.rootId).length }];
  for (const node of tree.walk()) entries.push({ kind: 'item', item: node.item, parentId: node.parentId });
  return entries;
}

/**
 * What changed after position `since`, each item once in its latest state: the changed items with their
 * ancestors up to the root (unless `excludeParent`), parents before children, then the deleted items.
 */
function changes(tree: DriveTree, since: number, excludeParent: boolean): DeltaEntry[] {
  const { changed, deleted } = tree.changesSince(since);
  const included = new Set(changed);
  let withRoot = false;
  if (!excludeParent) {
    const climb = (parentId: string): void => {
      for (let at = tree.get(parentId); at && !included.has(at.item.id); at = tree.get(at.parentId)) {
        included.add(at.item.id);
      }
      withRoot = true;
    };
    for (const id of changed) climb(tree.get(id)?.parentId ?? tree.rootId);
    for (const grave of deleted)
      if (grave.parentId === tree.rootId || tree.get(grave.parentId)) climb(grave.parentId);
  }
  const entries: DeltaEntry[] = withRoot
    ? [{ kind: 'root', childCount: tree.children(tree.rootId).length }]
    : [];
  if (included.size > 0) {
    for (const node of tree.walk()) {
      if (included.has(node.item.id))
        entries.push({ kind: 'item', item: node.item, parentId: node.parentId });
    }
  }
  for (const grave of deleted) entries.push({ kind: 'deleted', id: grave.id, parentId: grave.parentId });
  return entries;
}

/** Checks the request's options and token; a string is the 400 to answer. */
function askOf(input: GraphCallInput, tokens: DeltaTokens): DeltaAsk | string {
  const unsupported = unsupportedOption(input.query, ['$select', '$top']);
  if (unsupported) return `Query option '${unsupported}' is not supported.`;
  const rawTop = input.query.get('$top');
  if (rawTop !== null && !(/^\d+$/.test(rawTop) && Number(rawTop) >= 1)) {
    return 'Invalid page size: $top must be a positive integer.';
  }
  const top = Math.min(rawTop === null ? DELTA_DEFAULT_PAGE : Number(rawTop), DELTA_MAX_PAGE);
  const token = input.query.get('token');
  return {
    select: deltaSelect(input.query.get('$select')),
    top,
    token: token === null ? null : token === 'latest' ? 'latest' : { cursor: tokens.open(token) },
  };
}

/**
 * `GET /drives/{id}/root/delta` and `GET /users/{id|upn}/drive/root/delta` (OneDrive for Business: from the root
 * only, the whole drive). Files.Read.All. Without `token`: the whole drive in pages (2 units each), the last with
 * an `@odata.deltaLink`. With a deltaLink's `token`: what changed since (1 unit a page). `token=latest`: no items
 * and a deltaLink at now. A token the service does not know (expired, another drive's, altered) is a `410`.
 */
export function driveDelta(input: GraphCallInput, ref: DriveRef): GraphPlan {
  const denied = requireRole(input, 'Files.Read.All', 'accessDenied', 'Access denied');
  if (denied) return denied;
  const tokens = input.tenant.driveStore.tokens;
  const ask = askOf(input, tokens);
  if (typeof ask === 'string') return badRequest(input, 'invalidRequest', ask);
  const { token } = ask;
  const enumerating =
    token === null ||
    (typeof token === 'object' && token.cursor?.kind === 'page' && token.cursor.enumeration);
  return {
    kind: 'charge',
    bucket: 'drive',
    units: enumerating ? DELTA_ENUMERATION_PAGE_UNITS : RESOURCE_UNITS.deltaWithToken,
    run: () => {
      const found = resolveDrive(input, ref);
      if ('status' in found) return found;
      const tree = input.tenant.driveStore.tree(found.index);
      const { driveId } = tree.ids;
      const preferred = holds(input.header('prefer'), 'deltaExcludeParent');
      const excludeParent = preferred || input.header('deltaexcludeparent') !== undefined;
      const render = (entries: readonly DeltaEntry[]): Array<Record<string, unknown>> =>
        entries.map((entry) => {
          if (entry.kind === 'root') {
            return rootJson(tree.ids, entry.childCount, driveWebUrl(input, found.user), ask.select);
          }
          const place = { driveId, parentId: entry.parentId };
          if (entry.kind === 'deleted') return deletedJson(entry.id, place, ask.select);
          return itemJson(entry.item, ask.select ?? DELTA_DEFAULT_PROPS, place);
        });
      const answer = (
        entries: readonly DeltaEntry[],
        index: number,
        session: { id: string | undefined; endSeq: number; enumeration: boolean },
      ): GraphAnswer => {
        const end = index + ask.top;
        let link: Record<string, string>;
        if (end < entries.length) {
          const id =
            session.id ??
            tokens.keep({ driveId, entries, endSeq: session.endSeq, enumeration: session.enumeration });
          const next = tokens.seal({
            kind: 'page',
            driveId,
            session: id,
            index: end,
            enumeration: session.enumeration,
          });
          link = { '@odata.nextLink': deltaUrl(input, next) };
        } else {
          link = {
            '@odata.deltaLink': deltaUrl(input, tokens.seal({ kind: 'delta', driveId, seq: session.endSeq })),
          };
        }
        const result = ok({
          '@odata.context': `${input.state.url}/v1.0/$metadata#Collection(driveItem)`,
          ...link,
          value: render(entries.slice(index, end)),
        });
        if (preferred) result.headers['Preference-Applied'] = 'deltaExcludeParent';
        return result;
      };

      if (token === null) {
        return answer(enumeration(tree), 0, { id: undefined, endSeq: tree.seq, enumeration: true });
      }
      if (token === 'latest') return answer([], 0, { id: undefined, endSeq: tree.seq, enumeration: false });
      const { cursor } = token;
      const known =
        cursor !== undefined &&
        cursor.driveId === driveId &&
        cursor.serial > tokens.floor &&
        cursor.serial > tree.tokenFloor;
      if (!known) return resyncRequired(input);
      if (cursor.kind === 'delta') {
        if (cursor.seq > tree.seq) return resyncRequired(input);
        return answer(changes(tree, cursor.seq, excludeParent), 0, {
          id: undefined,
          endSeq: tree.seq,
          enumeration: false,
        });
      }
      const session = tokens.session(cursor.session);
      if (!session || session.driveId !== driveId || cursor.index > session.entries.length) {
        return resyncRequired(input);
      }
      return answer(session.entries, cursor.index, {
        id: cursor.session,
        endSeq: session.endSeq,
        enumeration: session.enumeration,
      });
    },
  };
}
