/**
 * Read-only aggregates in SQLite for webhook health, the report and the charts. Counts over time read the per-minute
 * (per-hour for the report's mismatch counts) rollups (rollups.ts, migration 3) for every whole minute inside the range
 * that lies in one bucket, and the base
 * tables for the rest: the partial minutes at the edges, minutes a bucket boundary cuts, and the rows written after
 * the last rolled-up seq/id. Answers are the same as counting the base tables (docs/architecture.md, durability:
 * statements indexed and paged; the contract suite compares both on random data).
 */
import type { EventSource, EventType, MismatchKind } from '../../domain.js';
import type { PollRun, PollRunSummary, ReportQueries } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, numOrNull, str } from './rows.js';
import type { RolledTable } from './rollups.js';
import { EVENT_COUNT_TIME, HOUR_MS, MINUTE_MS, sqliteRollups } from './rollups.js';

/** At most this many late-webhook delays are read for the delay percentiles. */
const MAX_LATE_DELAYS = 100_000;
/** Periods with at most about this many mismatches are counted per user from the time index directly. */
const SMALL_MISMATCH_PERIOD = 4000;
/** Users whose count in the period the ranking by total may look up before it gives up for the full count. */
const MAX_USER_LOOKUPS = 1000;
/**
 * Up to this many rows past the rollup mark are read by rowid; beyond (a store opened with rows never rolled up, e.g.
 * after the upgrade), through the time index over the range asked, as before the rollups.
 */
const TAIL_BY_ROWID_MAX = 50_000;
/** Above this many minutes cut by bucket boundaries, a bucket query counts the base table over the whole range. */
const MAX_CUT_MINUTES = 64;

/** One time series counted per minute: its base table and its rollup, and the columns it is counted by. */
interface Series {
  table: RolledTable;
  /** The index on the time column (read for the rows past the mark when there are many). */
  timeIndex: string;
  id: string;
  time: string;
  rollup: string;
  /** The rollup's unit: its time column is floor(ms / unit) (default a minute, column `minute`; an hour: `hour`). */
  unit?: 'minute' | 'hour';
  /** Output column names, as the base table's columns. */
  keys: readonly string[];
  /** The same columns as read from the rollup (defaults to `keys`). */
  rollupKeys?: readonly string[];
  /** Rows of the base table left out of the series (default none). */
  filter?: string;
}

type Counted = Record<string, unknown> & { n: number };

const keyOf = (r: Row, keys: readonly string[]): string => JSON.stringify(keys.map((k) => r[k] ?? null));

/** SQLite's order of GROUP BY output for these columns (NULL, integers, ASCII text): NULL first, numbers before text. */
function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return (a as string) < (b as string) ? -1 : 1;
}

/** Adds counted rows up by their key columns; returns them in GROUP BY order, empty groups left out. */
class Tally {
  private readonly rows = new Map<string, Counted>();
  constructor(private readonly keys: readonly string[]) {}

  add(rows: readonly Row[]): void {
    for (const r of rows) this.addOne(r, num(r.n));
  }

  private addOne(r: Row, n: number): void {
    const k = keyOf(r, this.keys);
    const cur = this.rows.get(k);
    if (cur) cur.n += n;
    else {
      const row: Counted = { n };
      for (const c of this.keys) row[c] = r[c] ?? null;
      this.rows.set(k, row);
    }
  }

  result(): Counted[] {
    const out = [...this.rows.values()].filter((r) => r.n > 0);
    out.sort((a, b) => {
      for (const k of this.keys) {
        const c = compareValues(a[k], b[k]);
        if (c !== 0) return c;
      }
      return 0;
    });
    return out;
  }
}

/**
 * Which parts of [since, until) a bucket query reads where, for buckets of `bucketMs` starting at `since`: whole
 * minutes from `fromMinute` to `toMinute` (exclusive) from the rollup unless a bucket boundary cuts them, and the
 * ranges in `exact` from the base table.
 */
