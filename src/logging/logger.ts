import { createRequire } from 'node:module';
import pino from 'pino';
import type { DestinationStream, LevelWithSilent, Logger, LoggerOptions } from 'pino';
import { REDACTED } from '../config/redact.js';

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Lowest level written. */
  level: LevelWithSilent;
  /** `auto`: human-readable only when stdout is a terminal; `always`/`never` force it. JSON is the fallback. */
  pretty: 'auto' | 'always' | 'never';
  /** Where lines go; stdout when absent. */
  destination?: DestinationStream;
  /**
   * Secret values (OpenIM secret, webhook path secret, API tokens) replaced by `[REDACTED]` wherever they appear in a
   * line, as a last line of defence. The array is read at every write, so values learned later may be pushed onto it.
   * Values shorter than {@link MIN_SECRET_LENGTH} characters are ignored (they would mask ordinary text).
   */
  secrets?: readonly string[];
  /** Whether stdout is a terminal (for `pretty: 'auto'`); `process.stdout.isTTY` when absent. */
  isTTY?: boolean;
}

/** Shorter secret values are not masked by text replacement (the redact paths still apply). */
export const MIN_SECRET_LENGTH = 4;

/** Paths pino blanks out before a line is written (`*` is one level of nesting). */
export const REDACT_PATHS = [
  'token',
  'secret',
  'pathSecret',
  'authorization',
  'headers.token',
  'headers.authorization',
  'config.headers.token',
  'config.data',
  '*.token',
  '*.secret',
  '*.pathSecret',
  '*.authorization',
  '*.tokens',
  '*.headers.token',
  '*.headers.authorization',
  '*.config.headers.token',
  '*.config.data',
  'req.headers.authorization',
  'req.headers.token',
];

/** Replaces every occurrence of each secret (raw, and as escaped inside a JSON string) with `[REDACTED]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0) return text;
  const ordered = secrets.length > 1 ? [...secrets].sort((a, b) => b.length - a.length) : secrets;
  let out = text;
  for (const secret of ordered) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret && out.includes(escaped)) out = out.split(escaped).join(REDACTED);
  }
  return out;
}

const SENSITIVE_KEY = /token|secret|password|passwd|authorization|cookie|credential/i;
/** Properties of HTTP client errors that carry headers, bodies or sockets: never logged. */
const HTTP_PARTS = new Set([
  'config',
  'request',
  'response',
  'headers',
  'data',
  'body',
  'agent',
  'socket',
  'req',
  'res',
]);
const MAX_DEPTH = 3;
const MAX_ITEMS = 20;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A JSON-safe copy without sensitive keys, HTTP parts, functions, deep nesting or long lists. */
function sanitize(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return depth < MAX_DEPTH ? serializeErrorAt(value, depth + 1) : value.message;
  if (!isRecord(value)) return undefined;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item) => sanitize(item, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`… ${value.length - MAX_ITEMS} more`);
    return items;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (SENSITIVE_KEY.test(key) || HTTP_PARTS.has(key)) continue;
    const clean = sanitize(item, depth + 1);
    if (clean !== undefined) out[key] = clean;
  }
  return out;
}

interface HttpErrorLike {
  config?: { method?: unknown; url?: unknown; baseURL?: unknown } | undefined;
  response?: { status?: unknown } | undefined;
}

function isHttpClientError(err: Error): boolean {
  return 'isAxiosError' in err || 'config' in err || 'request' in err || 'response' in err;
}

/** The path of a request URL without its query string (which could carry a credential). */
function pathOnly(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

function serializeErrorAt(err: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: err.constructor.name === 'Error' ? err.name : err.constructor.name,
    message: err.message,
  };
  if (err.stack !== undefined) out.stack = err.stack;
  const own = err as unknown as Record<string, unknown>;
  for (const key of Object.keys(err)) {
    if (key === 'message' || key === 'stack' || key === 'cause' || key === 'errors') continue;
    if (SENSITIVE_KEY.test(key) || HTTP_PARTS.has(key)) continue;
    const clean = sanitize(own[key], depth);
    if (clean !== undefined) out[key] = clean;
  }
  if (isHttpClientError(err)) {
    // Only what identifies the failed request; headers (tokens), bodies (secrets) and sockets stay out.
    const http = err as HttpErrorLike;
    const method = http.config?.method;
    if (typeof method === 'string') out.method = method.toUpperCase();
    const url = pathOnly(http.config?.url);
    if (url !== undefined) out.url = url;
    const status = http.response?.status;
    if (typeof status === 'number') out.status = status;
  }
  if (depth < MAX_DEPTH) {
    if (err.cause !== undefined) out.cause = sanitize(err.cause, depth);
    if (err instanceof AggregateError) {
      out.errors = (err.errors as unknown[]).slice(0, MAX_ITEMS).map((item) => sanitize(item, depth));
    }
  }
  return out;
}

/**
 * The `err` serializer: any Error becomes a small object (type, message, stack, code and other plain fields, cause);
 * HTTP client errors (anything with `config`/`request`/`response`, e.g. an AxiosError, which carries the admin
 * token in its request headers) keep only method, path and status.
 */
export function serializeError(err: unknown): unknown {
  if (err instanceof Error) return serializeErrorAt(err, 0);
  return sanitize(err, 0);
}

function serializeTopLevelErrors(object: Record<string, unknown>): Record<string, unknown> {
  let out = object;
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (value instanceof Error) {
      if (out === object) out = { ...object };
      out[key] = serializeError(value);
    }
  }
  return out;
}

interface PrettyModule {
  prettyFactory(options: Record<string, unknown>): (line: string) => string;
}

/** pino-pretty if it is installed (it is a dev dependency), else undefined. */
function loadPretty(): PrettyModule | undefined {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('pino-pretty') as Partial<PrettyModule>;
    return typeof mod.prettyFactory === 'function' ? (mod as PrettyModule) : undefined;
  } catch {
    return undefined;
  }
}

function prettyStream(pretty: PrettyModule, target: DestinationStream, colorize: boolean): DestinationStream {
  const format = pretty.prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return { write: (line: string) => target.write(format(line)) };
}

/**
 * The daemon's logger: pino JSON lines to stdout (or `destination`), human-readable only when asked or, with
 * `pretty: 'auto'`, when stdout is a terminal and pino-pretty is installed. No token or secret reaches a line:
 * the `err` serializer strips HTTP request details, {@link REDACT_PATHS} blanks known fields, and every written
 * line is finally scrubbed of the literal `secrets`.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const secrets = options.secrets ?? [];
  const pinoOptions: LoggerOptions = {
    level: options.level,
    serializers: { err: serializeError, error: serializeError },
    // Errors logged under any other top-level key get the same treatment (an AxiosError's own toJSON keeps its config).
    formatters: { log: serializeTopLevelErrors },
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    hooks: { streamWrite: (line: string) => redactSecrets(line, secrets) },
  };
  const isTTY = options.isTTY ?? process.stdout.isTTY;
  const wantPretty = options.pretty === 'always' || (options.pretty === 'auto' && isTTY);
  const pretty = wantPretty ? loadPretty() : undefined;
  if (pretty !== undefined) {
    const target = options.destination ?? process.stdout;
    return pino(pinoOptions, prettyStream(pretty, target, options.destination === undefined && isTTY));
  }
  return options.destination === undefined ? pino(pinoOptions) : pino(pinoOptions, options.destination);
}
