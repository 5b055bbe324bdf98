import Database from 'better-sqlite3';
import { chmodSync, closeSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OprError } from '../../src/errors.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { StoreHarness } from './store-contract.js';
import { event, mismatch, receipt, runStoreContract } from './store-contract.js';

function fileStore(): StoreHarness {
  const dir = tempDir('opr-store-');
  // A parent directory that does not exist yet: the store creates it.
  const file = join(dir.path, 'data', 'presence.db');
  const h: StoreHarness = {
    store: new SqliteStore({ path: file }),
    file,
    reopen: () => {
      h.store.close();
      h.store = new SqliteStore({ path: file });
      return h.store;
    },
    cleanup: dir.cleanup,
  };
  return h;
}

function memoryStore(): StoreHarness {
  return { store: new SqliteStore({ path: ':memory:' }), cleanup: () => undefined };
}

const BACKENDS: readonly { name: string; factory: () => StoreHarness }[] = [
  { name: 'SQLite (file)', factory: fileStore },
  { name: 'SQLite (:memory:)', factory: memoryStore },
];

for (const backend of BACKENDS) runStoreContract(backend.name, backend.factory);

describe('the SQLite store on disk', () => {
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  beforeEach(() => {
    dir = tempDir('opr-sqlite-');
    path = join(dir.path, 'presence.db');
  });
  afterEach(() => {
    dir.cleanup();
  });

  const userVersion = (): number => {
    const db = new Database(path, { readonly: true });
    try {
      return db.pragma('user_version', { simple: true }) as number;
    } finally {
      db.close();
    }
  };

  it('applies every migration and sets user_version to their number', () => {
    new SqliteStore({ path }).close();
    expect(userVersion()).toBe(MIGRATIONS.length);
  });

  it('shows a committed event only once the fsync of the WAL that covers it returned', async () => {
    const store = new SqliteStore({ path });
    try {
      store.transaction(() => store.appendEvent(event()));
      // The fsync runs on the thread pool: it cannot have returned before this synchronous read.
      expect(store.committedSeq()).toBe(1);
      expect(store.headSeq()).toBe(0);
      expect(store.readEvents(0, 10)).toEqual([]);
      let durableAt = 0;
      store.whenDurable(
        () => (durableAt = store.headSeq()),
        () => undefined,
      );
      expect(durableAt).toBe(0);
      await store.durable();
      expect(durableAt).toBe(1);
      expect(store.readEvents(0, 10).map((e) => e.seq)).toEqual([1]);
    } finally {
      store.close();
    }
  });

  it('makes everything committed durable when it closes, so a reopened store shows it', () => {
    const store = new SqliteStore({ path });
    store.transaction(() => store.appendEvent(event()));
    let ran = false;
    store.whenDurable(
      () => (ran = true),
      () => undefined,
    );
    store.close();
    expect(ran).toBe(true);
    const again = new SqliteStore({ path });
    try {
      expect(again.headSeq()).toBe(1);
    } finally {
      again.close();
    }
  });

  it('uses WAL journaling', () => {
    new SqliteStore({ path }).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer version, with OPR_ERR_STORE_VERSION, and leaves it as it was', () => {
    new SqliteStore({ path }).close();
    const db = new Database(path);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    let error: unknown;
    try {
      new SqliteStore({ path }).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OprError);
    expect((error as OprError).code).toBe('OPR_ERR_STORE_VERSION');
    expect((error as OprError).message).toContain(String(MIGRATIONS.length + 1));
    expect(userVersion()).toBe(MIGRATIONS.length + 1);
  });

  it('fails with OPR_ERR_STORE_OPEN when the file cannot be created', () => {
    const blocker = join(dir.path, 'not-a-directory');
    writeFileSync(blocker, '');
    expect(() => new SqliteStore({ path: join(blocker, 'presence.db') })).toThrow(
      expect.objectContaining({ code: 'OPR_ERR_STORE_OPEN' }),
    );
  });

  it('tightens an existing file to mode 0600', () => {
    closeSync(openSync(path, 'w', 0o644));
    chmodSync(path, 0o644);
    new SqliteStore({ path }).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('keeps the journal files private too', () => {
    const store = new SqliteStore({ path });
    store.appendEvent(event());
    for (const f of [`${path}-wal`, `${path}-shm`]) expect(statSync(f).mode & 0o777).toBe(0o600);
    store.close();
  });

  it('keeps everything across a reopen and continues the seq', () => {
    const a = new SqliteStore({ path });
    a.insertReceipt(receipt());
    a.appendEvent(event());
    a.appendEvent(event({ type: 'presence.offline', userOnline: false, userVersion: 2 }));
    a.setUserVersion('u1', 2, false, 1000);
    a.upsertKey({
      userID: 'u1',
      platformID: 5,
      online: false,
      changedAt: 1,
      lastWebhookAt: 1,
      lastOnlineWebhookAt: 1,
      lastOnlineSeq: 1,
      lastVerifiedAt: null,
      pendingOffline: null,
      correction: null,
    });
    const mismatchID = a.insertMismatch(mismatch());
    a.trackUsers(['u9'], 'config', 1);
    a.close();

    const b = new SqliteStore({ path });
    try {
      expect(b.countReceipts()).toBe(1);
      expect(b.headSeq()).toBe(2);
      expect(b.readEvents(0, 10)).toHaveLength(2);
      expect(b.loadKeys()).toHaveLength(1);
      expect(b.loadUserVersions().get('u1')).toBe(2);
      expect(b.getMismatch(mismatchID)).toBeDefined();
      expect(b.trackedUsersAfter('', 10)).toEqual(['u1', 'u9']);
      expect(b.insertReceipt(receipt())).toBeNull();
      expect(b.appendEvent(event({ userVersion: 3 }))).toBe(3);
      expect(userVersion()).toBe(MIGRATIONS.length);
    } finally {
      b.close();
    }
  });
});
