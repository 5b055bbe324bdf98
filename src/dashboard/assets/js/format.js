// @ts-check
// Formatting of times, durations, counts and labels: local time, `—` for what is not known.

/** @import { Mismatch } from './types.js' */

/** @typedef {string | number | null | undefined} TimeLike An ISO-8601 time, epoch milliseconds, or nothing. */

/**
 * @param {TimeLike} t
 * @returns {number | null}
 */
export function toMs(t) {
  if (t === null || t === undefined || t === '') return null;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * @param {number} n
 * @param {number} [w]
 */
export const pad = (n, w = 2) => String(n).padStart(w, '0');

/** @param {number} ms */
export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** @param {number} ms */
function fmtDate(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/**
 * Local time; the date is added unless it is today.
 * @param {TimeLike} t
 */
export function fmtTime(t) {
  const ms = toMs(t);
  if (ms === null) return '—';
  const sameDay = fmtDate(ms) === fmtDate(Date.now());
  return sameDay ? fmtClock(ms) : `${fmtDate(ms)} ${fmtClock(ms)}`;
}

/** @param {number | null | undefined} ms */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 60_000) return `${(a / 1000).toFixed(a < 10_000 ? 1 : 0)} s`;
  if (a < 3_600_000) return `${Math.round(a / 60_000)} min`;
  if (a < 86_400_000) return `${(a / 3_600_000).toFixed(1)} h`;
  return `${(a / 86_400_000).toFixed(1)} d`;
}

/** @param {TimeLike} t */
export function fmtAgo(t) {
  const ms = toMs(t);
  if (ms === null) return 'never';
  const d = Date.now() - ms;
  if (d < 2000) return 'just now';
  return `${fmtDuration(d)} ago`;
}

/** @param {number} n */
export function fmtCount(n) {
  return Number(n).toLocaleString('en-US');
}

/** @param {TimeLike} t */
export function isoTitle(t) {
  const ms = toMs(t);
  return ms === null ? undefined : new Date(ms).toISOString();
}

/**
 * @param {number | null | undefined} platformID
 * @param {string | null | undefined} platform
 */
export function platformLabel(platformID, platform) {
  if (platformID === null || platformID === undefined) return 'all platforms';
  return platform ? String(platform) : `platform ${platformID}`;
}

/**
 * When a mismatch's change really happened, as far as it is known.
 * @param {Pick<Mismatch, 'occurredAfter' | 'occurredBefore'>} m
 */
export function happenedBetween(m) {
  const after = toMs(m.occurredAfter);
  const before = toMs(m.occurredBefore);
  if (after === null && before === null) return '—';
  if (after === null) return `before ${fmtTime(before)}`;
  if (before === null) return `after ${fmtTime(after)}`;
  return `${fmtTime(after)} – ${fmtTime(before)}`;
}
