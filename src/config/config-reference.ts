import { globalRegistry } from 'zod';
import { configSchema, FILE_KEYS, SECRET_PATHS } from './schema.js';

/**
 * Walks the zod config schema (the single source of keys, types, defaults and docs) and describes every key:
 * the loader uses this to map environment variables and explain type errors, and the README's configuration
 * table and config/default.yaml are rendered from it (build tooling: scripts/config-reference.ts).
 *
 * Environment variable naming rule: `OPR_` + the key path with its segments joined by `__`, each segment
 * written in UPPER_SNAKE case (`openim.apiUrl` → `OPR_OPENIM__API_URL`, `poll.intervalSeconds` →
 * `OPR_POLL__INTERVAL_SECONDS`, `mode` → `OPR_MODE`). Lists of scalars are comma-separated
 * (`OPR_API__TOKENS=a,b`); `subscribers` is set only as a whole, as a JSON array in `OPR_SUBSCRIBERS`.
 */

/** Prefix of every configuration environment variable. */
export const ENV_PREFIX = 'OPR_';
/** Separator between key path segments in environment variable names. */
export const ENV_SEPARATOR = '__';

export type ConfigKeyKind = 'object' | 'string' | 'number' | 'boolean' | 'enum' | 'array';

export interface ConfigKeyInfo {
  /** Dotted key path; `*` stands for any item of a list (`subscribers.*.url`). */
  path: string;
  kind: ConfigKeyKind;
  /** For `kind: 'array'`: what each item is. */
  item?: ConfigValueShape;
  /** Whole numbers only (`kind: 'number'`). */
  integer: boolean;
  /** Inclusive lower bound (numbers) or minimum length (strings). */
  min?: number;
  /** Inclusive upper bound (numbers) or maximum length (strings). */
  max?: number;
  /** Allowed values (`kind: 'enum'`). */
  values?: readonly string[];
  /** A string format the schema declares (`uri`, `cidr`). */
  format?: string;
  /** Whether the schema supplies a default. */
  hasDefault: boolean;
  /** The default value (when `hasDefault`). */
  defaultValue?: unknown;
  /** The key may be left out entirely (no default, not required). */
  optional: boolean;
  description: string;
  /** The environment variable that sets this key, if any (keys inside list items have none). */
  env?: string;
  /** The value is a secret (listed in SECRET_PATHS): never printed. */
  secret: boolean;
  /** The key names a file whose content replaces its sibling key (listed in FILE_KEYS). */
  fileKey: boolean;
}

