/**
 * `GET /v1/health` as the API serves it. The health service and the poller keep times as epoch milliseconds (that is
 * what they compute with); every answer of the API says ISO-8601, so the conversion happens here, at the boundary.
 *
 * Times are the fields named `…At`, `…Until` and `since` (poller: `lastCycleAt`, `lastSuccessAt`, `backoffUntil`,
 * `lastDiscoveryAt`; guard: `since`, `holdUntil`); a time field added to the poller status or the guard later is
 * converted by the same rule.
 */
import type { DaemonHealth } from '../health/health-service.js';
import type { WebhookHealthSummary } from '../health/health-summary.js';
import { summarizeWebhookHealth } from '../health/health-summary.js';

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

/** Who is polled, each figure meaning one thing. */
export interface PolledUsers {
  /** Users the daemon knows of: poll.users, users seen in webhooks, users discovery listed. */
  trackedUsers: number;
  /** Of those, users in poll.excludeUsers (admins, robots): tracked, never polled. */
  excludedUsers: number;
  /** Users the poller covers in rotation: trackedUsers − excludedUsers. */
  polledUsers: number;
}

type PollJson<P> = P extends { enabled: true; guard: infer G }
  ? Omit<WithIsoTimes<P>, 'guard'> & { guard: G extends object ? WithIsoTimes<G> : null } & PolledUsers
  : P;

export type HealthJson = Omit<DaemonHealth, 'poll' | 'webhooks'> & {
  webhooks: DaemonHealth['webhooks'] & {
    /** The window the entries are judged over (reconcile.healthWindowMinutes). */
    windowMinutes: number;
    /** The worst state with its cause said once, and which commands and platforms are in it. */
    summary: WebhookHealthSummary;
  };
  poll: PollJson<DaemonHealth['poll']>;
};

export interface HealthJsonOptions {
  /** Tracked users that poll.excludeUsers keeps out of polling (the poller's `trackedUsers` counts them). */
  excludedUsers?: number;
  /** reconcile.healthWindowMinutes. */
  windowMinutes?: number;
  /** reconcile.renewalSilenceMs in minutes. */
  renewalMinutes?: number;
}

/**
 * The health answer: ISO-8601 times, the webhook health summary, and how many tracked users are polled (a
 * 1 000-user OpenIM with its admin user tracks 1 001 and polls 1 000).
 */
export function healthToJson(h: DaemonHealth, opts: HealthJsonOptions = {}): HealthJson {
  const webhooks = {
    ...h.webhooks,
    windowMinutes: opts.windowMinutes ?? 60,
    summary: summarizeWebhookHealth(h.webhooks.entries, opts.renewalMinutes),
  };
  if (!h.poll.enabled) return { ...h, webhooks, poll: h.poll };
  const { guard, ...status } = h.poll;
  const excluded = Math.min(opts.excludedUsers ?? 0, status.trackedUsers);
  const poll = {
    ...withIsoTimes(status),
    excludedUsers: excluded,
    polledUsers: status.trackedUsers - excluded,
    guard: guard === null ? null : withIsoTimes(guard),
  };
  return { ...h, webhooks, poll };
}
