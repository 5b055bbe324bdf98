import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, ConfigFileError } from '../errors.js';
import type { ConfigIssue } from '../errors.js';
import {
  describeAllowed,
  describeConfigKeys,
  ENV_PREFIX,
  envVarName,
  findConfigKey,
  isSecretPath,
} from './config-reference.js';
import type { ConfigKeyInfo, ConfigValueShape } from './config-reference.js';
import { REDACTED } from './redact.js';
import { configSchema, FILE_KEYS } from './schema.js';
import { checkSemantics } from './semantic-checks.js';
import type { Config } from './schema.js';

/**
 * Loads the configuration: schema defaults ← the YAML file (if given) ← environment variables, then reads the
 * `*File` keys, validates everything and throws one {@link ConfigError} listing every problem.
 *
 * Environment variables: `OPR_` + key path, segments joined by `__`, each in UPPER_SNAKE case
 * (`openim.apiUrl` → `OPR_OPENIM__API_URL`; see `config-reference.ts`). Values are converted by the key's type:
 * numbers, booleans (`true`/`false`), comma-separated lists; `subscribers` only as a JSON array in
 * `OPR_SUBSCRIBERS`. An `OPR_*` variable that maps to no key is an error.
 *
 * `*File` keys (FILE_KEYS) name a file whose trimmed content replaces the sibling key (`api.tokensFile`: one token
 * per line; blank lines and `#` comments ignored). A source that sets either the key or its `*File` key overrides
 * both from earlier sources; both in the same source is an error. Relative paths resolve against `cwd`.
 */
export interface LoadConfigOptions {
  /** YAML file to read; missing, unreadable or invalid YAML throws {@link ConfigFileError}. */
  file?: string;
  /** Environment to read `OPR_*` variables from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative `*File` paths resolve against (default `process.cwd()`). */
  cwd?: string;
}

type Plain = Record<string, unknown>;
type Segment = string | number;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getIn(root: unknown, segments: readonly Segment[]): unknown {
  let current = root;
  for (const seg of segments) {
    if (Array.isArray(current) && typeof seg === 'number') current = current[seg] as unknown;
    else if (isPlain(current)) current = current[String(seg)];
    else return undefined;
  }
  return current;
}

/** Sets a value, creating missing sections; returns false when a section on the way is not a mapping. */
function setIn(root: Plain, segments: readonly string[], value: unknown): boolean {
  let current: Plain = root;
  for (const seg of segments.slice(0, -1)) {
    const next = current[seg] ?? (current[seg] = {});
    if (!isPlain(next)) return false;
    current = next;
  }
  const last = segments[segments.length - 1];
  if (last !== undefined) current[last] = value;
  return true;
}

function deleteIn(root: Plain, segments: readonly string[]): void {
  const parent = getIn(root, segments.slice(0, -1));
  const last = segments[segments.length - 1];
  if (isPlain(parent) && last !== undefined) Reflect.deleteProperty(parent, last);
}

/** All concrete paths matching a pattern whose `*` stands for every list item present. */
function expandPattern(root: unknown, pattern: readonly string[], prefix: Segment[] = []): Segment[][] {
  const [head, ...rest] = pattern;
  if (head === undefined) return [prefix];
  if (head === '*') {
    if (!Array.isArray(root)) return [];
    return root.flatMap((item, index) => expandPattern(item, rest, [...prefix, index]));
  }
  if (rest.length === 0) return [[...prefix, head]];
  return isPlain(root) ? expandPattern(root[head], rest, [...prefix, head]) : [];
}

const dotted = (segments: readonly Segment[]): string => segments.map(String).join('.');

/** Key names that probably hold secrets even when the key itself is unknown (a typo of a secret key). */
const SECRET_LOOKING = /secret|token|password|passwd|credential|private/i;

function shown(path: string, value: unknown): unknown {
  if (value === undefined) return undefined;
  const last = path.split('.').pop() ?? '';
  return isSecretPath(path) || SECRET_LOOKING.test(last) ? REDACTED : value;
}

function fsReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------------------------
// YAML layer

interface YamlLayer {
  data: Plain;
  /** `file line N` for the node at (or nearest above) a path, if the file has it. */
  locate(segments: readonly Segment[]): string | undefined;
}

