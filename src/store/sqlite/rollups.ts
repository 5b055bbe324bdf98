/**
 * Per-minute counts of events, receipts and mismatches (migration 3), brought up to date from the last rolled-up
 * seq/id: in bounded steps when a report or chart asks, and in the background (one step at a time while rows remain,
 * then every IDLE_CHECK_MS), so that no step blocks the event loop for long (docs/architecture.md, durability: statements indexed and paged).
 * The webhook path writes nothing here. Retention and mismatch updates keep the counts of rows already rolled up
 * right through triggers (migrations.ts). The rows after the mark (the unrolled tail) are counted from the base
 * tables by the queries (reports.ts), so an answer never depends on how far the catch-up got.
 */
import type { SqliteConnection } from './connection.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** Rows of one table rolled up per step: a step takes a few milliseconds (under 10 ms with every table behind). */
export const ROLLUP_STEP_ROWS = 3000;
/**
 * A query runs one step before it answers unless a step ran this recently (a report asks several queries): the rest is
 * left to the background and counted from the base tables meanwhile.
 */
const QUERY_STEP_GAP_MS = 50;
/** Pause between background steps, so requests are served in between. */
const BACKGROUND_PAUSE_MS = 5;
/** When caught up, how often the background looks for rows written since. */
const IDLE_CHECK_MS = 10_000;

/** The rolled-up tables, by their name in rollup_marks. */
export type RolledTable = 'events' | 'receipts' | 'mismatches';

/**
 * Time at which webhook health counts an event (see ReportQueries.eventCounts): the webhook's time for webhook events
 * (never later than recorded_at), recorded_at for corrections.
 */
export const EVENT_COUNT_TIME = `(CASE WHEN source = 'webhook' THEN min(recorded_at, coalesce(occurred_at, recorded_at)) ELSE recorded_at END)`;

export interface Rollups {
  /** The last seq/id whose row is in the per-minute counts. */
  mark(table: RolledTable): number;
  /** How many seq/ids lie past the mark (an upper bound of the rows not rolled up yet). */
  pending(table: RolledTable): number;
  /** Rolls up a bounded number of rows (one step); schedules the rest in the background. */
  catchUp(): void;
}

