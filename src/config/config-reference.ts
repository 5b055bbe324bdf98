import { stringify } from 'yaml';
import { globalRegistry } from 'zod';
import { configSchema, FILE_KEYS, SECRET_PATHS } from './schema.js';

/**
 * Walks the zod config schema (the single source of keys, types, defaults and docs) and describes every key:
 * the loader uses this to map environment variables and explain type errors, and the README's configuration
 * table is rendered from it.
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

// ---------------------------------------------------------------------------------------------------------------
// Markdown rendering

function typeCell(info: ConfigKeyInfo): string {
  const code = (v: string) => `\`${v}\``;
  const shapeText = (s: ConfigValueShape): string => {
    switch (s.kind) {
      case 'enum':
        return (s.values ?? []).map((v) => code(v)).join(' | ');
      case 'number': {
        const noun = s.integer ? 'integer' : 'number';
        if (s.min !== undefined && s.max !== undefined) return `${noun} ${s.min}–${s.max}`;
        if (s.min !== undefined) return `${noun} ≥ ${s.min}`;
        if (s.max !== undefined) return `${noun} ≤ ${s.max}`;
        return noun;
      }
      case 'string':
        if (s.format === 'uri') return 'URL';
        if (s.format === 'cidr') return 'IP or CIDR';
        return s.min !== undefined && s.min > 1 ? `string (≥ ${s.min} chars)` : 'string';
      case 'array':
        return 'list';
      default:
        return s.kind;
    }
  };
  if (info.kind === 'array') return info.item ? `list of ${shapeText(info.item)}` : 'list';
  return shapeText(info);
}

function defaultCell(info: ConfigKeyInfo): string {
  if (!info.hasDefault || info.kind === 'object') return '—';
  const v = info.defaultValue;
  return `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
}

function envCell(info: ConfigKeyInfo): string {
  if (info.env)
    return info.kind === 'array' && info.item?.kind === 'object' ? `\`${info.env}\` (JSON array)` : `\`${info.env}\``;
  if (info.kind === 'object') return '—';
  return 'via `OPR_SUBSCRIBERS`';
}

/** Escapes a table cell: pipes everywhere, and `<`/`>` outside code spans (Markdown would read them as HTML). */
function escapeCell(text: string): string {
  return text
    .replace(/\r?\n/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`')
    .replace(/\|/g, '\\|');
}

/**
 * The README's configuration table: one row per key (sections in bold), with its type and allowed range,
 * default, environment variable and description.
 */
export function renderConfigReference(): string {
  const rows = describeConfigKeys().map((info) => {
    const key = info.kind === 'object' && !info.path.includes('*') ? `**\`${info.path}\`**` : `\`${info.path}\``;
    let description = info.description;
    if (info.secret && !/secret\.?$/i.test(description)) description = `${description} Secret.`;
    if (info.secret) description += ' Never logged; prefer the environment or the matching `*File` key.';
    return `| ${key} | ${escapeCell(typeCell(info))} | ${escapeCell(defaultCell(info))} | ${escapeCell(envCell(info))} | ${escapeCell(description.trim())} |`;
  });
  return (
    ['| Key | Type | Default | Environment variable | Description |', '| --- | --- | --- | --- | --- |', ...rows].join(
      '\n',
    ) + '\n'
  );
}

export const README_MARKER_START = '<!-- config-reference:start -->';
export const README_MARKER_END = '<!-- config-reference:end -->';

