import { SECRET_PATHS } from './schema.js';

/** What every secret value is replaced with wherever configuration is shown. */
export const REDACTED = '[REDACTED]';

type Holder = Record<string, unknown> | unknown[];

function isHolder(value: unknown): value is Holder {
  return typeof value === 'object' && value !== null;
}

/**
 * Calls `visit(holder, key)` for every place matching a dotted pattern (`*` matches every list item), whether or
 * not a value is set there.
 */
function forEachAt(
  root: unknown,
  segments: readonly string[],
  visit: (holder: Record<string, unknown>, key: string) => void,
): void {
  const [head, ...rest] = segments;
  if (head === undefined || !isHolder(root)) return;
  if (head === '*') {
    if (Array.isArray(root)) for (const item of root) forEachAt(item, rest, visit);
    return;
  }
  if (Array.isArray(root)) return;
  if (rest.length === 0) visit(root, head);
  else forEachAt(root[head], rest, visit);
}

/**
 * A deep copy of `config` with every value at a SECRET_PATHS key replaced by `[REDACTED]` (each item of a list
 * of secrets, so the count stays visible). Unset secrets stay unset.
 */
export function redactConfig<T>(config: T): T {
  const copy = structuredClone(config);
  for (const pattern of SECRET_PATHS) {
    forEachAt(copy, pattern.split('.'), (holder, key) => {
      const value = holder[key];
      if (value === undefined) return;
      holder[key] = Array.isArray(value) ? value.map(() => REDACTED) : REDACTED;
    });
  }
  return copy;
}

/** Every non-empty secret value in `config`, once each: the logger masks these wherever they appear. */
export function collectSecrets(config: unknown): string[] {
  const found = new Set<string>();
  for (const pattern of SECRET_PATHS) {
    forEachAt(config, pattern.split('.'), (holder, key) => {
      const value = holder[key];
      for (const item of Array.isArray(value) ? (value as unknown[]) : [value]) {
        if (typeof item === 'string' && item !== '') found.add(item);
      }
    });
  }
  return [...found];
}
