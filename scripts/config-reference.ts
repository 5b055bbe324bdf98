/**
 * Build tooling, not part of the daemon: renders the README's configuration reference and config/default.yaml from
 * the key descriptions of the zod config schema (src/config/config-reference.ts). scripts/update-readme-config.ts
 * writes both; test/config checks that the committed files match.
 */
import { stringify } from 'yaml';
import { describeConfigKeys } from '../src/config/config-reference.js';
import type { ConfigKeyInfo, ConfigValueShape } from '../src/config/config-reference.js';

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
