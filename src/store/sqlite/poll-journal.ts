/** Poll runs and poll observations in SQLite: the poller's own journal. */
import type { PollJournal, PollObservation, PollRun } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, numOrNull, str, updateRow } from './rows.js';

const COLUMNS: Record<keyof Omit<PollRun, 'id'>, string> = {
  kind: 'kind',
  startedAt: 'started_at',
  endedAt: 'ended_at',
  usersPolled: 'users_polled',
  requests: 'requests',
  errors: 'errors',
  disagreements: 'disagreements',
  confirmations: 'confirmations',
  corrections: 'corrections',
  overBudget: 'over_budget',
  note: 'note',
};

function rowToPollRun(r: Row): PollRun {
  return {
    id: num(r.id),
    kind: str(r.kind) as PollRun['kind'],
    startedAt: num(r.started_at),
    endedAt: numOrNull(r.ended_at),
    usersPolled: num(r.users_polled),
    requests: num(r.requests),
    errors: num(r.errors),
    disagreements: num(r.disagreements),
    confirmations: num(r.confirmations),
    corrections: num(r.corrections),
    overBudget: r.over_budget === 1,
    note: str(r.note),
  };
}

export function sqlitePollJournal(conn: SqliteConnection): PollJournal {
  const d = conn.db;
  const insertRun = d.prepare(
    `INSERT INTO poll_runs (kind, started_at, ended_at, users_polled, requests, errors, disagreements, confirmations, corrections, over_budget, note)
     VALUES (@kind, @startedAt, @endedAt, @usersPolled, @requests, @errors, @disagreements, @confirmations, @corrections, @overBudget, @note)`,
  );
  const recentRuns = d.prepare('SELECT * FROM poll_runs ORDER BY id DESC LIMIT ?');
  const recentRunsOfKind = d.prepare('SELECT * FROM poll_runs WHERE kind = ? ORDER BY id DESC LIMIT ?');
  const insertObservation = d.prepare('INSERT INTO poll_observations (user_id, at, run_id, platforms, purpose) VALUES (?, ?, ?, ?, ?)');
  const observationsForUser = d.prepare('SELECT * FROM poll_observations WHERE user_id = ? AND at >= ? ORDER BY at, id LIMIT ?');

  return {
    insertPollRun(run: Omit<PollRun, 'id'>): number {
      conn.wrote();
      return Number(insertRun.run({ ...run, overBudget: run.overBudget ? 1 : 0 }).lastInsertRowid);
    },
    updatePollRun(id: number, patch: Partial<Omit<PollRun, 'id'>>): void {
      conn.wrote();
      updateRow(d, 'poll_runs', COLUMNS, id, patch);
    },
    recentPollRuns(limit: number, kind?: PollRun['kind']): PollRun[] {
      const rows = kind === undefined ? recentRuns.all(limit) : recentRunsOfKind.all(kind, limit);
      return (rows as Row[]).map(rowToPollRun);
    },
    insertPollObservation(o: PollObservation): void {
      conn.wrote();
      insertObservation.run(o.userID, o.at, o.runID, o.platforms === null ? null : JSON.stringify(o.platforms), o.purpose);
    },
    observationsForUser(userID: string, since: number, limit: number): PollObservation[] {
      return (observationsForUser.all(userID, since, limit) as Row[]).map((r) => ({
        userID: str(r.user_id),
        at: num(r.at),
        runID: num(r.run_id),
        platforms: r.platforms === null ? null : (JSON.parse(str(r.platforms)) as Record<string, number>),
        purpose: str(r.purpose) as PollObservation['purpose'],
      }));
    },
  };
}