/** The README section written when the README has no markers yet. */
export function renderConfigReferenceSection(): string {
  return [
    '## Configuration reference',
    '',
    'Configuration is loaded in this order, later sources overriding earlier ones: the defaults below, then the YAML',
    'file given with `--config`, then environment variables. Unknown keys and unknown `OPR_*` variables are errors.',
    '',
    '**Environment variables**: `OPR_` followed by the key path, segments joined by `__`, each segment in',
    'UPPER_SNAKE case: `openim.apiUrl` → `OPR_OPENIM__API_URL`, `poll.intervalSeconds` → `OPR_POLL__INTERVAL_SECONDS`,',
    "`mode` → `OPR_MODE`. Numbers and booleans (`true`/`false`) are converted by the key's type; lists are",
    'comma-separated (`OPR_API__TOKENS=token-one,token-two`); `subscribers` can only be set as a whole, as a JSON array',
    'in `OPR_SUBSCRIBERS`.',
    '',
    '**Secrets from files** (`*_FILE`): each `*File` key (`openim.secretFile`, `webhook.pathSecretFile`, `api.tokensFile`,',
    '`subscribers[].secretFile`; in the environment `OPR_OPENIM__SECRET_FILE`, `OPR_WEBHOOK__PATH_SECRET_FILE`,',
    '`OPR_API__TOKENS_FILE`) names a file whose content (trimmed) replaces its sibling key; `api.tokensFile` holds one',
    'token per line (blank lines and lines starting with `#` are ignored). Giving both a key and its `*File` key in the',
    'same source is an error; a source that sets either one overrides both from earlier sources. Relative paths are',
    'resolved against the working directory. `openim.secret` and `webhook.pathSecret` are required to run the daemon.',
    '',
    'Check a configuration with `openim-presence check-config --config <file>`: it prints the effective configuration with',
    'every secret redacted, or every problem (key, value, what is allowed) and exits 2.',
    '',
    README_MARKER_START,
    renderConfigReference().trimEnd(),
    README_MARKER_END,
    '',
  ].join('\n');
}

/**
 * Returns `readme` with the generated table between the markers; appends the whole section when the markers are
 * missing. Content outside the markers is left untouched.
 */
export function spliceConfigReference(readme: string): string {
  const start = readme.indexOf(README_MARKER_START);
  const end = readme.indexOf(README_MARKER_END);
  if (start === -1 || end === -1 || end < start) {
    const base = readme.trimEnd();
    return (base ? `${base}\n\n` : '') + renderConfigReferenceSection();
  }
  return `${readme.slice(0, start)}${README_MARKER_START}\n${renderConfigReference().trimEnd()}\n${readme.slice(end)}`;
}

/** The table currently between the README markers, or undefined when the markers are missing. */
export function extractConfigReference(readme: string): string | undefined {
  const start = readme.indexOf(README_MARKER_START);
  const end = readme.indexOf(README_MARKER_END);
  if (start === -1 || end === -1 || end < start) return undefined;
  return readme.slice(start + README_MARKER_START.length, end).trim() + '\n';
}

// ---------------------------------------------------------------------------------------------------------------
// config/default.yaml rendering

/** Example values for keys that have no default (written commented out). */
const YAML_EXAMPLES: Record<string, string> = {
  'openim.secret': '"<OpenIM share.yml secret>"',
  'openim.secretFile': '/run/secrets/openim-secret',
  'webhook.pathSecret': '"<8-128 URL-safe characters>"',
  'webhook.pathSecretFile': '/run/secrets/webhook-path-secret',
  'webhook.publicUrl': 'http://presence-reconciler.internal:10006',
  'api.tokens': '["<token of at least 16 characters>"]',
  'api.tokensFile': '/run/secrets/api-tokens',
  'subscribers.*.name': 'billing',
  'subscribers.*.url': 'https://billing.internal/openim/presence',
  'subscribers.*.secret': '"whsec_<base64>"',
  'subscribers.*.secretFile': '/run/secrets/billing-signing-secret',
};

