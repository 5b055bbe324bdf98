/**
 * The migration that made webhook writes cheaper (receipts deduplicated through a UNIQUE (seq, dedupe_key) index,
 * an online-keys index of online keys only): a database written at the version before it is upgraded in place, with
 * its receipts and presence kept, replays of receipts from before the upgrade still refused, and the online pages
 * answered as before.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from '../helpers/temp-dir.js';
import { receipt, T0 } from './contract/fixtures.js';

/** The number of the migration under test: the one that creates receipts_seq_dedupe. */
const VERSION = MIGRATIONS.findIndex((m) => m.includes('receipts_seq_dedupe')) + 1;

describe('the migration to the (seq, dedupe_key) receipts index and the online-keys index', () => {
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  beforeEach(() => {
    dir = tempDir('opr-migration-');
    path = join(dir.path, 'presence.db');
  });
  afterEach(() => {
    dir.cleanup();
  });

  /** A database at the version before the migration, with receipts and presence rows written by that schema. */
  const writePrevious = (): void => {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    for (let v = 0; v < VERSION - 1; v++) {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }
    const insert = db.prepare(
      'INSERT INTO receipts (received_at, command, user_id, platform_id, seq, operation_id, dedupe_key, body, effect) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (let i = 0; i < 300; i++) {
      const r = receipt({ userID: `u${i % 7}`, seq: T0 + i, receivedAt: T0 + i, operationID: `op${i}` });
      insert.run(r.receivedAt, r.command, r.userID, r.platformID, r.seq, r.operationID, r.dedupeKey, r.body, i % 2 === 0 ? 'online' : 'heartbeat');
    }
    const key = db.prepare('INSERT INTO presence (user_id, platform_id, online, changed_at) VALUES (?, ?, ?, ?)');
    for (let i = 0; i < 40; i++) key.run(`u${i}`, 1 + (i % 3), i % 4 === 0 ? 1 : 0, T0 + i);
    db.close();
  };

  const receiptRows = (): unknown[] => {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare('SELECT * FROM receipts ORDER BY id').all();
    } finally {
      db.close();
    }
  };

  it('upgrades a database of the previous version in place, keeping its receipts and presence', () => {
    expect(VERSION).toBeGreaterThan(1);
    writePrevious();
    const before = receiptRows();
    expect(before).toHaveLength(300);

    const store = new SqliteStore({ path });
    try {
      // Every receipt kept as it was; a replay of one written before the upgrade is still refused.
      expect(store.countReceipts()).toBe(300);
      expect(store.insertReceipt(receipt({ userID: 'u3', seq: T0 + 10, receivedAt: T0 + 10, operationID: 'op10' }))).toBeNull();
      expect(store.insertReceipt(receipt({ userID: 'u3', seq: T0 + 10, receivedAt: T0 + 10, operationID: 'op10-new' }))).toBe(301);
      expect(store.receiptsForUser('u0', 0, 1000)).toHaveLength(43);

      // Online pages list the online keys only, in key order, paged as before.
      const online = store.presencePage(null, 1000, true);
      expect(online.map((k) => `${k.userID}:${k.platformID}`)).toEqual(
        Array.from({ length: 10 }, (_, j) => j * 4)
          .map((i) => ({ u: `u${i}`, p: 1 + (i % 3) }))
          .sort((a, b) => (a.u < b.u ? -1 : a.u > b.u ? 1 : a.p - b.p))
          .map((k) => `${k.u}:${k.p}`),
      );
      expect(online.every((k) => k.online)).toBe(true);
      const firstPage = store.presencePage(null, 4, true);
      const secondPage = store.presencePage(firstPage[3]!, 4, true);
      expect([...firstPage, ...secondPage]).toEqual(online.slice(0, 8));
      expect(store.presencePage(null, 1000, false)).toHaveLength(40);
    } finally {
      store.close();
    }

    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const indexes = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index'").pluck().all() as string[]).sort();
      expect(indexes).toContain('receipts_seq_dedupe');
      expect(indexes).toContain('presence_online_keys');
      expect(indexes).not.toContain('receipts_dedupe');
      expect(indexes).not.toContain('presence_online');
      expect(db.prepare('SELECT * FROM receipts WHERE id <= 300 ORDER BY id').all()).toEqual(before);
    } finally {
      db.close();
    }
  });

  it('keeps a key out of the online pages once it goes offline, and puts it back when it comes online', () => {
    const store = new SqliteStore({ path });
    try {
      const key = { userID: 'u1', platformID: 1, online: true, changedAt: T0, lastWebhookAt: T0, lastOnlineWebhookAt: T0, lastOnlineSeq: T0, lastVerifiedAt: null, pendingOffline: null, correction: null };
      store.transaction(() => store.upsertKey(key));
      expect(store.presencePage(null, 10, true).map((k) => k.userID)).toEqual(['u1']);
      // A renewal (online unchanged) updates the row in place.
      store.transaction(() => store.upsertKey({ ...key, lastWebhookAt: T0 + 5, pendingOffline: { dueAt: T0 + 9, receivedAt: T0 + 5, seq: T0 + 5, receiptID: 3 } }));
      expect(store.presencePage(null, 10, true)).toEqual([{ userID: 'u1', platformID: 1, online: true, changedAt: T0, lastVerifiedAt: null, pendingOffline: true }]);
      expect(store.loadKeys()[0]!.pendingOffline).toEqual({ dueAt: T0 + 9, receivedAt: T0 + 5, seq: T0 + 5, receiptID: 3 });
      store.transaction(() => store.upsertKey({ ...key, online: false, changedAt: T0 + 10 }));
      expect(store.presencePage(null, 10, true)).toEqual([]);
      expect(store.presencePage(null, 10, false)).toEqual([{ userID: 'u1', platformID: 1, online: false, changedAt: T0 + 10, lastVerifiedAt: null, pendingOffline: false }]);
      store.transaction(() => store.upsertKey({ ...key, changedAt: T0 + 20 }));
      expect(store.presencePage(null, 10, true).map((k) => k.changedAt)).toEqual([T0 + 20]);
    } finally {
      store.close();
    }
  });
});