export function sqliteRollups(conn: SqliteConnection): Rollups {
  const d = conn.db;
  const getMark = d.prepare('SELECT through FROM rollup_marks WHERE name = ?').pluck();
  const setMark = d.prepare('UPDATE rollup_marks SET through = ? WHERE name = ?');
  const maxSeq = d.prepare('SELECT coalesce(max(seq), 0) FROM events').pluck();
  const maxReceipt = d.prepare('SELECT coalesce(max(id), 0) FROM receipts').pluck();
  const maxMismatch = d.prepare('SELECT coalesce(max(id), 0) FROM mismatches').pluck();
  // WHERE in each SELECT: without it SQLite could read ON CONFLICT as a join constraint (sqlite.org/lang_upsert.html).
  const rollEvents = d.prepare(
    `INSERT INTO event_minutes (minute, source, n)
     SELECT recorded_at / 60000, source, count(*) FROM events WHERE seq > @lo AND seq <= @hi GROUP BY 1, 2
     ON CONFLICT (minute, source) DO UPDATE SET n = n + excluded.n`,
  );
  const rollEventCounts = d.prepare(
    `INSERT INTO event_count_minutes (minute, type, source, platform_id, n, last_recorded_at)
     SELECT t / 60000, type, source, platform_id, count(*), max(recorded_at)
     FROM (SELECT ${EVENT_COUNT_TIME} AS t, type, source, platform_id, recorded_at FROM events WHERE seq > @lo AND seq <= @hi AND mismatch_id IS NULL)
     WHERE true GROUP BY 1, 2, 3, 4
     ON CONFLICT (minute, type, source, platform_id) DO UPDATE SET n = n + excluded.n, last_recorded_at = max(last_recorded_at, excluded.last_recorded_at)`,
  );
  const rollReceipts = d.prepare(
    `INSERT INTO receipt_minutes (minute, command, platform_id, n)
     SELECT received_at / 60000, command, platform_id, count(*) FROM receipts WHERE id > @lo AND id <= @hi GROUP BY 1, 2, 3
     ON CONFLICT (minute, command, platform_id) DO UPDATE SET n = n + excluded.n`,
  );
  const rollMismatches = d.prepare(
    `INSERT INTO mismatch_minutes (minute, kind, n)
     SELECT detected_at / 60000, kind, count(*) FROM mismatches WHERE id > @lo AND id <= @hi GROUP BY 1, 2
     ON CONFLICT (minute, kind) DO UPDATE SET n = n + excluded.n`,
  );
  const rollMismatchHours = d.prepare(
    `INSERT INTO mismatch_hours (hour, kind, has_platform, platform_id, n)
     SELECT detected_at / 3600000, kind, platform_id IS NOT NULL, coalesce(platform_id, 0), count(*) FROM mismatches WHERE id > @lo AND id <= @hi GROUP BY 1, 2, 3, 4
     ON CONFLICT (hour, kind, has_platform, platform_id) DO UPDATE SET n = n + excluded.n`,
  );

  const rollMismatchUsers = d.prepare(
    `INSERT INTO mismatch_users (user_id, n)
     SELECT user_id, count(*) FROM mismatches WHERE id > @lo AND id <= @hi GROUP BY 1
     ON CONFLICT (user_id) DO UPDATE SET n = n + excluded.n`,
  );

  const tables: { name: RolledTable; max: () => number; roll: (lo: number, hi: number) => void }[] = [
    {
      name: 'events',
      max: () => maxSeq.get() as number,
      roll: (lo, hi) => {
        rollEvents.run({ lo, hi });
        rollEventCounts.run({ lo, hi });
      },
    },
    { name: 'receipts', max: () => maxReceipt.get() as number, roll: (lo, hi) => void rollReceipts.run({ lo, hi }) },
    {
      name: 'mismatches',
      max: () => maxMismatch.get() as number,
      roll: (lo, hi) => {
        rollMismatches.run({ lo, hi });
        rollMismatchHours.run({ lo, hi });
        rollMismatchUsers.run({ lo, hi });
      },
    },
  ];

  /** One step over every table: whether it rolled anything up, and whether rows remain after it. */
  const step = d.transaction((): { rolled: boolean; behind: boolean } => {
    let rolled = false;
    let behind = false;
    for (const t of tables) {
      const lo = getMark.get(t.name) as number;
      const max = t.max();
      if (max <= lo) continue;
      const hi = Math.min(max, lo + ROLLUP_STEP_ROWS);
      t.roll(lo, hi);
      setMark.run(hi, t.name);
      rolled = true;
      if (hi < max) behind = true;
    }
    return { rolled, behind };
  });

  let scheduled: NodeJS.Timeout | undefined;
  let scheduledAt = Number.POSITIVE_INFINITY;
  let lastStep = Number.NEGATIVE_INFINITY;
  const runStep = (): boolean => {
    const { rolled, behind } = step();
    // Reported after the commit, which changes nothing: an fsync covers it from the next microtask either way.
    if (rolled) conn.wrote();
    lastStep = performance.now();
    return behind;
  };
  const background = (): void => {
    scheduled = undefined;
    scheduledAt = Number.POSITIVE_INFINITY;
    if (!d.open) return;
    if (d.inTransaction) schedule(BACKGROUND_PAUSE_MS);
    else schedule(runStep() ? BACKGROUND_PAUSE_MS : IDLE_CHECK_MS);
  };
  /** Runs `background` in `delayMs` unless it is due sooner already. */
  const schedule = (delayMs: number): void => {
    const at = Date.now() + delayMs;
    if (scheduled !== undefined) {
      if (scheduledAt <= at) return;
      clearTimeout(scheduled);
    }
    scheduledAt = at;
    scheduled = setTimeout(background, delayMs);
    scheduled.unref();
  };

  // A store opened with rows not yet rolled up (written by an earlier run) starts catching up at once; afterwards the
  // rows written meanwhile are rolled up every IDLE_CHECK_MS even when nobody asks, so the unrolled tail stays short.
  schedule(BACKGROUND_PAUSE_MS);

  return {
    mark: (table) => getMark.get(table) as number,
    pending: (table) => Math.max(0, tables.find((t) => t.name === table)!.max() - (getMark.get(table) as number)),
    catchUp(): void {
      if (!d.open || d.inTransaction || performance.now() - lastStep < QUERY_STEP_GAP_MS) return;
      if (runStep()) schedule(BACKGROUND_PAUSE_MS);
    },
  };
}
