import type { GraphCallInput } from './graph-plan';

/** An opaque `$skiptoken` for the position after which the next page starts. */
export function encodeSkipToken(kind: 'u' | 'd', position: number): string {
  return Buffer.from(`${kind}:${position}`).toString('base64url');
}

/** The position in a `$skiptoken`; undefined when absent, `invalid` when not ours. */
export function decodeSkipToken(kind: 'u' | 'd', token: string | null): number | undefined | 'invalid' {
  if (token === null) return undefined;
  const match = new RegExp(`^${kind}:(-?\\d+)$`).exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match?.[1] ? Number(match[1]) : 'invalid';
}

/** A query value as Graph writes it in links (`,` and `$` left as they are). */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/%2C/gi, ',').replace(/%24/g, '$');
}

/** The absolute `@odata.nextLink`: the same path and query with a new `$skiptoken`. */
export function nextLink(input: GraphCallInput, token: string): string {
  const parts: string[] = [];
  for (const [name, value] of input.query) {
    if (name !== '$skiptoken') parts.push(`${name}=${encodeQueryValue(value)}`);
  }
  parts.push(`$skiptoken=${token}`);
  return `${input.state.url}/v1.0${input.path}?${parts.join('&')}`;
}

/**
 * Parses `$select` against the known properties (case-insensitive); undefined means "not given". An unknown
 * property is refused, or skipped with `ignoreUnknown` (delta ignores what it does not know).
 */
export function parseSelect(
  value: string | null,
  known: readonly string[],
  options: { ignoreUnknown?: boolean } = {},
): string[] | undefined | { unknown: string } {
  if (value === null) return undefined;
  const byLower = new Map(known.map((prop) => [prop.toLowerCase(), prop]));
  const props: string[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (!name) continue;
    const prop = byLower.get(name.toLowerCase());
    if (!prop) {
      if (options.ignoreUnknown) continue;
      return { unknown: name };
    }
    if (!props.includes(prop)) props.push(prop);
  }
  return props;
}

/** Parses `$top` in 1..max; `fallback` when absent, `invalid` otherwise. */
export function parseTop(value: string | null, max: number, fallback: number): number | 'invalid' {
  if (value === null) return fallback;
  if (!/^\d+$/.test(value)) return 'invalid';
  const top = Number(value);
  return top >= 1 && top <= max ? top : 'invalid';
}

/** The first `$` query option not in `allowed`, if any. */
export function unsupportedOption(query: URLSearchParams, allowed: readonly string[]): string | undefined {
  for (const name of query.keys()) {
    if (name.startsWith('$') && !allowed.includes(name)) return name;
  }
  return undefined;
}

/** The listed properties of `all` that have a value. */
export function project(all: Record<string, unknown>, select: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const prop of select) if (all[prop] !== undefined) out[prop] = all[prop];
  return out;
}