const DEFAULT_YAML_HEADER = [
  '# openim-presence-reconciler: every configuration key with its default value.',
  '# Generated from src/config/schema.ts: node --import tsx scripts/update-readme-config.ts',
  '#',
  '# Load order (later wins): built-in defaults ← this YAML file (--config) ← OPR_* environment variables.',
  '# Environment variable names: OPR_ + the key path, segments joined by __, each in UPPER_SNAKE case:',
  '#   openim.apiUrl → OPR_OPENIM__API_URL, poll.intervalSeconds → OPR_POLL__INTERVAL_SECONDS, mode → OPR_MODE.',
  '#   Lists are comma-separated (OPR_POLL__USERS=alice,bob); subscribers only as a JSON array in OPR_SUBSCRIBERS.',
  '# Secrets (openim.secret, webhook.pathSecret, api.tokens, subscribers[].secret) are left commented out: set them with',
  '#   environment variables or point the matching *File key at a file (e.g. OPR_OPENIM__SECRET_FILE=/run/secrets/openim).',
  '#   openim.secret and webhook.pathSecret are required to run the daemon.',
  '# Unknown keys are errors. Check a file with: openim-presence check-config --config <file>',
];

function yamlScalar(value: unknown): string {
  return stringify(value).trimEnd();
}

function yamlValue(info: ConfigKeyInfo): string {
  const example = YAML_EXAMPLES[info.path];
  if (example !== undefined && (info.secret || !info.hasDefault)) return example;
  if (!info.hasDefault) return '""';
  const value = info.defaultValue;
  return Array.isArray(value) ? `[${value.map(yamlScalar).join(', ')}]` : yamlScalar(value);
}

function yamlComment(info: ConfigKeyInfo): string {
  let allowed = '';
  if (info.kind === 'number') {
    const noun = info.integer ? 'integer' : 'number';
    if (info.min !== undefined && info.max !== undefined) allowed = ` (${noun}, ${info.min}–${info.max})`;
    else if (info.min !== undefined) allowed = ` (${noun}, ≥ ${info.min})`;
    else if (info.max !== undefined) allowed = ` (${noun}, ≤ ${info.max})`;
    else allowed = ` (${noun})`;
  } else if (info.kind === 'enum') {
    allowed = ` (one of: ${(info.values ?? []).join(', ')})`;
  }
  const name = info.path.split('.').pop() ?? info.path;
  return `# ${info.description || `${name} settings.`}${allowed}`;
}

/**
 * `config/default.yaml`: every key with its default, each preceded by its description; secrets and keys without a
 * default are commented out, and `subscribers` gets a commented-out example item.
 */
export function renderDefaultYaml(): string {
  const keys = describeConfigKeys();
  const lines = [...DEFAULT_YAML_HEADER];
  for (const info of keys) {
    if (info.path.includes('*')) continue;
    const segments = info.path.split('.');
    const name = segments[segments.length - 1] ?? info.path;
    const indent = '  '.repeat(segments.length - 1);
    if (segments.length === 1) lines.push('');
    lines.push(`${indent}${yamlComment(info)}`);
    if (info.kind === 'object') {
      lines.push(`${indent}${name}:`);
    } else if (info.secret) {
      lines.push(
        `${indent}# Do not write it here: set ${info.env ?? ''} or ${info.env ?? ''}_FILE (or ${name}File below).`,
      );
      lines.push(`${indent}# ${name}: ${yamlValue(info)}`);
    } else if (!info.hasDefault) {
      lines.push(`${indent}# ${name}: ${yamlValue(info)}`);
    } else {
      lines.push(`${indent}${name}: ${yamlValue(info)}`);
    }
    const itemKeys = keys.filter((k) => k.path.startsWith(`${info.path}.*.`));
    if (itemKeys.length > 0) {
      lines.push(`# Example: replace \`[]\` above with a list of ${name} like this one.`);
      lines.push(`# ${name}:`);
      itemKeys.forEach((item, index) => {
        const itemName = item.path.split('.').pop() ?? item.path;
        const prefix = index === 0 ? '#   - ' : '#     ';
        const secretNote = item.secret ? ` Prefer ${itemName}File (give only one of the two).` : '';
        lines.push(`${index === 0 ? '#   ' : '#     '}${yamlComment(item)}${secretNote}`);
        // A secret sits doubly commented so that uncommenting the example never sets both it and its file.
        lines.push(`${prefix}${item.secret ? '# ' : ''}${itemName}: ${yamlValue(item)}`);
      });
    }
  }
  return `${lines.join('\n')}\n`;
}
