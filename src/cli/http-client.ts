/**
 * What the operator commands (report, user, mismatches) share: finding the running daemon's API and token, calling
 * it, turning every failure into one clear line and an exit code, and the table / CSV output forms.
 */
import type { Command } from 'commander';
import { parseTimeSpec, TIME_SPEC_HELP } from '../api/time-params.js';
import { badPortOfUrl, badPortReason } from '../config/bad-ports.js';
import { formatConfigIssue, loadConfig } from '../config/load-config.js';
import { configSchema } from '../config/schema.js';
import type { Config } from '../config/schema.js';
import { ConfigError, isOprError } from '../errors.js';

/** The daemon was unreachable or refused the request. */
export const EXIT_FAILED = 1;
/** Bad arguments or an unreadable configuration. */
export const EXIT_USAGE = 2;

/** The default api.port, suggested when a configured one is blocked. */
const DEFAULT_PORT_HINT: number = configSchema.parse({}).api.port;

/** A failure the user can act on: printed as one line on stderr, then the process exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}

/** Checks a time argument (`--since`, `--until`) locally, so a typo exits 2 before anything is sent. */
export function checkTimeArg(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (parseTimeSpec(value, Date.now()) === undefined) throw usageError(`${flag} must be ${TIME_SPEC_HELP}, got ${JSON.stringify(value).slice(0, 60)}`);
  return value;
}

/** Checks a comma-separated list argument (`--kind`, `--status`) against its allowed values. */
export function checkList(value: string | undefined, flag: string, allowed: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  for (const item of value.split(',').filter((s) => s !== '')) {
    if (!allowed.includes(item)) throw usageError(`${flag}: unknown value ${JSON.stringify(item).slice(0, 40)}; allowed (comma-separated): ${allowed.join(', ')}`);
  }
  return value;
}

/** Checks a positive integer argument (a page size, a cursor, an id). */
export function checkPositiveInt(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw usageError(`${flag} must be a positive integer, got ${JSON.stringify(value).slice(0, 40)}`);
  return value;
}

export interface TargetOptions {
  url?: string;
  config?: string;
  token?: string;
}

/** Where the daemon's API is and which bearer token to send. */
export interface Target {
  baseUrl: string;
  token: string | undefined;
}

/** Adds `--url`, `--config` and `--token` to a command that talks to the daemon. */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', "the daemon's API base URL (default: from the configuration's api.host and api.port)")
    .option('-c, --config <file>', 'YAML configuration file to read api.host, api.port and api.tokens from')
    .option('--token <token>', 'API bearer token (default: the first of api.tokens)');
}

/** Bad arguments exit 2 (commander's own parse errors included); `--help` still exits 0. */
export function exitTwoOnUsageErrors(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  });
}

/** Runs a command's action, printing a CliError (or anything unexpected) as one line on stderr. */
export function runAction<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof CliError) {
        process.stderr.write(`error: ${printable(err.message)}\n`);
        process.exitCode = err.exitCode;
        return;
      }
      process.stderr.write(`error: ${printable(err instanceof Error ? err.message : String(err))}\n`);
      process.exitCode = EXIT_FAILED;
    }
  };
}

function loadConfigOrExit(file: string | undefined): Config {
  try {
    return loadConfig(file === undefined ? {} : { file });
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(`invalid configuration: ${err.issues.map(formatConfigIssue).join('; ')}`);
    if (isOprError(err)) throw usageError(err.message);
    throw err;
  }
}

/** `http://host:port` for a listen address: wildcard addresses become loopback, IPv6 gets brackets. */
export function urlForListenAddress(host: string, port: number): string {
  let h = host;
  if (h === '0.0.0.0' || h === '') h = '127.0.0.1';
  else if (h === '::' || h === '[::]') h = '::1';
  if (h.includes(':') && !h.startsWith('[')) h = `[${h}]`;
  return `http://${h}:${port}`;
}

/** `--url` or the configuration's api.host/api.port; `--token` or the configuration's first api.tokens entry. */
export function resolveTarget(opts: TargetOptions): Target {
  let config: Config | undefined;
  const cfg = (): Config => (config ??= loadConfigOrExit(opts.config));
  let baseUrl: string;
  if (opts.url !== undefined) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw usageError(`--url must be an http:// or https:// URL such as http://127.0.0.1:10088, got ${JSON.stringify(opts.url).slice(0, 80)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usageError(`--url must be an http:// or https:// URL, got ${u.protocol}`);
    if (u.username !== '' || u.password !== '') throw usageError('--url must not contain credentials; pass the API token with --token');
    baseUrl = `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } else {
    const c = cfg();
    if (c.api.port === 0) throw usageError('api.port is 0 (a random port) in the configuration: pass the daemon address with --url');
    baseUrl = urlForListenAddress(c.api.host, c.api.port);
  }
  const blocked = badPortOfUrl(baseUrl);
  if (blocked !== undefined) throw blockedPortError(baseUrl, blocked, opts.url !== undefined ? '--url' : 'api.port');
  let token = opts.token;
  if (token === undefined) {
    if (opts.url === undefined || opts.config !== undefined) token = cfg().api.tokens[0];
    else {
      // Only --url: the token may still come from OPR_API__TOKENS; a broken environment just means no token.
      try {
        token = loadConfig({}).api.tokens[0];
      } catch {
        token = undefined;
      }
    }
  }
  if (token === '') token = undefined;
  return { baseUrl, token };
}

/**
 * The daemon's API is on a port that fetch (and every browser) refuses: said plainly instead of "cannot reach", since
 * no daemon could ever be reached there. Exit 2, like any other setting that has to change.
 */
export function blockedPortError(baseUrl: string, port: number, source: '--url' | 'api.port'): CliError {
  return usageError(
    `cannot use the daemon's API at ${baseUrl}: ${badPortReason(port)}. ` +
      `Run the daemon with another api.port (the default is ${DEFAULT_PORT_HINT}) and ${source === '--url' ? 'pass that address with --url' : 'set the same api.port here'}`,
  );
}

