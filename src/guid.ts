/**
 * A GUID in its 8-4-4-4-12 hex form, either case: tenant, client and object IDs as Entra ID and operators write them.
 * Every room may import this file (docs/architecture.md); a check that a value is one belongs with its input, not
 * with a copy of the pattern.
 */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The same in lower case only: the form in which this product writes tenant IDs (queue messages, sign-in claims). */
export const LOWERCASE_GUID = new RegExp(GUID.source);
