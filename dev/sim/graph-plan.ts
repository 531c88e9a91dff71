import type { CloudState } from './cloud-state';
import type { SeededTenant } from './seeded-tenant';

/** One Graph answer before it is written (top level) or wrapped (inside `$batch`). */
export interface GraphAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/** What the simulator needs to answer one Graph request, after the token was checked. */
export interface GraphCallInput {
  state: CloudState;
  tenant: SeededTenant;
  roles: readonly string[];
  method: string;
  /** Path after `/v1.0`, still percent-encoded, starting with `/`. */
  path: string;
  query: URLSearchParams;
  consistencyLevel: string | undefined;
  /** A request header (top level, or an inner request's own inside `$batch`). */
  header(name: string): string | undefined;
  requestId: string;
  clientRequestId: string | undefined;
}

/**
 * How to answer: refused before any charge (bad query, missing permission), or charged to a budget first and
 * then answered by `run` (which may still be a 404: looking costs as much as finding).
 */
export type GraphPlan =
  | { kind: 'answer'; answer: GraphAnswer }
  | { kind: 'charge'; bucket: 'drive' | 'directory'; units: number; run: () => GraphAnswer };

/** Graph's error body, with the `innerError` ids Graph always adds (and its own `code` when given). */
export function graphError(
  input: Pick<GraphCallInput, 'requestId' | 'clientRequestId'>,
  status: number,
  code: string,
  message: string,
  innerCode?: string,
): GraphAnswer {
  return {
    status,
    headers: {},
    body: {
      error: {
        code,
        message,
        innerError: {
          ...(innerCode === undefined ? {} : { code: innerCode }),
          date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
          'request-id': input.requestId,
          'client-request-id': input.clientRequestId ?? input.requestId,
        },
      },
    },
  };
}

/** Answers 403 with `code` unless the token carries `role`; undefined when it does. */
export function requireRole(
  input: GraphCallInput,
  role: string,
  code: string,
  message: string,
): GraphPlan | undefined {
  return input.roles.includes(role)
    ? undefined
    : { kind: 'answer', answer: graphError(input, 403, code, message) };
}

/** A 400 answered before any charge. */
export function badRequest(input: GraphCallInput, code: string, message: string): GraphPlan {
  return { kind: 'answer', answer: graphError(input, 400, code, message) };
}

/** A 200 with a JSON body. */
export function ok(body: unknown): GraphAnswer {
  return { status: 200, headers: {}, body };
}
