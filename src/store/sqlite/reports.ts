/** Read-only aggregates in SQLite for webhook health, the report and the charts. */
import type { EventSource, EventType, MismatchKind } from '../../domain.js';
import type { PollRun, PollRunSummary, ReportQueries } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, numOrNull, str } from './rows.js';

/** At most this many late-webhook delays are read for the delay percentiles. */
const MAX_LATE_DELAYS = 100_000;

export function sqliteReports(conn: SqliteConnection): ReportQueries {
  const d = conn.db;
  const mismatchCounts = d.prepare('SELECT kind, platform_id, count(*) AS n FROM mismatches WHERE detected_at >= ? GROUP BY kind, platform_id');
  // Corrections that learned a user online at first start (initial_sync) say nothing about webhooks: left out.
  // Webhook events count at the webhook's time (occurred_at, never later than its receipt), not when a held
  // offline took effect, so a window never holds a webhook transition whose receipt it does not hold too.
  // occurred_at <= recorded_at, so the recorded_at bound (indexed) keeps every row the second bound accepts.
  const eventCounts = d.prepare(
    `SELECT type, source, platform_id, count(*) AS n FROM events e WHERE recorded_at >= @since
     AND (source <> 'webhook' OR coalesce(occurred_at, recorded_at) >= @since)
     AND NOT (source = 'poll' AND EXISTS (SELECT 1 FROM mismatches m WHERE m.id = e.mismatch_id AND m.kind = 'initial_sync'))
     GROUP BY type, source, platform_id`,
  );
  const receiptCounts = d.prepare('SELECT command, platform_id, count(*) AS n FROM receipts WHERE received_at >= ? GROUP BY command, platform_id');
  const lateDelays = d.prepare(`SELECT platform_id, late_by_ms FROM mismatches WHERE kind = 'late_webhook' AND late_at >= ? LIMIT ${MAX_LATE_DELAYS}`);
  const topUsers = d.prepare('SELECT user_id, count(*) AS n FROM mismatches WHERE detected_at >= ? GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?');
  const pollRunSummary = d.prepare(
    `SELECT kind, count(*) AS runs, sum(errors > 0) AS runs_with_errors, sum(errors) AS errors, sum(users_polled) AS users_polled,
       sum(requests) AS requests, sum(disagreements) AS disagreements, sum(confirmations) AS confirmations, sum(corrections) AS corrections,
       sum(over_budget) AS over_budget, max(started_at) AS last_started_at
     FROM poll_runs WHERE started_at >= ? GROUP BY kind ORDER BY kind`,
  );
  const eventBuckets = d.prepare(
    `SELECT CAST((recorded_at - @since) / @bucketMs AS INTEGER) AS b, source, count(*) AS n FROM events
     WHERE recorded_at >= @since AND recorded_at < @until GROUP BY b, source`,
  );
  const receiptBuckets = d.prepare(
    `SELECT CAST((received_at - @since) / @bucketMs AS INTEGER) AS b, count(*) AS n FROM receipts
     WHERE received_at >= @since AND received_at < @until GROUP BY b`,
  );
  const mismatchBuckets = d.prepare(
    `SELECT CAST((detected_at - @since) / @bucketMs AS INTEGER) AS b, kind, count(*) AS n FROM mismatches
     WHERE detected_at >= @since AND detected_at < @until GROUP BY b, kind`,
  );

  return {
    mismatchCounts(since: number) {
      return (mismatchCounts.all(since) as Row[]).map((r) => ({ kind: str(r.kind) as MismatchKind, platformID: numOrNull(r.platform_id), count: num(r.n) }));
    },
    eventCounts(since: number) {
      return (eventCounts.all({ since }) as Row[]).map((r) => ({
        type: str(r.type) as EventType,
        source: str(r.source) as 'webhook' | 'poll',
        platformID: num(r.platform_id),
        count: num(r.n),
      }));
    },
    receiptCounts(since: number) {
      return (receiptCounts.all(since) as Row[]).map((r) => ({ command: str(r.command), platformID: num(r.platform_id), count: num(r.n) }));
    },
    lateDelays(since: number) {
      return (lateDelays.all(since) as Row[]).map((r) => ({ platformID: numOrNull(r.platform_id), lateByMs: num(r.late_by_ms) }));
    },
    topMismatchUsers(since: number, limit: number) {
      return (topUsers.all(since, limit) as Row[]).map((r) => ({ userID: str(r.user_id), count: num(r.n) }));
    },
    pollRunSummary(since: number): PollRunSummary[] {
      return (pollRunSummary.all(since) as Row[]).map((r) => ({
        kind: str(r.kind) as PollRun['kind'],
        runs: num(r.runs),
        runsWithErrors: num(r.runs_with_errors),
        errors: num(r.errors),
        usersPolled: num(r.users_polled),
        requests: num(r.requests),
        disagreements: num(r.disagreements),
        confirmations: num(r.confirmations),
        corrections: num(r.corrections),
        overBudget: num(r.over_budget),
        lastStartedAt: numOrNull(r.last_started_at),
      }));
    },
    eventBuckets(since: number, until: number, bucketMs: number) {
      return (eventBuckets.all({ since, until, bucketMs }) as Row[]).map((r) => ({ bucket: num(r.b), source: str(r.source) as EventSource, count: num(r.n) }));
    },
    receiptBuckets(since: number, until: number, bucketMs: number) {
      return (receiptBuckets.all({ since, until, bucketMs }) as Row[]).map((r) => ({ bucket: num(r.b), count: num(r.n) }));
    },
    mismatchBuckets(since: number, until: number, bucketMs: number) {
      return (mismatchBuckets.all({ since, until, bucketMs }) as Row[]).map((r) => ({ bucket: num(r.b), kind: str(r.kind) as MismatchKind, count: num(r.n) }));
    },
  };
}