function readYaml(file: string): YamlLayer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, fsReason(error), { cause: error });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const reasons = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return `invalid YAML at line ${line}, column ${col}: ${e.message.split('\n')[0] ?? e.code}`;
    });
    throw new ConfigFileError(file, reasons.join('; '));
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigFileError(file, `invalid YAML: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (data === null || data === undefined) data = {};
  if (!isPlain(data)) {
    throw new ConfigFileError(
      file,
      `the top level must be a mapping of keys (mode, openim, webhook, …), not ${Array.isArray(data) ? 'a list' : typeof data}`,
    );
  }
  const locate = (segments: readonly Segment[]): string | undefined => {
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const seg of segments) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        const range = (node as { range?: [number, number, number] } | undefined)?.range;
        if (range) offset = range[0];
      } else {
        break;
      }
    }
    return offset === undefined ? undefined : `at ${file} line ${lineCounter.linePos(offset).line}`;
  };
  return { data, locate };
}

// ---------------------------------------------------------------------------------------------------------------
// Environment layer

interface EnvOverride {
  info: ConfigKeyInfo;
  variable: string;
  value: unknown;
}

function convertScalar(shape: ConfigValueShape, raw: string): unknown {
  if (shape.kind === 'number') {
    const trimmed = raw.trim();
    const n = Number(trimmed);
    return trimmed !== '' && Number.isFinite(n) ? n : raw;
  }
  if (shape.kind === 'boolean') {
    if (/^true$/i.test(raw.trim())) return true;
    if (/^false$/i.test(raw.trim())) return false;
    return raw;
  }
  return raw;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = levenshtein(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function readEnv(env: NodeJS.ProcessEnv, issues: ConfigIssue[]): EnvOverride[] {
  const byVariable = new Map<string, ConfigKeyInfo>();
  for (const info of describeConfigKeys()) if (info.env) byVariable.set(info.env, info);
  const overrides: EnvOverride[] = [];
  for (const variable of Object.keys(env).sort()) {
    const raw = env[variable];
    if (!variable.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const info = byVariable.get(variable);
    if (!info) {
      const suggestion = closest(variable, [...byVariable.keys()]);
      const section = describeConfigKeys().find((k) => k.kind === 'object' && envVarName(k.path) === variable);
      const firstKey = section && describeConfigKeys().find((k) => k.env && k.path.startsWith(`${section.path}.`));
      let message = 'environment variable maps to no configuration key';
      if (section)
        message += `; ${section.path} is a section: set its keys one by one${firstKey?.env ? `, e.g. ${firstKey.env}` : ''}`;
      else if (suggestion) message += `; did you mean ${suggestion}?`;
      message +=
        ' (names are OPR_ + the key path, segments joined by __, each in UPPER_SNAKE case, e.g. OPR_OPENIM__API_URL)';
      const secretLike =
        SECRET_LOOKING.test(variable) || (suggestion !== undefined && byVariable.get(suggestion)?.secret === true);
      issues.push({ path: variable, value: secretLike ? REDACTED : raw, message });
      continue;
    }
    if (info.kind === 'array' && info.item?.kind === 'object') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch (error) {
        const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
        issues.push({
          path: info.path,
          value: REDACTED,
          message: `${variable} is not valid JSON${position ? ` (error at position ${position})` : ''}; expected a JSON array of subscriber mappings`,
        });
        continue;
      }
      if (!Array.isArray(parsed)) {
        issues.push({
          path: info.path,
          value: REDACTED,
          message: `${variable} must be a JSON array of subscriber mappings, e.g. [{"name":"billing","url":"https://…"}]`,
        });
        continue;
      }
      overrides.push({ info, variable, value: parsed });
    } else if (info.kind === 'array') {
      const item = info.item ?? { kind: 'string', integer: false };
      const items = raw.trim() === '' ? [] : raw.split(',').map((s) => convertScalar(item, s.trim()));
      overrides.push({ info, variable, value: items });
    } else {
      overrides.push({ info, variable, value: convertScalar(info, raw) });
    }
  }
  return overrides;
}

/** For `x` or `xFile` in FILE_KEYS, the other key of the pair (top-level patterns only). */
function filePartner(path: string): string | undefined {
  if ((FILE_KEYS as readonly string[]).includes(path)) return path.replace(/File$/, '');
  if ((FILE_KEYS as readonly string[]).includes(`${path}File`)) return `${path}File`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

function shapeAt(segments: readonly Segment[]): (ConfigValueShape & { item?: ConfigValueShape }) | undefined {
  const info = findConfigKey(dotted(segments));
  if (info) return info;
  const last = segments[segments.length - 1];
  if (typeof last === 'number' || (typeof last === 'string' && /^\d+$/.test(last))) {
    return findConfigKey(dotted(segments.slice(0, -1)))?.item;
  }
  return undefined;
}

function childKeys(parentPath: string): string[] {
  const normalized = parentPath
    .split('.')
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? '*' : s))
    .join('.');
  const depth = normalized === '' ? 1 : normalized.split('.').length + 1;
  return describeConfigKeys()
    .filter((k) => k.path.split('.').length === depth && (normalized === '' || k.path.startsWith(`${normalized}.`)))
    .map((k) => k.path.split('.').pop() ?? '');
}

const DEFAULT_MESSAGE = /^(Invalid input|Invalid option|Invalid string|Too small|Too big|Unrecognized key)/;

function typeHint(expected: ConfigValueShape | undefined, input: unknown): string {
  if (
    expected?.kind === 'number' &&
    typeof input === 'string' &&
    input.trim() !== '' &&
    Number.isFinite(Number(input))
  ) {
    return ' (a quoted number is a string; write it without quotes)';
  }
  if (expected?.kind === 'boolean' && typeof input === 'string') return ' (write true or false without quotes)';
  if (expected?.kind === 'string' && (typeof input === 'number' || typeof input === 'boolean')) {
    return ' (quote the value in YAML)';
  }
  return '';
}

function fromZodIssue(issue: z.core.$ZodIssue, data: Plain): ConfigIssue[] {
  const segments: Segment[] = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  const path = dotted(segments);
  const input = (issue as { input?: unknown }).input;
  const shape = shapeAt(segments);
  const allowed = shape ? describeAllowed(shape) : undefined;
  const custom = !DEFAULT_MESSAGE.test(issue.message);

  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = childKeys(path);
      return issue.keys.map((key) => {
        const keyPath = path ? `${path}.${key}` : key;
        const suggestion = closest(key, known);
        const suggestionPath = suggestion === undefined ? undefined : path ? `${path}.${suggestion}` : suggestion;
        const value = getIn(data, [...segments, key]);
        return {
          path: keyPath,
          value: suggestionPath && isSecretPath(suggestionPath) ? REDACTED : shown(keyPath, value),
          message: `unknown key${suggestionPath ? `; did you mean ${suggestionPath}?` : ''} Allowed keys${path ? ` in ${path}` : ''}: ${known.join(', ')}`,
        };
      });
    }
    case 'invalid_type': {
      if (input === undefined)
        return [{ path, value: undefined, message: `is required: ${allowed ?? `expected ${issue.expected}`}` }];
      return [
        { path, value: shown(path, input), message: `expected ${allowed ?? issue.expected}${typeHint(shape, input)}` },
      ];
    }
    case 'too_small':
    case 'too_big':
      if (custom) return [{ path, value: shown(path, input), message: issue.message }];
      return [{ path, value: shown(path, input), message: `out of range: must be ${allowed ?? issue.message}` }];
    case 'invalid_value':
      return [
        {
          path,
          value: shown(path, input),
          message: `must be ${allowed ?? `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}`,
        },
      ];
    case 'invalid_format':
      return [
        {
          path,
          value: shown(path, input),
          message: custom ? issue.message : `does not have the required format (${issue.format})`,
        },
      ];
    default:
      return [{ path, value: shown(path, input), message: issue.message }];
  }
}

