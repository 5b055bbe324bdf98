import { urlPasswordForms } from '../util/url-redaction.js';
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

/** A URL with a password in it (`scheme://user:password@host…`). */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s]*:[^/?#@\s]*@/i;

/** The password of a URL that has one (as written, percent-encoded), else undefined. */
function urlPassword(value: string): string | undefined {
  if (!URL_WITH_PASSWORD.test(value)) return undefined;
  try {
    const password = new URL(value).password;
    return password === '' ? undefined : password;
  } catch {
    return undefined;
  }
}

/** Calls `visit(holder, key, value)` for every string anywhere in `root` (object values and list items). */
function forEachString(root: unknown, visit: (holder: Holder, key: string | number, value: string) => void): void {
  if (!isHolder(root)) return;
  const entries: [string | number, unknown][] = Array.isArray(root) ? root.map((v, i) => [i, v]) : Object.entries(root);
  for (const [key, value] of entries) {
    if (typeof value === 'string') visit(root, key, value);
    else forEachString(value, visit);
  }
}

/**
 * A deep copy of `config` with every value at a SECRET_PATHS key replaced by `[REDACTED]` (each item of a list
 * of secrets, so the count stays visible), and the password of every URL that carries one (e.g. a subscriber's
 * `https://user:password@host/…`) replaced by `[REDACTED]`. Unset secrets stay unset.
 */
export function redactConfig<T>(config: T): T {
  const copy = structuredClone(config);
  forEachString(copy, (holder, key, value) => {
    const password = urlPassword(value);
    if (password === undefined) return;
    const u = new URL(value);
    u.password = REDACTED;
    // Keep the URL as written apart from the password (URL would normalise it and percent-encode the brackets).
    const redacted = value.replace(`:${password}@`, `:${REDACTED}@`);
    (holder as Record<string | number, unknown>)[key] = redacted.includes(REDACTED) ? redacted : u.href;
  });
  for (const pattern of SECRET_PATHS) {
    forEachAt(copy, pattern.split('.'), (holder, key) => {
      const value = holder[key];
      if (value === undefined) return;
      holder[key] = Array.isArray(value) ? value.map(() => REDACTED) : REDACTED;
    });
  }
  return copy;
}

/**
 * Every non-empty secret value in `config`, once each: the logger masks these wherever they appear. Passwords in
 * URLs count too (as written and percent-decoded) when they are at least 6 characters long: masking a shorter
 * string everywhere would garble the logs, and no URL is logged with its password anyway.
 */
export function collectSecrets(config: unknown): string[] {
  const found = new Set<string>();
  forEachString(config, (_holder, _key, value) => {
    if (urlPassword(value) === undefined) return;
    for (const form of urlPasswordForms(value)) if (form.length >= 6) found.add(form);
  });
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
