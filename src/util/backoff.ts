/**
 * Exponential backoff with jitter, the one used wherever something is retried (push delivery, OpenIM requests, the
 * subscriber client's reconnects, failed poll cycles). Pure: no imports, so the standalone client can use it.
 */

/** Doublings past this add nothing any cap allows (and keep `2 ** n` finite). */
const MAX_DOUBLINGS = 30;
/** The longest delay a timer can wait (setTimeout fires at once for anything longer). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The longest delay before retry number `attempt` (1 for the first retry): `baseMs` × 2^(attempt − 1), at most
 * `maxMs` and never more than a timer can wait. Attempts below 1 count as 1.
 */
export function backoffCeiling(attempt: number, baseMs: number, maxMs = Number.POSITIVE_INFINITY): number {
  return Math.min(maxMs, MAX_TIMER_MS, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), MAX_DOUBLINGS));
}

/**
 * A delay drawn from the upper half of `ceiling`, [ceiling / 2, ceiling]: retries of many clients that failed
 * together spread out, and none comes sooner than half the ceiling. `random` gives numbers in [0, 1).
 */
export function upperHalfJitter(ceiling: number, random: () => number = Math.random): number {
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Delay in whole milliseconds before retry number `attempt`: {@link backoffCeiling} with {@link upperHalfJitter}.
 * With `random` always 0 the delays are half of 1, 2, 4 … × `baseMs`; approaching 1, the whole of them.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs = Number.POSITIVE_INFINITY, random: () => number = Math.random): number {
  return Math.round(upperHalfJitter(backoffCeiling(attempt, baseMs, maxMs), random));
}