/** Why a fetch failed, in a few words (`ECONNREFUSED`, `no answer in time`). */
export function networkReason(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'no answer in time';
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (cause?.message === 'bad port') return "the port is on the Fetch standard's list of blocked ports, which fetch refuses";
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function errorMessageOf(body: unknown): string | undefined {
  const error = (body as { error?: { message?: unknown } } | null)?.error;
  return typeof error?.message === 'string' ? error.message : undefined;
}

export interface RequestOptions {
  body?: unknown;
  timeoutMs?: number;
}

/** Calls the daemon and returns its JSON answer; every failure becomes a CliError saying what to do. */
export async function requestJson<T>(target: Target, method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let res: Response;
  try {
    res = await fetch(`${target.baseUrl}${path}`, { method, headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
  } catch (err) {
    throw new CliError(
      `cannot reach the daemon at ${target.baseUrl} (${networkReason(err)}): is \`openim-presence run\` running there? Pass its API address with --url or --config`,
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const serverMessage = errorMessageOf(parsed);
  if (res.status === 401) {
    throw new CliError(
      target.token === undefined
        ? `the daemon at ${target.baseUrl} requires an API token (401): pass --token or use --config with api.tokens`
        : `the daemon at ${target.baseUrl} refused the API token (401): check --token or api.tokens matches one of the daemon's api.tokens`,
    );
  }
  if (res.status === 404) {
    throw new CliError(serverMessage ?? `${path} was not found at ${target.baseUrl} (404): is that the daemon's API address (api.port)?`);
  }
  if (res.status === 400) throw usageError(serverMessage ?? `the daemon rejected the request (400)`);
  if (res.status < 200 || res.status > 299) {
    throw new CliError(`the daemon at ${target.baseUrl} answered HTTP ${res.status}${serverMessage === undefined ? '' : `: ${serverMessage}`}`);
  }
  if (parsed === undefined) {
    throw new CliError(`the answer from ${target.baseUrl}${path} is not JSON: is --url the daemon's API address (api.port)?`);
  }
  return parsed as T;
}

// ---------------------------------------------------------------------------------------------------------------
// Output forms

/**
 * What a terminal would act on instead of showing: C0 and C1 controls and DEL (ESC sequences, BEL, CR, LF, backspace),
 * format characters (bidi overrides, zero-width characters), line and paragraph separators, lone surrogates.
 */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

function escapeUnits(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/**
 * Text from the daemon (user IDs, notes, messages: data that came from outside) made safe to print on a terminal:
 * every non-printable character is written as a `\u001b`-style escape, so no stored string can recolour or clear the
 * screen, ring the bell or forge an output line. Every human-readable output of the CLI goes through it.
 */
export function printable(text: string): string {
  return text.replace(NON_PRINTABLE, escapeUnits);
}

/** NON_PRINTABLE but the line feed, which JSON.stringify writes only between tokens (inside strings it is `\n`). */
const NON_PRINTABLE_IN_JSON = /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/**
 * JSON for a terminal: `JSON.stringify` escapes only U+0000-U+001F inside strings; every other non-printable
 * character is escaped too. Such characters occur only inside strings, so the result parses to the same value.
 */
export function printableJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(NON_PRINTABLE_IN_JSON, escapeUnits);
}

export const OUTPUT_FORMATS = ['table', 'json', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseFormat(value: string | undefined): OutputFormat {
  const v = value ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) {
    throw usageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(v).slice(0, 40)}`);
  }
  return v as OutputFormat;
}

export type Cell = string | number | boolean | null | undefined;

function cellText(c: Cell): string {
  return c === null || c === undefined ? '' : printable(String(c));
}

/** Columns padded to their widest cell; numbers right-aligned. Each row ends with a newline. */
export function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => cellText(r[i]).length)));
  const line = (cells: readonly Cell[], isHeader: boolean): string =>
    header
      .map((_, i) => {
        const c = cells[i];
        const text = cellText(c);
        const w = widths[i] ?? 0;
        if (i === header.length - 1) return text;
        return !isHeader && typeof c === 'number' ? text.padStart(w) : text.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(header, true), ...rows.map((r) => line(r, false))].map((l) => `${l}\n`).join('');
}

/**
 * One CSV field (RFC 4180). Text that a spreadsheet would run as a formula (starting with = + - @, tab or CR) is
 * prefixed with `'`; numbers are written as they are.
 */
export function csvField(c: Cell): string {
  if (typeof c === 'number' || typeof c === 'boolean') return String(c);
  let text = cellText(c);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function renderCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((r) => `${r.map(csvField).join(',')}\r\n`).join('');
}

/** Milliseconds as `850 ms`, `12.3 s`, `4.2 min`. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