export function planBuckets(since: number, until: number, bucketMs: number): { fromMinute: number; toMinute: number; exact: [number, number][] } {
  const fromMinute = Math.ceil(since / MINUTE_MS);
  const toMinute = Math.floor(until / MINUTE_MS);
  if (fromMinute >= toMinute) return { fromMinute, toMinute: fromMinute, exact: [[since, until]] };
  const exact: [number, number][] = [];
  if (since < fromMinute * MINUTE_MS) exact.push([since, fromMinute * MINUTE_MS]);
  if (bucketMs % MINUTE_MS !== 0 || since % MINUTE_MS !== 0) {
    const first = fromMinute * MINUTE_MS;
    const last = toMinute * MINUTE_MS;
    if ((last - first) / bucketMs > MAX_CUT_MINUTES) return { fromMinute, toMinute: fromMinute, exact: [[since, until]] };
    let prev = Number.NaN;
    for (let k = Math.max(1, Math.ceil((first - since) / bucketMs)); since + k * bucketMs < last; k++) {
      const x = since + k * bucketMs;
      if (x <= first || x % MINUTE_MS === 0) continue;
      const m = Math.floor(x / MINUTE_MS);
      if (m !== prev) exact.push([m * MINUTE_MS, (m + 1) * MINUTE_MS]);
      prev = m;
    }
  }
  if (toMinute * MINUTE_MS < until) exact.push([toMinute * MINUTE_MS, until]);
  return { fromMinute, toMinute, exact };
}

