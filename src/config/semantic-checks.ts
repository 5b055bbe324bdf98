/**
 * Rules across keys that the schema's per-key types cannot say, checked by `loadConfig` for every command (so
 * `check-config` and `run` judge a configuration alike) and by the parts that enforce them at run time, with the
 * same messages.
 */
import type { ConfigIssue } from '../errors.js';

const INTERVALS_SECONDS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const INTERVALS_MINUTES = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const INTERVALS_HOURS = [1, 2, 3, 4, 6, 8, 12, 24];

/**
 * Poll intervals that divide a minute, an hour or a day evenly, in seconds: exactly those the poll scheduler can
 * express as a cron schedule (`cronForInterval`; a test holds the two together).
 */
export const ALLOWED_POLL_INTERVALS: readonly number[] = [
  ...INTERVALS_SECONDS,
  ...INTERVALS_MINUTES.map((m) => m * 60),
  ...INTERVALS_HOURS.map((h) => h * 3600),
];

/** The problem with `poll.intervalSeconds`, or undefined when it can be scheduled evenly. */
export function pollIntervalIssue(interval: number): ConfigIssue | undefined {
  if (ALLOWED_POLL_INTERVALS.includes(interval)) return undefined;
  const below = [...ALLOWED_POLL_INTERVALS].reverse().find((v) => v < interval);
  const above = ALLOWED_POLL_INTERVALS.find((v) => v > interval);
  return {
    path: 'poll.intervalSeconds',
    value: interval,
    message:
      `must divide a minute, an hour or a day evenly${below !== undefined && above !== undefined ? ` (nearest: ${below} or ${above})` : ''}: ` +
      `seconds ${INTERVALS_SECONDS.join(', ')}; whole minutes ${INTERVALS_MINUTES.map((m) => m * 60).join(', ')}; ` +
      `whole hours ${INTERVALS_HOURS.map((h) => h * 3600).join(', ')}`,
  };
}

/** One problem per subscriber whose name an earlier subscriber already has. Entries without a string name are skipped. */
export function repeatedSubscriberNameIssues(subscribers: readonly unknown[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  subscribers.forEach((s, index) => {
    const name = typeof s === 'object' && s !== null && !Array.isArray(s) ? (s as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, index);
    else issues.push({ path: `subscribers.${index}.name`, value: name, message: `must be unique; subscribers.${first}.name has the same name` });
  });
  return issues;
}

/** The cross-key problems of the raw configuration `data` (values of the wrong type are left to the schema). */
export function checkSemantics(data: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const poll = data.poll;
  const interval = typeof poll === 'object' && poll !== null ? (poll as { intervalSeconds?: unknown }).intervalSeconds : undefined;
  if (typeof interval === 'number' && Number.isInteger(interval) && interval >= 1 && interval <= 86_400) {
    const issue = pollIntervalIssue(interval);
    if (issue !== undefined) issues.push(issue);
  }
  if (Array.isArray(data.subscribers)) issues.push(...repeatedSubscriberNameIssues(data.subscribers));
  return issues;
}
