/** Query and body parameters of the operator API; each parser throws a 400 naming the parameter and what is allowed. */
import type { MismatchKind, MismatchStatus } from '../domain.js';
import { MISMATCH_KINDS, MISMATCH_STATUSES } from '../domain.js';
import { ApiError } from '../errors.js';
import { PLATFORMS } from '../openim/platforms.js';
import { parseListParam } from './events-routes.js';
import { parseTimeSpec, TIME_SPEC_HELP } from './time-params.js';

/** Longest userID accepted in a parameter. */
export const MAX_USER_ID_LENGTH = 256;
/** Longest operator note. */
export const MAX_NOTE_LENGTH = 2000;

function shown(value: unknown): string {
  return JSON.stringify(value)?.slice(0, 60) ?? String(value);
}

function bad(message: string): ApiError {
  return new ApiError('OPR_ERR_BAD_REQUEST', 400, message);
}

/** A point in time (ISO, epoch ms or a duration back from `now`); `def` when absent. */
export function timeParam(value: unknown, name: string, now: number, def: number | undefined): number | undefined {
  if (value === undefined || value === '') return def;
  const t = typeof value === 'string' ? parseTimeSpec(value, now) : undefined;
  if (t === undefined) throw bad(`${name} must be ${TIME_SPEC_HELP}, got ${shown(value)}`);
  return t;
}

function closedListParam<T extends string>(value: unknown, name: string, allowed: readonly T[]): T[] {
  const items = parseListParam(value, name, allowed.length * 4);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw bad(`${name}: unknown value ${shown(item)}; allowed (comma-separated): ${allowed.join(', ')}`);
    }
  }
  return [...new Set(items)] as T[];
}

export function kindsParam(value: unknown): MismatchKind[] {
  return closedListParam(value, 'kind', MISMATCH_KINDS);
}

export function statusesParam(value: unknown): MismatchStatus[] {
  return closedListParam(value, 'status', MISMATCH_STATUSES);
}

/** A platform by ID (`5`) or by its OpenIM name (`Web`, any case). */
export function platformParam(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') {
    if (/^\d{1,4}$/.test(value)) return Number(value);
    const lower = value.toLowerCase();
    for (const [id, name] of Object.entries(PLATFORMS)) if (name.toLowerCase() === lower) return Number(id);
  }
  throw bad(`platform must be a platform ID (0-9999) or one of ${Object.values(PLATFORMS).join(', ')}, got ${shown(value)}`);
}

/** A userID: 1 to 256 characters. */
export function userParam(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_USER_ID_LENGTH) {
    throw bad(`${name} must be a userID of 1 to ${MAX_USER_ID_LENGTH} characters, got ${shown(value)}`);
  }
  return value;
}

export function optionalUserParam(value: unknown, name: string): string | undefined {
  return value === undefined || value === '' ? undefined : userParam(value, name);
}

/** A positive integer id from the path. */
export function idParam(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw bad(`${name} must be a positive integer, got ${shown(value)}`);
  return n;
}

/** The optional `{ "note": "…" }` body of ack/resolve. */
export function noteBody(body: unknown): string | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw bad('the body must be a JSON object such as {"note":"checked with the gateway team"}');
  const note = (body as Record<string, unknown>).note;
  if (note === undefined || note === null) return undefined;
  if (typeof note !== 'string' || note.length > MAX_NOTE_LENGTH) {
    throw bad(`note must be a string of at most ${MAX_NOTE_LENGTH} characters, got ${typeof note === 'string' ? `${note.length} characters` : shown(note)}`);
  }
  return note;
}
