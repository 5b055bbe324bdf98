/**
 * `GET /v1/health` as the API serves it. The health service and the poller keep times as epoch milliseconds (that is
 * what they compute with); every answer of the API says ISO-8601, so the conversion happens here, at the boundary.
 *
 * Times are the fields named `…At`, `…Until` and `since` (poller: `lastCycleAt`, `lastSuccessAt`, `backoffUntil`,
 * `lastDiscoveryAt`; guard: `since`, `holdUntil`); a time field added to the poller status or the guard later is
 * converted by the same rule.
 */
import type { DaemonHealth } from '../health/health-service.js';

/** Whether a field name denotes a point in time. */
export function isTimeField(name: string): boolean {
  return /(At|Until)$/.test(name) || name === 'since';
}

type TimeKey<K> = K extends `${string}At` | `${string}Until` | 'since' ? K : never;

/** `T` with every time field (see isTimeField) as an ISO-8601 string (null stays null). */
export type WithIsoTimes<T> = {
  [K in keyof T]: K extends TimeKey<K> ? (T[K] extends number ? string : T[K] extends number | null ? string | null : T[K]) : T[K];
};

/** A copy of `obj` with every numeric time field (see isTimeField) as ISO-8601; other fields are kept as they are. */
export function withIsoTimes<T extends object>(obj: T): WithIsoTimes<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = typeof v === 'number' && isTimeField(k) ? new Date(v).toISOString() : v;
  return out as WithIsoTimes<T>;
}

type PollJson<P> = P extends { enabled: true; guard: infer G }
  ? Omit<WithIsoTimes<P>, 'guard'> & { guard: G extends object ? WithIsoTimes<G> : null }
  : P;

export type HealthJson = Omit<DaemonHealth, 'poll'> & { poll: PollJson<DaemonHealth['poll']> };

export function healthToJson(h: DaemonHealth): HealthJson {
  if (!h.poll.enabled) return h as HealthJson;
  const { guard, ...status } = h.poll;
  const poll = { ...withIsoTimes(status), guard: guard === null ? null : withIsoTimes(guard) };
  return { ...h, poll };
}
