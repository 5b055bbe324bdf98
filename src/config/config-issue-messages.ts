/**
 * How configuration problems read: a zod issue turned into a {@link ConfigIssue} that names the key path, says what
 * is allowed (from the schema's description of the key), hints at the usual YAML mistakes, suggests the key a typo
 * resembles, and never shows a secret; and the one-line form `check-config` and `run` print.
 */
import type { z } from 'zod';
import type { ConfigIssue } from '../errors.js';
import { describeAllowed, describeConfigKeys, findConfigKey, isSecretPath } from './config-reference.js';
import type { ConfigValueShape } from './config-reference.js';
import { dotted, getIn } from './config-tree.js';
import type { Plain, Segment } from './config-tree.js';
import { closestName } from './name-suggestion.js';
import { REDACTED } from './redact.js';

/** Key names that probably hold secrets even when the key itself is unknown (a typo of a secret key). */
const SECRET_LOOKING = /secret|token|password|passwd|credential|private/i;

/** Whether a name (a key or an environment variable) looks like it holds a secret. */
export function looksSecret(name: string): boolean {
  return SECRET_LOOKING.test(name);
}

/** The value as a problem may show it: redacted for secret keys and keys that look like secrets. */
export function shownValue(path: string, value: unknown): unknown {
  if (value === undefined) return undefined;
  const last = path.split('.').pop() ?? '';
  return isSecretPath(path) || looksSecret(last) ? REDACTED : value;
}

function shapeAt(segments: readonly Segment[]): (ConfigValueShape & { item?: ConfigValueShape }) | undefined {
  const info = findConfigKey(dotted(segments));
  if (info) return info;
  const last = segments[segments.length - 1];
  if (typeof last === 'number' || (typeof last === 'string' && /^\d+$/.test(last))) {
    return findConfigKey(dotted(segments.slice(0, -1)))?.item;
  }
  return undefined;
}

/** The keys a section (or a list item's mapping) allows, by their last segment. */
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

/** zod's own wording; any other message was written in the schema and is kept as it is. */
const DEFAULT_MESSAGE = /^(Invalid input|Invalid option|Invalid string|Too small|Too big|Unrecognized key)/;

/** A hint for the usual YAML mistakes: a quoted number or boolean, an unquoted value where text is expected. */
export function typeHint(expected: ConfigValueShape | undefined, input: unknown): string {
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

/** The problems one zod issue stands for (an unrecognized-keys issue gives one per key), `data` being what was validated. */
export function fromZodIssue(issue: z.core.$ZodIssue, data: Plain): ConfigIssue[] {
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
        const suggestion = closestName(key, known);
        const suggestionPath = suggestion === undefined ? undefined : path ? `${path}.${suggestion}` : suggestion;
        const value = getIn(data, [...segments, key]);
        return {
          path: keyPath,
          value: suggestionPath && isSecretPath(suggestionPath) ? REDACTED : shownValue(keyPath, value),
          message: `unknown key${suggestionPath ? `; did you mean ${suggestionPath}?` : ''} Allowed keys${path ? ` in ${path}` : ''}: ${known.join(', ')}`,
        };
      });
    }
    case 'invalid_type': {
      if (input === undefined)
        return [{ path, value: undefined, message: `is required: ${allowed ?? `expected ${issue.expected}`}` }];
      return [
        { path, value: shownValue(path, input), message: `expected ${allowed ?? issue.expected}${typeHint(shape, input)}` },
      ];
    }
    case 'too_small':
    case 'too_big':
      if (custom) return [{ path, value: shownValue(path, input), message: issue.message }];
      return [{ path, value: shownValue(path, input), message: `out of range: must be ${allowed ?? issue.message}` }];
    case 'invalid_value':
      return [
        {
          path,
          value: shownValue(path, input),
          message: `must be ${allowed ?? `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}`,
        },
      ];
    case 'invalid_format':
      return [
        {
          path,
          value: shownValue(path, input),
          message: custom ? issue.message : `does not have the required format (${issue.format})`,
        },
      ];
    default:
      return [{ path, value: shownValue(path, input), message: issue.message }];
  }
}

/** `path: message (got: value)`, the one-line form of a problem. */
export function formatConfigIssue(issue: ConfigIssue): string {
  if (issue.value === undefined) return `${issue.path}: ${issue.message}`;
  let text = typeof issue.value === 'string' && issue.value === REDACTED ? REDACTED : JSON.stringify(issue.value);
  if (text.length > 200) text = `${text.slice(0, 197)}...`;
  return `${issue.path}: ${issue.message} (got: ${text})`;
}
