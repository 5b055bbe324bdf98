import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../../src/store/wal-checkpointer.js';
import { tempDir } from '../helpers/temp-dir.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function openWal(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)');
  return db;
}

describe('WalCheckpointer', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  function setup(intervalMs = 50): { file: string; db: Database.Database; cp: WalCheckpointer; failures: Error[] } {
    const dir = tempDir('opr-wal-');
    const file = join(dir.path, 'w.db');
    const db = openWal(file);
    const failures: Error[] = [];
    const cp = new WalCheckpointer(db, file, { intervalMs, onFailure: (e) => failures.push(e) });
    cleanups.push(() => {
      cp.close();
      if (db.open) db.close();
      dir.cleanup();
    });
    return { file, db, cp, failures };
  }

  it('turns off the automatic checkpoints of the main connection', () => {
    const { db } = setup();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
  });

  it('copies commits back into the database file on its worker while writes go on, keeping the WAL bounded', async () => {
    const { file, db, cp, failures } = setup(50);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const row = Buffer.alloc(4096, 7);
    let written = 0;
    const deadline = Date.now() + 10_000;
    // 1 MiB per 100 ms of writes; without checkpoints the WAL would hold every byte of it.
    while (written < 16 * 1024 * 1024 && Date.now() < deadline) {
      db.transaction(() => {
        for (let i = 0; i < 16; i++) insert.run(row);
      })();
      cp.noteCommit();
      written += 16 * row.length;
      await sleep(5);
    }
    await sleep(300);
    expect(failures).toEqual([]);
    expect(cp.completed).toBeGreaterThan(2);
    const wal = statSync(`${file}-wal`).size;
    console.log(
      `[wal-checkpointer] wrote ${(written / 1048576).toFixed(1)} MiB, ${cp.completed} checkpoints, WAL file ${(wal / 1048576).toFixed(1)} MiB`,
    );
    expect(wal).toBeLessThan(written / 2);
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(written / row.length);
  }, 20_000);

  it('closes its own connection on close, so the main connection closes last and removes the WAL', async () => {
    const { file, db, cp } = setup(10);
    db.prepare('INSERT INTO t (v) VALUES (?)').run(Buffer.alloc(10));
    cp.noteCommit();
    for (let i = 0; i < 200 && cp.completed === 0; i++) await sleep(10);
    expect(cp.completed).toBe(1);
    cp.close();
    db.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('falls back to automatic checkpoints and says so when its worker fails', async () => {
    const dir = tempDir('opr-wal-');
    const db = openWal(join(dir.path, 'real.db'));
    const failures: Error[] = [];
    // The worker opens a file that does not exist (fileMustExist): it fails at its first checkpoint.
    const cp = new WalCheckpointer(db, join(dir.path, 'missing.db'), {
      intervalMs: 10,
      onFailure: (e) => failures.push(e),
    });
    cleanups.push(() => {
      cp.close();
      db.close();
      dir.cleanup();
    });
    cp.noteCommit();
    for (let i = 0; i < 300 && failures.length === 0; i++) await sleep(10);
    expect(failures).toHaveLength(1);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });
});
