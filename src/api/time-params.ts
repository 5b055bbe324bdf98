/**
 * Parsing of the time arguments shared by the operator API and the CLI. Pure functions: each returns `undefined`
 * for text it cannot read, and the caller turns that into its own error (HTTP 400, CLI exit 2).
 */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** What a time argument may be, for error messages. */
export const TIME_SPEC_HELP = 'an ISO-8601 time (2024-11-25T10:00:00Z), epoch milliseconds (1732528800000) or a duration back from now (90s, 15m, 24h, 7d, 1h30m)';

/** What a duration argument may be, for error messages. */
export const DURATION_HELP = 'a duration such as 90s, 15m, 24h, 7d or 1h30m (units ms, s, m, h, d, w)';

/** Longest duration accepted (about 100 years): keeps `now - duration` a sane epoch value. */
const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/** Parses `24h`, `90s`, `1h30m`, `1.5d` into milliseconds; undefined if it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(s)) return undefined;
  let total = 0;
  for (const part of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) {
    total += Number(part[1]) * UNIT_MS[part[2] as keyof typeof UNIT_MS];
  }
  return Number.isFinite(total) && total <= MAX_DURATION_MS ? Math.round(total) : undefined;
}

/**
 * Parses a point in time: an ISO-8601 date or date-time, an integer of epoch milliseconds, or a duration meaning
 * that long before `now`. Undefined when the text is none of these.
 */
export function parseTimeSpec(text: string, now: number): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const d = parseDuration(s);
  if (d !== undefined) return now - d;
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(s)) {
    const t = Date.parse(s);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