export { ALLOWED_POLL_INTERVALS } from './semantic-checks.js';

/** `path: message (got: value)`, the one-line form of a problem. */
export function formatConfigIssue(issue: ConfigIssue): string {
  if (issue.value === undefined) return `${issue.path}: ${issue.message}`;
  let text = typeof issue.value === 'string' && issue.value === REDACTED ? REDACTED : JSON.stringify(issue.value);
  if (text.length > 200) text = `${text.slice(0, 197)}...`;
  return `${issue.path}: ${issue.message} (got: ${text})`;
}

/**
 * Replaces each `*File` key's sibling with the content of the named file (one entry per line for lists), recording
 * where the value came from in `sources`. Returns the problems: both keys set, unreadable or empty file.
 */
function readFileKeys(data: Plain, cwd: string, sources: Map<string, string>): ConfigIssue[] {
  const fileIssues: ConfigIssue[] = [];
  for (const pattern of FILE_KEYS) {
    for (const fileSegments of expandPattern(data, pattern.split('.'))) {
      const filePath = getIn(data, fileSegments);
      if (typeof filePath !== 'string') continue; // a wrong type is reported by the schema
      const fileKey = dotted(fileSegments);
      const targetSegments = [
        ...fileSegments.slice(0, -1),
        String(fileSegments[fileSegments.length - 1]).replace(/File$/, ''),
      ];
      const target = dotted(targetSegments);
      if (getIn(data, targetSegments) !== undefined) {
        fileIssues.push({
          path: fileKey,
          value: filePath,
          message: `both ${target} and ${fileKey} are set; set only one of them`,
        });
        continue;
      }
      if (filePath.trim() === '') {
        fileIssues.push({ path: fileKey, value: filePath, message: `must be the path of a file holding ${target}` });
        continue;
      }
      let text: string;
      try {
        text = readFileSync(resolve(cwd, filePath), 'utf8');
      } catch (error) {
        fileIssues.push({
          path: fileKey,
          value: filePath,
          message: `cannot read the file holding ${target}: ${fsReason(error)}`,
        });
        continue;
      }
      const isList = findConfigKey(target)?.kind === 'array';
      const value = isList
        ? text
            .split(/\r?\n/)
            .map((line) => line.trim())
            .filter((line) => line !== '' && !line.startsWith('#'))
        : text.trim();
      if (value.length === 0) {
        fileIssues.push({
          path: fileKey,
          value: filePath,
          message: `the file is empty; it must hold ${isList ? 'one value per line' : target}`,
        });
        continue;
      }
      const parent = getIn(data, fileSegments.slice(0, -1));
      if (isPlain(parent)) {
        parent[String(targetSegments[targetSegments.length - 1])] = value;
        sources.set(target, `read from ${filePath}`);
      }
    }
  }
  return fileIssues;
}