/** The shape of one value, used for list items. */
export interface ConfigValueShape {
  kind: ConfigKeyKind;
  integer: boolean;
  min?: number;
  max?: number;
  values?: readonly string[];
  format?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// zod 4 internals, read defensively: every schema carries `_zod.def` with a `type` tag.

interface ZodDefLike {
  type: string;
  innerType?: ZodLike;
  in?: ZodLike;
  out?: ZodLike;
  element?: ZodLike;
  shape?: Record<string, ZodLike>;
  entries?: Record<string, string | number>;
  checks?: { _zod: { def: CheckDefLike } }[];
  defaultValue?: unknown;
}

interface CheckDefLike {
  check: string;
  value?: unknown;
  minimum?: unknown;
  maximum?: unknown;
  format?: unknown;
}

interface ZodLike {
  _zod: { def: ZodDefLike };
  description?: string;
}

function defOf(schema: ZodLike): ZodDefLike {
  return schema._zod.def;
}

interface Unwrapped {
  core: ZodLike;
  format: string | undefined;
  hasDefault: boolean;
  defaultValue: unknown;
  optional: boolean;
  description: string;
}

/** Peels default/optional/nullable/pipe/readonly layers off a schema, keeping the first description and default. */
function unwrap(schema: ZodLike): Unwrapped {
  let current = schema;
  let hasDefault = false;
  let defaultValue: unknown = undefined;
  let optional = false;
  let description = '';
  let format: string | undefined;
  for (let guard = 0; guard < 32; guard++) {
    if (!description && current.description) description = current.description;
    const meta = globalRegistry.get(current as never) as { format?: unknown } | undefined;
    if (format === undefined && typeof meta?.format === 'string') format = meta.format;
    const def = defOf(current);
    if ((def.type === 'default' || def.type === 'prefault') && def.innerType) {
      if (!hasDefault) {
        hasDefault = true;
        defaultValue = def.defaultValue;
      }
      current = def.innerType;
    } else if ((def.type === 'optional' || def.type === 'nullable' || def.type === 'readonly') && def.innerType) {
      if (def.type === 'optional') optional = true;
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in && def.out) {
      // A preprocess is a pipe from a transform into the real type; otherwise the input side decides.
      current = defOf(def.in).type === 'transform' ? def.out : def.in;
    } else {
      break;
    }
  }
  return { core: current, format, hasDefault, defaultValue, optional: optional && !hasDefault, description };
}

function shapeOf(u: Pick<Unwrapped, 'core' | 'format'>): ConfigValueShape {
  const def = defOf(u.core);
  switch (def.type) {
    case 'object':
      return { kind: 'object', integer: false };
    case 'boolean':
      return { kind: 'boolean', integer: false };
    case 'enum':
      return { kind: 'enum', integer: false, values: Object.values(def.entries ?? {}).map(String) };
    case 'array':
      return { kind: 'array', integer: false };
    case 'number': {
      const shape: ConfigValueShape = { kind: 'number', integer: false };
      for (const check of def.checks ?? []) {
        const c = check._zod.def;
        if (c.check === 'number_format' && typeof c.format === 'string' && /int/.test(c.format)) shape.integer = true;
        if (c.check === 'greater_than' && typeof c.value === 'number') shape.min = c.value;
        if (c.check === 'less_than' && typeof c.value === 'number') shape.max = c.value;
      }
      return shape;
    }
    default: {
      const shape: ConfigValueShape = { kind: 'string', integer: false };
      if (u.format) shape.format = u.format;
      for (const check of def.checks ?? []) {
        const c = check._zod.def;
        if (c.check === 'min_length' && typeof c.minimum === 'number') shape.min = c.minimum;
        if (c.check === 'max_length' && typeof c.maximum === 'number') shape.max = c.maximum;
      }
      return shape;
    }
  }
}

/** `apiUrl` → `API_URL`, `operationIDPrefix` → `OPERATION_ID_PREFIX`, `adminUserID` → `ADMIN_USER_ID`. */
export function toUpperSnake(segment: string): string {
  return segment
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

/** The environment variable for a key path, by the naming rule above. */
export function envVarName(path: string): string {
  return ENV_PREFIX + path.split('.').map(toUpperSnake).join(ENV_SEPARATOR);
}

function matchesPattern(path: string, pattern: string): boolean {
  const a = path.split('.');
  const b = pattern.split('.');
  return a.length === b.length && a.every((seg, i) => b[i] === '*' || b[i] === seg);
}

/** Whether a dotted path (list indexes as numbers or `*`) is, or lies inside, a secret key. */
export function isSecretPath(path: string): boolean {
  const segments = path.split('.');
  return SECRET_PATHS.some((secret) => {
    const depth = secret.split('.').length;
    return segments.length >= depth && matchesPattern(segments.slice(0, depth).join('.'), secret);
  });
}

function walk(schema: ZodLike, path: string, envAllowed: boolean, out: ConfigKeyInfo[]): void {
  const u = unwrap(schema);
  const shape = shapeOf(u);
  const info: ConfigKeyInfo = {
    path,
    ...shape,
    hasDefault: u.hasDefault,
    optional: u.optional,
    description: u.description,
    secret: isSecretPath(path),
    fileKey: FILE_KEYS.some((k) => matchesPattern(path, k)),
  };
  if (u.hasDefault) info.defaultValue = u.defaultValue;
  const def = defOf(u.core);
  let itemObject: ZodLike | undefined;
  if (shape.kind === 'array' && def.element) {
    const item = unwrap(def.element);
    info.item = shapeOf(item);
    if (info.item.kind === 'object') itemObject = item.core;
  }
  // Scalars and lists of scalars map to one variable each; a list of objects is set as one JSON array.
  if (envAllowed && shape.kind !== 'object') info.env = envVarName(path);
  out.push(info);

  if (shape.kind === 'object' && def.shape) {
    for (const [key, child] of Object.entries(def.shape)) walk(child, path ? `${path}.${key}` : key, envAllowed, out);
  }
  if (itemObject) {
    for (const [key, child] of Object.entries(defOf(itemObject).shape ?? {}))
      walk(child, `${path}.*.${key}`, false, out);
  }
}

function collectConfigKeys(): readonly ConfigKeyInfo[] {
  const out: ConfigKeyInfo[] = [];
  walk(configSchema, '', true, out);
  return out.filter((k) => k.path !== '');
}

/** Derived once from the (constant) schema. */
const CONFIG_KEYS = collectConfigKeys();

/** Every key of the schema in declaration order, sections before their keys (`openim`, `openim.apiUrl`, …). */
export function describeConfigKeys(): readonly ConfigKeyInfo[] {
  return CONFIG_KEYS;
}

/** The key description for a dotted path; list indexes may be numbers (`subscribers.0.url`). */
export function findConfigKey(path: string): ConfigKeyInfo | undefined {
  const normalized = path
    .split('.')
    .map((s) => (/^\d+$/.test(s) ? '*' : s))
    .join('.');
  return describeConfigKeys().find((k) => k.path === normalized);
}

/** Human wording of what a value must be: `an integer from 100 to 300000`, `one of "auto", "always", "never"`. */
export function describeAllowed(shape: ConfigValueShape & { item?: ConfigValueShape }): string {
  switch (shape.kind) {
    case 'object':
      return 'a mapping of keys';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${(shape.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'array':
      return shape.item ? `a list of ${pluralOf(shape.item)}` : 'a list';
    case 'number': {
      const noun = shape.integer ? 'an integer' : 'a number';
      if (shape.min !== undefined && shape.max !== undefined) return `${noun} from ${shape.min} to ${shape.max}`;
      if (shape.min !== undefined) return `${noun} ≥ ${shape.min}`;
      if (shape.max !== undefined) return `${noun} ≤ ${shape.max}`;
      return noun;
    }
    case 'string': {
      if (shape.format === 'uri') return 'an absolute http:// or https:// URL';
      if (shape.format === 'cidr') return 'an IP address or CIDR range';
      if (shape.min !== undefined && shape.max !== undefined)
        return `a string of ${shape.min} to ${shape.max} characters`;
      if (shape.min !== undefined && shape.min > 1) return `a string of at least ${shape.min} characters`;
      if (shape.min === 1) return 'a non-empty string';
      return 'a string';
    }
  }
}

function pluralOf(item: ConfigValueShape): string {
  switch (item.kind) {
    case 'object':
      return 'mappings';
    case 'enum':
      return `values from ${(item.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'string':
      if (item.format === 'uri') return 'http(s) URLs';
      if (item.format === 'cidr') return 'IP addresses or CIDR ranges';
      return item.min !== undefined && item.min > 1 ? `strings of at least ${item.min} characters` : 'strings';
    case 'number':
      return item.integer ? 'integers' : 'numbers';
    case 'boolean':
      return 'booleans';
    case 'array':
      return 'lists';
  }
}