export function sqliteReports(conn: SqliteConnection): ReportQueries {
  const d = conn.db;
  const rollups = sqliteRollups(conn);

  /** Counted per bucket of [since, until): `b` and the series' keys, with `n`. */
  function buckets(s: Series, since: number, until: number, bucketMs: number): Counted[] {
    rollups.catchUp();
    const mark = rollups.mark(s.table);
    const keys = s.keys;
    const rollupKeys = s.rollupKeys ?? keys;
    const cols = keys.map((k) => `, ${k}`).join('');
    const rollupCols = rollupKeys.map((k, i) => `, ${k} AS ${keys[i]!}`).join('');
    const filter = s.filter === undefined ? '' : ` AND ${s.filter}`;
    const tally = new Tally(['b', ...keys]);
    const plan = planBuckets(since, until, bucketMs);
    if (plan.fromMinute < plan.toMinute) {
      const bucketOf = (t: string): string => `CAST((${t} - @since) / @bucketMs AS INTEGER)`;
      const sql = `SELECT ${bucketOf('minute * 60000')} AS b${rollupCols}, sum(n) AS n FROM ${s.rollup}
        WHERE minute >= @from AND minute < @to AND ${bucketOf('minute * 60000')} = ${bucketOf('minute * 60000 + 59999')}
        GROUP BY b${keys.map((_, i) => `, ${i + 2}`).join('')}`;
      tally.add(statement(sql).all({ since, bucketMs, from: plan.fromMinute, to: plan.toMinute }) as Row[]);
    }
    const exact = statement(
      `SELECT CAST((${s.time} - @since) / @bucketMs AS INTEGER) AS b${cols}, count(*) AS n FROM ${s.table}
       WHERE ${s.time} >= @lo AND ${s.time} < @hi AND ${s.id} <= @mark${filter} GROUP BY b${cols}`,
    );
    for (const [lo, hi] of plan.exact) tally.add(exact.all({ since, bucketMs, lo, hi, mark }) as Row[]);
    // The rows past the mark: by rowid (NOT INDEXED keeps SQLite from scanning a whole index that is in GROUP BY
    // order) unless there are many.
    const tail = statement(
      `SELECT CAST((${s.time} - @since) / @bucketMs AS INTEGER) AS b${cols}, count(*) AS n FROM ${s.table} ${tailAccess(s)}
       WHERE ${s.id} > @mark AND ${s.time} >= @since AND ${s.time} < @until${filter} GROUP BY b${cols}`,
    );
    tally.add(tail.all({ mark, since, until, bucketMs }) as Row[]);
    return tally.result();
  }

  /** Counted since a time (no upper bound) by the series' keys, for series whose time column is indexed. */
  function countsSince(s: Series, since: number): Counted[] {
    rollups.catchUp();
    const mark = rollups.mark(s.table);
    const keys = s.keys;
    const rollupKeys = s.rollupKeys ?? keys;
    const cols = keys.join(', ');
    const unit = s.unit ?? 'minute';
    const unitMs = unit === 'hour' ? HOUR_MS : MINUTE_MS;
    const tally = new Tally(keys);
    const from = Math.ceil(since / unitMs);
    tally.add(
      statement(
        `SELECT ${rollupKeys.map((k, i) => `${k} AS ${keys[i]!}`).join(', ')}, sum(n) AS n FROM ${s.rollup} WHERE ${unit} >= @from GROUP BY ${keys.map((_, i) => i + 1).join(', ')}`,
      ).all({ from }) as Row[],
    );
    if (since < from * unitMs) {
      tally.add(
        statement(`SELECT ${cols}, count(*) AS n FROM ${s.table} WHERE ${s.time} >= @since AND ${s.time} < @edge AND ${s.id} <= @mark GROUP BY ${cols}`).all({
          since,
          edge: from * unitMs,
          mark,
        }) as Row[],
      );
    }
    tally.add(
      statement(`SELECT ${cols}, count(*) AS n FROM ${s.table} ${tailAccess(s)} WHERE ${s.id} > @mark AND ${s.time} >= @since GROUP BY ${cols}`).all({
        since,
        mark,
      }) as Row[],
    );
    return tally.result();
  }

  /** How the rows past the mark are read: by rowid when few, else by the time index. */
  const tailAccess = (s: Series): string => (rollups.pending(s.table) > TAIL_BY_ROWID_MAX ? `INDEXED BY ${s.timeIndex}` : 'NOT INDEXED');

  const statements = new Map<string, ReturnType<typeof d.prepare>>();
  function statement(sql: string): ReturnType<typeof d.prepare> {
    let st = statements.get(sql);
    if (!st) {
      st = d.prepare(sql);
      statements.set(sql, st);
    }
    return st;
  }

  const EVENTS_BY_SOURCE: Series = { table: 'events', id: 'seq', time: 'recorded_at', timeIndex: 'events_time', rollup: 'event_minutes', keys: ['source'] };
  const RECEIPTS: Series = { table: 'receipts', id: 'id', time: 'received_at', timeIndex: 'receipts_time', rollup: 'receipt_minutes', keys: [] };
  const RECEIPTS_BY_COMMAND: Series = { ...RECEIPTS, keys: ['command', 'platform_id'] };
  const MISMATCHES_BY_KIND: Series = {
    table: 'mismatches',
    id: 'id',
    time: 'detected_at',
    timeIndex: 'mismatches_time',
    rollup: 'mismatch_minutes',
    keys: ['kind'],
  };
  const MISMATCHES_BY_PLATFORM: Series = {
    ...MISMATCHES_BY_KIND,
    rollup: 'mismatch_hours',
    unit: 'hour',
    keys: ['kind', 'platform_id'],
    rollupKeys: ['kind', 'CASE WHEN has_platform THEN platform_id END'],
  };

  // Webhook health. Corrections that learned a user online at first start (initial_sync) say nothing about webhooks:
  // left out. Webhook events count at the webhook's time (occurred_at, never later than its receipt), not when a held
  // offline took effect, so a window never holds a webhook transition whose receipt it does not hold too.
  // occurred_at <= recorded_at, so the recorded_at bound (indexed) keeps every row the second bound accepts.
  // The rollup holds the events that correct no mismatch, by EVENT_COUNT_TIME; corrections of a mismatch (few) are
  // counted here with their mismatch's kind as it is now.
  const EVENT_COUNT_WHERE = `(source <> 'webhook' OR coalesce(occurred_at, recorded_at) >= @since)
     AND NOT (source = 'poll' AND EXISTS (SELECT 1 FROM mismatches m WHERE m.id = e.mismatch_id AND m.kind = 'initial_sync'))`;
  const eventCountsRolled = d.prepare('SELECT type, source, platform_id, sum(n) AS n FROM event_count_minutes WHERE minute >= @from GROUP BY 1, 2, 3');
  const eventCountsEdgeLast = d.prepare('SELECT max(last_recorded_at) FROM event_count_minutes WHERE minute = @minute').pluck();
  const eventCountsEdge = d.prepare(
    `SELECT type, source, platform_id, count(*) AS n FROM events
     WHERE recorded_at >= @since AND recorded_at <= @last AND seq <= @mark AND mismatch_id IS NULL
       AND ${EVENT_COUNT_TIME} >= @since AND ${EVENT_COUNT_TIME} < @edge
     GROUP BY type, source, platform_id`,
  );
  const eventCountsCorrections = d.prepare(
    `SELECT type, source, platform_id, count(*) AS n FROM events e INDEXED BY events_corrections
     WHERE mismatch_id IS NOT NULL AND recorded_at >= @since AND seq <= @mark AND ${EVENT_COUNT_WHERE}
     GROUP BY type, source, platform_id`,
  );
  const eventCountsTailSql = (access: string): string =>
    `SELECT type, source, platform_id, count(*) AS n FROM events e ${access} WHERE seq > @mark AND recorded_at >= @since AND ${EVENT_COUNT_WHERE}
     GROUP BY type, source, platform_id`;
  const eventCountsTailByRowid = d.prepare(eventCountsTailSql('NOT INDEXED'));
  const eventCountsTailByTime = d.prepare(eventCountsTailSql('INDEXED BY events_time'));
  // late_at (partial index mismatches_late) rather than kind: late_at bounds the rows read.
  const lateDelays = d.prepare(`SELECT platform_id, late_by_ms FROM mismatches WHERE late_at >= ? AND +kind = 'late_webhook' LIMIT ${MAX_LATE_DELAYS}`);
  // Users with the most mismatches since a time: by the time index when the period holds few; otherwise users in the
  // order of their retained totals (mismatch_users), each counted in the period through the user index, until no
  // later total can reach the last of the top; past MAX_USER_LOOKUPS, the whole user index is counted.
  const topUsersByUser = d.prepare('SELECT user_id, count(*) AS n FROM mismatches WHERE detected_at >= ? GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?');
  const topUsersByTime = d.prepare(
    'SELECT user_id, count(*) AS n FROM mismatches INDEXED BY mismatches_time WHERE detected_at >= ? GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?',
  );
  const mismatchesAbout = d.prepare('SELECT coalesce(sum(n), 0) FROM mismatch_hours WHERE hour >= ?').pluck();
  const usersByTotal = d.prepare('SELECT user_id, n FROM mismatch_users ORDER BY n DESC, user_id LIMIT ? OFFSET ?');
  const userCountRolled = d.prepare('SELECT count(*) FROM mismatches WHERE user_id = ? AND detected_at >= ? AND id <= ?').pluck();
  const tailUsers = d.prepare('SELECT user_id, count(*) AS n FROM mismatches NOT INDEXED WHERE id > ? AND detected_at >= ? GROUP BY user_id');

  type UserCount = { userID: string; count: number };
  /** (count, userID) ranks before another: more mismatches, then the smaller userID (ORDER BY n DESC, user_id). */
  const ranksBefore = (a: UserCount, b: UserCount): boolean => a.count > b.count || (a.count === b.count && a.userID < b.userID);

  function topUsersByTotal(since: number, limit: number): UserCount[] | undefined {
    const mark = rollups.mark('mismatches');
    if (rollups.pending('mismatches') > MAX_USER_LOOKUPS) return undefined;
    const top: UserCount[] = [];
    const offer = (c: UserCount): void => {
      if (c.count <= 0) return;
      let i = top.length;
      while (i > 0 && ranksBefore(c, top[i - 1]!)) i--;
      if (i >= limit) return;
      top.splice(i, 0, c);
      if (top.length > limit) top.pop();
    };
    let lookups = 0;
    // Users with rows past the mark: their totals miss those rows, so they are counted first, in full.
    const tail = new Map<string, number>();
    for (const r of tailUsers.all(mark, since) as Row[]) tail.set(str(r.user_id), num(r.n));
    if (tail.size > MAX_USER_LOOKUPS) return undefined;
    for (const [userID, n] of tail) {
      lookups++;
      offer({ userID, count: n + num(userCountRolled.get(userID, since, mark)) });
    }
    const page = 64;
    for (let offset = 0; ; offset += page) {
      const rows = usersByTotal.all(page, offset) as Row[];
      for (const r of rows) {
        const userID = str(r.user_id);
        if (tail.has(userID)) continue;
        // Its count in the period is at most its total, and every later user's total is at most this one.
        if (top.length === limit && !ranksBefore({ userID, count: num(r.n) }, top[limit - 1]!)) return top;
        if (++lookups > MAX_USER_LOOKUPS) return undefined;
        offer({ userID, count: num(userCountRolled.get(userID, since, mark)) });
      }
      if (rows.length < page) return top;
    }
  }
  const pollRunSummary = d.prepare(
    `SELECT kind, count(*) AS runs, sum(errors > 0) AS runs_with_errors, sum(errors) AS errors, sum(users_polled) AS users_polled,
       sum(requests) AS requests, sum(disagreements) AS disagreements, sum(confirmations) AS confirmations, sum(corrections) AS corrections,
       sum(over_budget) AS over_budget, max(started_at) AS last_started_at
     FROM poll_runs WHERE started_at >= ? GROUP BY kind ORDER BY kind`,
  );

  return {
    mismatchCounts(since: number) {
      return countsSince(MISMATCHES_BY_PLATFORM, since).map((r) => ({ kind: str(r.kind) as MismatchKind, platformID: numOrNull(r.platform_id), count: r.n }));
    },
    eventCounts(since: number) {
      rollups.catchUp();
      const mark = rollups.mark('events');
      const tally = new Tally(['type', 'source', 'platform_id']);
      const from = Math.ceil(since / MINUTE_MS);
      tally.add(eventCountsRolled.all({ from }) as Row[]);
      if (since < from * MINUTE_MS) {
        // The minute `since` falls in: its rolled-up rows were recorded by the latest recorded_at kept for it.
        const last = eventCountsEdgeLast.get({ minute: from - 1 }) as number | null;
        if (last !== null) tally.add(eventCountsEdge.all({ since, last, mark, edge: from * MINUTE_MS }) as Row[]);
      }
      tally.add(eventCountsCorrections.all({ since, mark }) as Row[]);
      const tail = rollups.pending('events') > TAIL_BY_ROWID_MAX ? eventCountsTailByTime : eventCountsTailByRowid;
      tally.add(tail.all({ since, mark }) as Row[]);
      return tally.result().map((r) => ({
        type: str(r.type) as EventType,
        source: str(r.source) as 'webhook' | 'poll',
        platformID: num(r.platform_id),
        count: r.n,
      }));
    },
    receiptCounts(since: number) {
      return countsSince(RECEIPTS_BY_COMMAND, since).map((r) => ({ command: str(r.command), platformID: num(r.platform_id), count: r.n }));
    },
    lateDelays(since: number) {
      return (lateDelays.all(since) as Row[]).map((r) => ({ platformID: numOrNull(r.platform_id), lateByMs: num(r.late_by_ms) }));
    },
    topMismatchUsers(since: number, limit: number) {
      rollups.catchUp();
      const byRows = (rows: Row[]): UserCount[] => rows.map((r) => ({ userID: str(r.user_id), count: num(r.n) }));
      // (A LIMIT below 1 is SQLite's: none, or no limit at all.)
      if (limit < 1) return byRows(topUsersByUser.all(since, limit) as Row[]);
      if (num(mismatchesAbout.get(Math.floor(since / HOUR_MS))) <= SMALL_MISMATCH_PERIOD) return byRows(topUsersByTime.all(since, limit) as Row[]);
      return topUsersByTotal(since, limit) ?? byRows(topUsersByUser.all(since, limit) as Row[]);
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
      return buckets(EVENTS_BY_SOURCE, since, until, bucketMs).map((r) => ({ bucket: num(r.b), source: str(r.source) as EventSource, count: r.n }));
    },
    receiptBuckets(since: number, until: number, bucketMs: number) {
      return buckets(RECEIPTS, since, until, bucketMs).map((r) => ({ bucket: num(r.b), count: r.n }));
    },
    mismatchBuckets(since: number, until: number, bucketMs: number) {
      return buckets(MISMATCHES_BY_KIND, since, until, bucketMs).map((r) => ({ bucket: num(r.b), kind: str(r.kind) as MismatchKind, count: r.n }));
    },
  };
}