/**
 * Loads and validates the configuration. Throws {@link ConfigFileError} when the YAML file cannot be read or
 * parsed, and {@link ConfigError} listing every other problem at once.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const issues: ConfigIssue[] = [];

  const yaml = options.file === undefined ? undefined : readYaml(options.file);
  const data: Plain = yaml?.data ?? {};
  // A section whose keys are all commented out reads as null in YAML: treat it as empty.
  for (const info of describeConfigKeys()) {
    if (info.kind === 'object' && !info.path.includes('*') && getIn(data, info.path.split('.')) === null) {
      deleteIn(data, info.path.split('.'));
    }
  }
  /** Where a value came from, by dotted path, for messages. */
  const sources = new Map<string, string>();

  const overrides = readEnv(env, issues);
  const envPaths = new Set(overrides.map((o) => o.info.path));
  for (const { info, variable, value } of overrides) {
    // A source that sets `x` or `xFile` replaces both from the sources below it.
    const partner = filePartner(info.path);
    if (partner && !envPaths.has(partner)) deleteIn(data, partner.split('.'));
    if (setIn(data, info.path.split('.'), value)) sources.set(info.path, `set by ${variable}`);
  }

  const where = (segments: readonly Segment[]): string | undefined => {
    for (let n = segments.length; n > 0; n--) {
      const source = sources.get(dotted(segments.slice(0, n)));
      if (source) return source;
    }
    return yaml?.locate(segments);
  };

  const fileIssues = readFileKeys(data, cwd, sources);

  const result = configSchema.safeParse(data, { reportInput: true });
  const keyIssues = [
    ...fileIssues,
    ...(result.success ? [] : result.error.issues.flatMap((zodIssue) => fromZodIssue(zodIssue, data))),
    ...checkSemantics(data),
  ];
  for (const issue of keyIssues) {
    const source = where(issue.path.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s)));
    issues.push(source ? { ...issue, message: `${issue.message} (${source})` } : issue);
  }

  if (issues.length > 0 || !result.success) throw new ConfigError(issues);
  return result.data;
}

/**
 * Problems that stop the daemon from running although the configuration loads: the OpenIM secret and the webhook
 * path secret must be set (in the environment, a `*File` key, or the YAML file).
 */
export function requireSecrets(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!config.openim.secret) {
    issues.push({
      path: 'openim.secret',
      value: undefined,
      message: `is required to run the daemon (OpenIM's share.yml secret): set ${envVarName('openim.secret')} or ${envVarName('openim.secretFile')}, or openim.secretFile in the YAML file`,
    });
  }
  if (!config.webhook.pathSecret) {
    issues.push({
      path: 'webhook.pathSecret',
      value: undefined,
      message: `is required to run the daemon (OpenIM posts to /<pathSecret>/<command>; 8-128 URL-safe characters, e.g. from \`openssl rand -hex 16\`): set ${envVarName('webhook.pathSecret')} or ${envVarName('webhook.pathSecretFile')}, or webhook.pathSecretFile in the YAML file`,
    });
  }
  return issues;
}
