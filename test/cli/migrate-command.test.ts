import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrateStore, REDIS_PASSWORD_ENV } from '../../src/cli/migrate-command.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { PresenceEvent } from '../../src/domain.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli } from '../api/ops-fixtures.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/temp-dir.js';
import { cursor, event, keyState, mismatch } from '../store/contract/fixtures.js';
import { until } from '../helpers/until.js';

type TestDaemon = Daemon & { cleanupDir: () => void; dir: string };

/** Recent times: the daemon's retention would remove older events and mismatches at its start. */
const T0 = Date.now() - 60_000;

let redis: TestRedisServer;
let prefixN = 0;
const dir = tempDir('opr-migrate-');
const running: TestDaemon[] = [];

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
    dir.cleanup();
  });
  afterEach(async () => {
    for (const d of running.splice(0)) {
      await d.close();
      d.cleanupDir();
    }
  });

  function nextPrefix(): string {
    return `mig${++prefixN}:`;
  }

  /**
   * A single-node store built through the store API: `users` users online on Web (their key and event), a
   * mismatch pointing at one of the events, and a subscriber cursor part-way through the log.
   */
  async function buildStore(name: string, users: number, cursorAt: number): Promise<string> {
    const path = join(dir.path, name);
    const store = new SqliteStore({ path });
    store.transaction(() => {
      for (let i = 1; i <= users; i++) {
        const userID = `${name}-u${i}`;
        store.upsertKey(keyState({ userID, changedAt: T0 + i, lastWebhookAt: T0 + i, lastOnlineWebhookAt: T0 + i }));
        store.appendEvent(event({ userID, recordedAt: T0 + i, occurredAt: T0 + i - 300 }));
      }
    });
    store.transaction(() => {
      const at = { detectedAt: T0, occurredAfter: T0 - 30_000, occurredBefore: T0 - 5000, updatedAt: T0 };
      store.insertMismatch(
        mismatch({ ...at, userID: `${name}-u2`, kind: 'missed_online', eventSeq: 2, status: 'resolved' }),
      );
      store.insertMismatch(mismatch({ ...at, userID: `${name}-u1`, detectedAt: T0 + 5 }));
    });
    store.putSubscriberCursor(cursor({ name: 'billing', cursor: cursorAt, updatedAt: T0 }));
    await store.durable();
    store.close();
    return path;
  }

  async function get<T>(d: Daemon, path: string): Promise<T> {
    const res = await fetch(`${d.apiUrl}${path}`);
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  }

  async function events(d: Daemon): Promise<PresenceEvent[]> {
    return (await get<{ events: PresenceEvent[] }>(d, '/v1/events?after=0&limit=1000')).events;
  }

  /** What the single-node daemon serves from the store: the events and mismatches the replicas must serve the same. */
  async function servedBy(path: string): Promise<{ events: PresenceEvent[]; mismatches: unknown[] }> {
    const d = await startTestDaemon({ store: { path } });
    try {
      return {
        events: await events(d),
        mismatches: (await get<{ mismatches: unknown[] }>(d, '/v1/mismatches')).mismatches,
      };
    } finally {
      await d.close();
      d.cleanupDir();
    }
  }

  async function replica(prefix: string, name: string, url = redis.url): Promise<TestDaemon> {
    const d = await startTestDaemon({
      store: { backend: 'redis', redis: { url, keyPrefix: prefix, leaseTtlMs: 1000, replicaName: name } },
    });
    running.push(d);
    return d;
  }

  async function keysUnder(prefix: string): Promise<string[]> {
    return (await redis.client().keys(`${prefix}*`)).sort();
  }

  describe('openim-presence migrate', () => {
    it('moves a single-node store into redis: a replica serves the same events and mismatches and goes on from the same seq', async () => {
      const path = await buildStore('single', 5, 3);
      const before = await servedBy(path);
      expect(before.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(before.mismatches).toHaveLength(2);
      const prefix = nextPrefix();

      const run = await runCli(['migrate', '--from', path, '--to', redis.url, '--key-prefix', prefix]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`migrated ${path} into ${redis.url} (key prefix ${prefix})`);
      expect(run.stdout).toMatch(/events: +head seq 5 \(5 retained, seqs 1-5\)/);
      expect(run.stdout).toMatch(/mismatches: +2\n/);
      expect(run.stdout).toMatch(/subscriber cursors: +1\n/);
      expect(run.stdout).toMatch(/snapshot: +\d+ bytes \(.*\) in 1 chunk\(s\), snapshot:[0-9a-f-]{36}/);
      expect(run.stdout).toContain('Next: start the replicas with store.backend redis');
      expect(run.stdout).toContain('a new store.path');

      const r = redis.client();
      const snapshot = await r.hgetall(`${prefix}snapshot`);
      expect(snapshot.base).toBe('0');
      expect(snapshot.chunks).toBe('1');
      expect(snapshot.commit).toMatch(/^snapshot:[0-9a-f-]{36}$/);
      expect(Number(snapshot.bytes)).toBe((await r.getBuffer(`${prefix}snapshot:0`))!.length);
      expect(await r.get(`${prefix}cluster`)).toMatch(/^[0-9a-f-]{36}$/);
      expect(await r.get(`${prefix}head`)).toBe('0');

      const a = await replica(prefix, 'a');
      expect(await events(a)).toEqual(before.events);
      expect((await get<{ mismatches: unknown[] }>(a, '/v1/mismatches')).mismatches).toEqual(before.mismatches);
      expect(a.store.getSubscriberCursor('billing')).toEqual(cursor({ name: 'billing', cursor: 3, updatedAt: T0 }));

      await until('a writer', () => a.cluster!.status().role === 'writer');
      const posted = await postWebhook(
        a,
        'callbackAfterUserOnlineCommand',
        webhookBody('callbackAfterUserOnlineCommand', 'newcomer', 1, 1),
      );
      expect(posted.status).toBe(200);
      const after = await until('the new event', async () => {
        const list = await events(a);
        return list.length === 6 ? list : undefined;
      });
      expect(after.slice(0, 5)).toEqual(before.events);
      expect(after[5]).toMatchObject({ seq: 6, userID: 'newcomer', platformID: 1, type: 'presence.online' });

      // A second replica restores the same snapshot and follows the log from there.
      const b = await replica(prefix, 'b');
      expect(
        await until('the new event on b', async () => {
          const list = await events(b);
          return list.length === 6 ? list : undefined;
        }),
      ).toEqual(after);
    });

    it('refuses a prefix that already holds state, and replaces it with --force (in chunks)', async () => {
      const first = await buildStore('first', 4, 1);
      const second = await buildStore('second', 2, 2);
      const prefix = nextPrefix();
      expect((await runCli(['migrate', '--from', first, '--to', redis.url, '--key-prefix', prefix])).code).toBe(0);
      const r = redis.client();
      const snapshotBefore = await r.hgetall(`${prefix}snapshot`);
      const clusterBefore = await r.get(`${prefix}cluster`);
      const keysBefore = await keysUnder(prefix);

      const refused = await runCli(['migrate', '--from', second, '--to', redis.url, '--key-prefix', prefix]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain(
        `error: redis at ${redis.url} already holds state under the key prefix "${prefix}": cluster id ${clusterBefore}`,
      );
      expect(refused.stderr).toContain('--force');
      expect(await r.hgetall(`${prefix}snapshot`)).toEqual(snapshotBefore);
      expect(await keysUnder(prefix)).toEqual(keysBefore);

      // A log that moved on is state too, even without a cluster id or a snapshot.
      const logOnly = nextPrefix();
      await r.set(`${logOnly}head`, 7);
      const refusedLog = await runCli(['migrate', '--from', second, '--to', redis.url, '--key-prefix', logOnly]);
      expect(refusedLog.code).toBe(1);
      expect(refusedLog.stderr).toContain('a shared log at entry 7');

      // A replica writes under the prefix (a log entry, the lease): --force deletes everything and starts over.
      const a = await replica(prefix, 'a');
      await until('a writer', () => a.cluster!.status().role === 'writer');
      expect(
        (
          await postWebhook(
            a,
            'callbackAfterUserOnlineCommand',
            webhookBody('callbackAfterUserOnlineCommand', 'x', 1, 1),
          )
        ).status,
      ).toBe(200);
      await until('the log to move', async () => Number(await r.get(`${prefix}head`)) > 0);
      await a.close();
      a.cleanupDir();
      running.splice(running.indexOf(a), 1);

      const summary = await migrateStore(
        { from: second, to: redis.url, keyPrefix: prefix, force: true },
        { chunkBytes: 4096 },
      );
      expect(summary.deletedKeys).toBeGreaterThan(0);
      expect(summary.chunks).toBe(Math.ceil(summary.bytes / 4096));
      expect(summary.chunks).toBeGreaterThan(1);
      expect(summary).toMatchObject({ headSeq: 2, events: 2, oldestSeq: 1, mismatches: 2, subscriberCursors: 1 });
      expect(await r.get(`${prefix}cluster`)).not.toBe(clusterBefore);
      expect(await r.get(`${prefix}head`)).toBe('0');
      expect(await r.exists(`${prefix}log`, `${prefix}lease`, `${prefix}last-commit`)).toBe(0);
      expect((await r.hgetall(`${prefix}snapshot`)).commit).not.toBe(snapshotBefore.commit);

      const expected = await servedBy(second);
      const b = await replica(prefix, 'b');
      expect(await events(b)).toEqual(expected.events);
      expect((await get<{ mismatches: unknown[] }>(b, '/v1/mismatches')).mismatches).toEqual(expected.mismatches);
    });

    it("refuses a replica's local copy, a missing file and a file that is not a store, writing nothing", async () => {
      const prefix = nextPrefix();
      const source = await buildStore('copy', 2, 0);
      expect((await runCli(['migrate', '--from', source, '--to', redis.url, '--key-prefix', prefix])).code).toBe(0);
      const a = await replica(prefix, 'a');
      const copy = a.config.store.path;
      await a.close();
      running.splice(running.indexOf(a), 1);

      const target = nextPrefix();
      const copyRun = await runCli(['migrate', '--from', copy, '--to', redis.url, '--key-prefix', target]);
      expect(copyRun.code).toBe(1);
      expect(copyRun.stderr).toMatch(
        /^error: --from .* is a replica's local copy of the shared state of cluster [0-9a-f-]{36}, not a single-node store/,
      );

      const missing = join(dir.path, 'nope', 'presence.db');
      const missingRun = await runCli(['migrate', '--from', missing, '--to', redis.url, '--key-prefix', target]);
      expect(missingRun.code).toBe(1);
      expect(missingRun.stderr).toBe(
        `error: --from ${missing}: no such file; give the store.path of the single-node daemon\n`,
      );

      const text = join(dir.path, 'notes.txt');
      writeFileSync(text, 'not a database at all, just some text that is long enough to not be a header\n'.repeat(20));
      const textRun = await runCli(['migrate', '--from', text, '--to', redis.url, '--key-prefix', target]);
      expect(textRun.code).toBe(1);
      expect(textRun.stderr).toContain(`error: --from ${text} is not a store of this daemon`);

      const empty = join(dir.path, 'empty.db');
      writeFileSync(empty, '');
      const emptyRun = await runCli(['migrate', '--from', empty, '--to', redis.url, '--key-prefix', target]);
      expect(emptyRun.code).toBe(1);
      expect(emptyRun.stderr).toContain('is not a store of this daemon (no schema version)');

      expect(await keysUnder(target)).toEqual([]);
      a.cleanupDir();
    });

    it('takes the password from --password-file or the environment, never from the command line', async () => {
      const secured = await startRedisServer({ requirePass: 'migrate-secret-1' });
      try {
        const plainUrl = `redis://127.0.0.1:${secured.port}`;
        const source = await buildStore('auth', 1, 0);
        const inUrl = await runCli(['migrate', '--from', source, '--to', secured.url]);
        expect(inUrl.code).toBe(2);
        expect(inUrl.stderr).toContain('--to must not contain a password');
        expect(inUrl.stderr).not.toContain('migrate-secret-1');

        const noPassword = await runCli(['migrate', '--from', source, '--to', plainUrl]);
        expect(noPassword.code).toBe(1);
        expect(noPassword.stderr).toContain('(OPR_ERR_REDIS_UNAVAILABLE)');

        const file = join(dir.path, 'redis-password');
        writeFileSync(file, 'migrate-secret-1\n');
        const withFile = await runCli([
          'migrate',
          '--from',
          source,
          '--to',
          plainUrl,
          '--password-file',
          file,
          '--key-prefix',
          'f:',
        ]);
        expect(withFile.code).toBe(0);
        const withEnv = await runCli(['migrate', '--from', source, '--to', plainUrl, '--key-prefix', 'e:'], {
          [REDIS_PASSWORD_ENV]: 'migrate-secret-1',
        });
        expect(withEnv.code).toBe(0);
        expect(await secured.client().hget('e:snapshot', 'chunks')).toBe('1');
      } finally {
        await secured.stop();
      }
    });

    it('exits 2 on bad arguments', async () => {
      const source = await buildStore('args', 1, 0);
      expect((await runCli(['migrate', '--from', source])).code).toBe(2);
      const badUrl = await runCli(['migrate', '--from', source, '--to', 'http://127.0.0.1:6379']);
      expect(badUrl.code).toBe(2);
      expect(badUrl.stderr).toContain('--to must be a redis:// or rediss:// URL');
      const badPrefix = await runCli(['migrate', '--from', source, '--to', redis.url, '--key-prefix', 'has space']);
      expect(badPrefix.code).toBe(2);
      expect(badPrefix.stderr).toContain('--key-prefix must be 1-64 characters');
    });
  });
});
