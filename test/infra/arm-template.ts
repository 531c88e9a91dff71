/**
 * A read-only view of a compiled ARM template for tests: every resource, including those of nested deployments
 * (Bicep modules, whose templates are inline under `properties.template`), with a way to rewrite any expression
 * in a nested template into the root template's terms, so that a test can tell what a module's
 * `parameters('identityPrincipalId')` really is.
 */

export type JsonRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at `keys` below `value`, or undefined where any step is missing or not an object. */
export function valueAt(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** One template: the root, or a nested deployment's inline template with the parameter values passed to it. */
export interface TemplateScope {
  template: JsonRecord;
  /** The deployment resource's name as written (a module's name), or `''` for the root. */
  deploymentName: string;
  /** The scope whose template declares the nested deployment; undefined for the root. */
  parent: TemplateScope | undefined;
  /** `properties.parameters` of the nested deployment (`{ name: { value } }`); empty for the root. */
  passedParameters: JsonRecord;
}

export interface ArmResource {
  type: string;
  /** The name as written, often an expression. */
  name: string;
  /** The resource's JSON as compiled. */
  body: JsonRecord;
  scope: TemplateScope;
}

/** Resources of a template: an array, or (language version 2.0) an object keyed by symbolic name. */
function resourceList(template: JsonRecord): JsonRecord[] {
  const resources = template.resources;
  const list = Array.isArray(resources) ? resources : isRecord(resources) ? Object.values(resources) : [];
  return list.filter(isRecord);
}

/** Every template scope, the root first, then nested deployments depth first. */
export function templateScopes(root: unknown): TemplateScope[] {
  if (!isRecord(root)) throw new Error('A compiled ARM template is a JSON object');
  const scopes: TemplateScope[] = [];
  const visit = (scope: TemplateScope): void => {
    scopes.push(scope);
    for (const resource of resourceList(scope.template)) {
      const nested = valueAt(resource, 'properties', 'template');
      if (resource.type !== 'Microsoft.Resources/deployments' || !isRecord(nested)) continue;
      const passed = valueAt(resource, 'properties', 'parameters');
      visit({
        template: nested,
        deploymentName: typeof resource.name === 'string' ? resource.name : '',
        parent: scope,
        passedParameters: isRecord(passed) ? passed : {},
      });
    }
  };
  visit({ template: root, deploymentName: '', parent: undefined, passedParameters: {} });
  return scopes;
}

/** Every resource of every scope, nested deployments' resources included (and the deployments themselves). */
export function allResources(root: unknown): ArmResource[] {
  return templateScopes(root).flatMap((scope) =>
    resourceList(scope.template).map((body) => ({
      type: typeof body.type === 'string' ? body.type : '',
      name: typeof body.name === 'string' ? body.name : '',
      body,
      scope,
    })),
  );
}

export function resourcesOfType(resources: readonly ArmResource[], type: string): ArmResource[] {
  return resources.filter((resource) => resource.type.toLowerCase() === type.toLowerCase());
}

/** A value as the text of an ARM expression: expressions lose their brackets, strings become quoted literals. */
function asExpressionText(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.startsWith('[') && !value.startsWith('[[') && value.endsWith(']')) return value.slice(1, -1);
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Rewrites `value` into the root template's terms: each `parameters('x')` of a nested template becomes the
 * expression its parent passed, and each `variables('x')` whose value is a string becomes that string, until
 * only the root's parameters and functions are left. Values that are not expressions come back unchanged.
 */
export function resolveInRoot(value: unknown, scope: TemplateScope): unknown {
  if (typeof value !== 'string' || !value.startsWith('[') || value.startsWith('[[')) return value;
  let text = value.slice(1, -1);
  let current: TemplateScope | undefined = scope;
  while (current) {
    const here: TemplateScope = current;
    // Variables may refer to other variables: inline until nothing changes (a template has no cycles).
    for (let pass = 0; pass < 32; pass += 1) {
      const before = text;
      text = text.replace(/variables\('([^']+)'\)/g, (whole, name: string) => {
        const inlined = asExpressionText(valueAt(here.template, 'variables', name));
        return inlined ?? whole;
      });
      if (text === before) break;
    }
    if (!here.parent) break;
    text = text.replace(/parameters\('([^']+)'\)/g, (whole, name: string) => {
      const passed = valueAt(here.passedParameters, name, 'value');
      const inlined = asExpressionText(passed);
      return inlined ?? whole;
    });
    current = here.parent;
  }
  return `[${text}]`;
}

/**
 * The first `resourceId('<type>', ...)` call in an expression, with its arguments, normalized so that two
 * references to one resource compare equal; undefined when there is none.
 */
export function resourceIdCall(expression: string, type: string): string | undefined {
  const start = expression.indexOf(`resourceId('${type}'`);
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start + 'resourceId'.length; i < expression.length; i += 1) {
    const char = expression[i];
    if (char === "'") inString = !inString;
    if (inString) continue;
    if (char === '(') depth += 1;
    if (char === ')') {
      depth -= 1;
      if (depth === 0) return expression.slice(start, i + 1).replace(/[()\s]/g, '');
    }
  }
  return undefined;
}

/**
 * The resource type a role assignment's `scope` points at: `Microsoft.Storage/storageAccounts` for
 * `[format('Microsoft.Storage/storageAccounts/{0}', ...)]` or `[resourceId('Microsoft.Storage/storageAccounts', ...)]`.
 */
export function scopeResourceType(scope: unknown): string | undefined {
  if (typeof scope !== 'string') return undefined;
  const viaResourceId = /^\[(?:extension)?[rR]esourceId\('([^']+)'/.exec(scope);
  if (viaResourceId) return viaResourceId[1];
  const viaFormat = /^\[format\('([^']+)'/.exec(scope);
  const pattern = viaFormat?.[1];
  if (!pattern) return undefined;
  const [namespace, ...segments] = pattern.split('/');
  const types = segments.filter((_, index) => index % 2 === 0);
  return [namespace, ...types].join('/');
}

/** Every string anywhere inside a JSON value, with the keys that lead to it. */
export function allStrings(value: unknown, where: string[] = []): { path: string; value: string }[] {
  if (typeof value === 'string') return [{ path: where.join('.'), value }];
  if (Array.isArray(value))
    return value.flatMap((item, index) => allStrings(item, [...where, String(index)]));
  if (isRecord(value))
    return Object.entries(value).flatMap(([key, item]) => allStrings(item, [...where, key]));
  return [];
}
