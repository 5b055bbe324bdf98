/**
 * The environment source of the configuration. Variables are `OPR_` + key path, segments joined by `__`, each in
 * UPPER_SNAKE case (`openim.apiUrl` → `OPR_OPENIM__API_URL`; see `config-reference.ts`). Values are converted by the
 * key's type: numbers, booleans (`true`/`false`), comma-separated lists; `subscribers` only as a JSON array in
 * `OPR_SUBSCRIBERS`. An `OPR_*` variable that maps to no key is an error.
 */
import type { ConfigIssue } from '../errors.js';
import { describeConfigKeys, ENV_PREFIX, envVarName } from './config-reference.js';
import type { ConfigKeyInfo, ConfigValueShape } from './config-reference.js';
import { looksSecret } from './config-issue-messages.js';
import { deleteIn, setIn } from './config-tree.js';
import type { Plain } from './config-tree.js';
import { filePartner } from './file-key-source.js';
import { closestName } from './name-suggestion.js';
import { REDACTED } from './redact.js';

/** One variable that maps to a key, with its value converted by the key's type. */
export interface EnvOverride {
  info: ConfigKeyInfo;
  variable: string;
  value: unknown;
}

/** A number or boolean from its text; text that is neither is kept, for the schema to report with the key's type. */
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

/**
 * The `OPR_*` variables of `env` as key overrides, in the order of their names. A variable that maps to no key, or
 * an `OPR_SUBSCRIBERS` that is not a JSON array, is added to `issues` instead.
 */
export function readEnv(env: NodeJS.ProcessEnv, issues: ConfigIssue[]): EnvOverride[] {
  const byVariable = new Map<string, ConfigKeyInfo>();
  for (const info of describeConfigKeys()) if (info.env) byVariable.set(info.env, info);
  const overrides: EnvOverride[] = [];
  for (const variable of Object.keys(env).sort()) {
    const raw = env[variable];
    if (!variable.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const info = byVariable.get(variable);
    if (!info) {
      const suggestion = closestName(variable, [...byVariable.keys()]);
      const section = describeConfigKeys().find((k) => k.kind === 'object' && envVarName(k.path) === variable);
      const firstKey = section && describeConfigKeys().find((k) => k.env && k.path.startsWith(`${section.path}.`));
      let message = 'environment variable maps to no configuration key';
      if (section)
        message += `; ${section.path} is a section: set its keys one by one${firstKey?.env ? `, e.g. ${firstKey.env}` : ''}`;
      else if (suggestion) message += `; did you mean ${suggestion}?`;
      message +=
        ' (names are OPR_ + the key path, segments joined by __, each in UPPER_SNAKE case, e.g. OPR_OPENIM__API_URL)';
      const secretLike =
        looksSecret(variable) || (suggestion !== undefined && byVariable.get(suggestion)?.secret === true);
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

/**
 * Writes the overrides into `data`, recording `set by <variable>` in `sources`. A variable that sets `x` or `xFile`
 * replaces both from the file below it (the YAML file), unless the environment sets both (reported later).
 */
export function applyEnv(data: Plain, overrides: readonly EnvOverride[], sources: Map<string, string>): void {
  const envPaths = new Set(overrides.map((o) => o.info.path));
  for (const { info, variable, value } of overrides) {
    const partner = filePartner(info.path);
    if (partner && !envPaths.has(partner)) deleteIn(data, partner.split('.'));
    if (setIn(data, info.path.split('.'), value)) sources.set(info.path, `set by ${variable}`);
  }
}
