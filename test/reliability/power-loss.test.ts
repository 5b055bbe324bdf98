/**
 * Power-loss simulation for the store's durability mode: SQLite WAL with `synchronous=FULL` (src/store/sqlite-store.ts).
 *
 * What a power cut leaves on disk: everything that was fsynced, plus any subset (torn at sector granularity) of what
 * was written and not yet synced. The shared-memory index (-shm) is not durable at all: SQLite rebuilds it from the
 * WAL on the next open. Copying the live files one after the other is NOT a crash image: a checkpoint (and the WAL
 * restart after it) can run between the two copies, so a WAL copied first can be older than the database pages it
 * is replayed over, and a database copied first can miss pages whose frames the restarted WAL has since overwritten.
 * So the daemon (a child process) is frozen with SIGSTOP while its database and WAL are copied (an exact image of
 * the files at one instant, between two syscalls), then resumed. From each frozen image, the images a power cut could
 * leave are derived:
 * - `instant`: the files as they were (every write had reached the disk);
 * - `torn-tail`: the WAL cut at a random byte after its last commit frame and garbage appended (the transaction being
 *   written had not been fsynced: FULL syncs the WAL before the commit returns, so only that one can be torn);
 * - `torn-checkpoint`: database pages that also have a committed WAL frame get, sector by sector (512 bytes), either
 *   their old content or the WAL's (a checkpoint interrupted: SQLite syncs the WAL before it writes pages back, and
 *   replays the WAL over them on recovery).
 * Each image is opened with a fresh SqliteStore, must pass `PRAGMA integrity_check`, keep the event log gap-free,
 * and contain, unchanged, every event a subscriber had read over HTTP before the freeze.
 *
 * A second test checks the premise at the syscall level with strace, whatever thread does the fsync: every webhook
 * acknowledgement is written to its socket only after an fsync of the WAL that began after the request was read and
 * ended before the answer (its commit was written in between). Event pages are counted; that they only carry durable
 * events is what the images above check (every seq a subscriber saw survives).
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PresenceEventJson } from '../../src/domain.js';
import { eventToJson } from '../../src/domain.js';
import { Prng } from '../../src/simulator/prng.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';
import { JSON_HEADERS, OFFLINE, ONLINE, PageSubscriber, killAllChildren, sleep, spawnDaemonChild, webhookJson } from './helpers.js';
import { committedPages, parseWal } from './wal-image.js';

const SEED = Number(process.env.RELIABILITY_SEED ?? 20_251_128);
const FREEZES = 24;
const SECTOR = 512;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  killAllChildren();
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => killAllChildren());

function childConfig(dbPath: string): Record<string, unknown> {
  return {
    openim: { secret: 'openIM123' },
    webhook: { host: '127.0.0.1', port: 0, pathSecret: TEST_PATH_SECRET, commitMaxDelayMs: 1, commitMaxBatch: 20 },
    api: { host: '127.0.0.1', port: 0 },
    store: { path: dbPath },
    reconcile: { settleMs: 30, graceMs: 500, confirmDelayMs: 300 },
    poll: { enabled: false },
    log: { level: 'silent' },
  };
}

/** Waits until every thread of `pid` is stopped (state T or t in /proc). */
async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const states = readdirSync(`/proc/${pid}/task`).map((t) => {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    });
    if (states.every((s) => s === 'T' || s === 't')) return;
    await sleep(1);
  }
  throw new Error(`process ${pid} did not stop`);
}

interface Frozen {
  db: Buffer;
  wal: Buffer;
  /** Events a subscriber had read before the freeze, seq 1..n in order. */
  seen: PresenceEventJson[];
}

interface ImageResult {
  variant: string;
  head: number;
  problems: string[];
}

/** Opens one image the way the daemon does and checks it. */
function checkImage(dir: string, db: Buffer, wal: Buffer | undefined, seen: readonly PresenceEventJson[], variant: string): ImageResult {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'presence.db');
  writeFileSync(path, db);
  if (wal !== undefined) writeFileSync(`${path}-wal`, wal);
  const problems: string[] = [];
  let head = 0;
  let store: SqliteStore | undefined;
  try {
    store = new SqliteStore({ path });
    head = store.headSeq();
    const events = store.readEvents(0, head + 10);
    if (events.length !== head || events.some((e, i) => e.seq !== i + 1)) problems.push(`event log not gap-free: ${events.length} events, head ${head}`);
    for (const s of seen) {
      const e = events[s.seq - 1];
      if (e === undefined || JSON.stringify(eventToJson(e)) !== JSON.stringify(s)) {
        problems.push(`seen seq ${s.seq} ${e === undefined ? 'missing' : 'different'}`);
        break;
      }
    }
  } catch (err) {
    problems.push(`open failed: ${(err as Error).message}`);
  } finally {
    store?.close();
  }
  const check = new Database(path, { readonly: true });
  try {
    const integrity = check.pragma('integrity_check', { simple: true }) as string;
    if (integrity !== 'ok') problems.push(`integrity_check: ${integrity}`);
  } finally {
    check.close();
  }
  return { variant, head, problems };
}

describe('when the power fails while the daemon commits a burst', () => {
  it(`every image a power cut can leave opens, passes integrity_check and keeps every seq a subscriber saw`, async () => {
    const rng = new Prng(SEED + 7);
    const dir = tempDir('opr-power-');
    cleanups.push(dir.cleanup);
    const dbPath = join(dir.path, 'live', 'presence.db');
    const child = await spawnDaemonChild(childConfig(dbPath));
    const page = new PageSubscriber(() => child.ready.apiUrl, 0, 100);
    cleanups.push(() => page.stop());

    // Webhook burst: many users going online and offline (held offlines commit from the settle timer too).
    let stop = false;
    let acked = 0;
    const t0 = Date.now();
    let n = 0;
    const worker = async (w: number): Promise<void> => {
      while (!stop) {
        const i = n++;
        const command = Math.floor(i / 300) % 2 === 0 ? ONLINE : OFFLINE;
        const body = webhookJson(command, `pl-u${i % 300}`, 1 + (i % 4), t0 + i, `p_77_${w}_${i}`);
        try {
          const res = await fetch(`${child.ready.webhookUrl}/${command}`, { method: 'POST', headers: JSON_HEADERS, body, signal: AbortSignal.timeout(10_000) });
          await res.text();
          if (res.status === 200) acked++;
        } catch {
          return;
        }
      }
    };
    const traffic = Promise.all(Array.from({ length: 12 }, (_, w) => worker(w)));

    const frozen: Frozen[] = [];
    for (let i = 0; i < FREEZES; i++) {
      await sleep(60 + rng.int(250));
      const seen = page.record.events.slice();
      child.proc.kill('SIGSTOP');
      try {
        await waitStopped(child.ready.pid);
        // Both files of one instant: the process cannot write between the two reads.
        const wal = readFileSync(`${dbPath}-wal`);
        const db = readFileSync(dbPath);
        frozen.push({ db, wal, seen });
      } finally {
        child.proc.kill('SIGCONT');
      }
    }
    stop = true;
    await traffic;
    await page.stop();
    await child.kill9();

    const results: ImageResult[] = [];
    const generations = new Set<number>();
    let tailsPastLastCommit = 0;
    frozen.forEach((f, i) => {
      const info = parseWal(f.wal);
      if (info) generations.add(info.salt1);
      results.push(checkImage(join(dir.path, `img-${i}-instant`), f.db, f.wal, f.seen, 'instant'));
      if (!info) return;
      if (f.wal.length > info.committedEnd) tailsPastLastCommit++;
      // torn-tail: the uncommitted transaction cut anywhere and overwritten with garbage.
      const cut = info.committedEnd + rng.int(Math.max(1, f.wal.length - info.committedEnd + info.pageSize));
      const garbage = Buffer.alloc(rng.int(2 * (info.pageSize + 24)) + 1);
      for (let b = 0; b < garbage.length; b++) garbage[b] = rng.int(256);
      const torn = Buffer.concat([f.wal.subarray(0, Math.min(cut, f.wal.length)), garbage]);
      results.push(checkImage(join(dir.path, `img-${i}-torn-tail`), f.db, torn, f.seen, 'torn-tail'));
      // torn-checkpoint: pages with a committed frame half written back, sector by sector.
      const pages = committedPages(f.wal, info);
      if (pages.size === 0) return;
      const db = Buffer.from(f.db);
      for (const [pgno, content] of pages) {
        const start = (pgno - 1) * info.pageSize;
        if (start + info.pageSize > db.length) continue;
        for (let s = 0; s < info.pageSize; s += SECTOR) if (rng.chance(0.5)) content.copy(db, start + s, s, s + SECTOR);
      }
      results.push(checkImage(join(dir.path, `img-${i}-torn-checkpoint`), db, f.wal, f.seen, 'torn-checkpoint'));
    });

    const failed = results.filter((r) => r.problems.length > 0);
    const byVariant = new Map<string, number>();
    for (const r of results) byVariant.set(r.variant, (byVariant.get(r.variant) ?? 0) + 1);
    const seenMax = Math.max(...frozen.map((f) => f.seen.length));
    console.log(
      `[power-loss] images=${results.length} (${[...byVariant].map(([v, c]) => `${v}=${c}`).join(' ')}) failed=${failed.length} ` +
        `freezes=${frozen.length} walGenerations=${generations.size} tailsPastLastCommit=${tailsPastLastCommit} acked=${acked} ` +
        `seenPerImage=${frozen[0]?.seen.length ?? 0}..${seenMax} headRange=${Math.min(...results.map((r) => r.head))}..${Math.max(...results.map((r) => r.head))}`,
    );
    expect(failed.slice(0, 5)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(FREEZES * 2);
    expect(seenMax).toBeGreaterThan(100);
  }, 120_000);

  const straceOk = spawnSync('strace', ['-f', '-qq', '-e', 'trace=none', 'true']).status === 0;
  it.skipIf(!straceOk)('acknowledges no webhook before an fsync of the WAL that began after the request was read (strace)', async () => {
    const dir = tempDir('opr-fsync-');
    cleanups.push(dir.cleanup);
    const dbPath = join(dir.path, 'presence.db');
    const tracePath = join(dir.path, 'trace.txt');
    const child = await spawnDaemonChild(childConfig(dbPath), [
      'strace', '-f', '-y', '-qq', '-s', '600', '-e', 'trace=pwrite64,pwritev,write,writev,fsync,fdatasync,sendmsg,sendto,read,readv,recvfrom', '-o', tracePath,
    ]);
    cleanups.push(() => {
      // strace is the direct child: its tracee, the daemon, is ended by its own pid.
      try {
        process.kill(child.ready.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    const page = new PageSubscriber(() => child.ready.apiUrl, 0, 50);
    cleanups.push(() => page.stop());
    const t0 = Date.now();
    const bodies = Array.from({ length: 400 }, (_, i) => {
      const command = Math.floor(i / 100) % 2 === 0 ? ONLINE : OFFLINE;
      return { command, body: webhookJson(command, `fs-u${i % 100}`, 5, t0 + i, `p_88_${i}`) };
    });
    let next = 0;
    let acked = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < bodies.length) {
          const b = bodies[next++]!;
          const res = await fetch(`${child.ready.webhookUrl}/${b.command}`, { method: 'POST', headers: JSON_HEADERS, body: b.body, signal: AbortSignal.timeout(20_000) });
          await res.text();
          if (res.status === 200) acked++;
        }
      }),
    );
    await page.caughtUp(1, 10_000);
    await sleep(500);
    await page.stop();
    process.kill(child.ready.pid, 'SIGKILL');
    await child.exited;
    copyFileSync(tracePath, `${tracePath}.done`);

    // strace -f writes one line per syscall in the order they happen; a call that blocks in one thread while others
    // run is split into `name(args <unfinished ...>` and `<... name resumed>…`. Line numbers order everything.
    const fsyncs: { start: number; end: number }[] = [];
    const pendingSync = new Map<string, number>();
    const lastRead = new Map<string, number>();
    let walDirty = false;
    let walWrites = 0;
    let acks = 0;
    let acksWhileUnsynced = 0;
    let pages = 0;
    let pagesWhileUnsynced = 0;
    const violations: string[] = [];
    const lines = readFileSync(`${tracePath}.done`, 'utf8').split('\n');
    for (const [i, line] of lines.entries()) {
      const resumed = /^(\d+)\s+<\.\.\. (fsync|fdatasync) resumed>/.exec(line);
      if (resumed) {
        const started = pendingSync.get(resumed[1]!);
        if (started !== undefined) {
          pendingSync.delete(resumed[1]!);
          fsyncs.push({ start: started, end: i });
          walDirty = false;
        }
        continue;
      }
      const call = /^(\d+)\s+(\w+)\((\d+)<([^>]*)>/.exec(line);
      if (!call) continue;
      const [, pid = '', name = '', , target = ''] = call;
      if (target.endsWith('-wal')) {
        if (name.startsWith('pwrite') || name.startsWith('write')) {
          walDirty = true;
          walWrites++;
        } else if (name === 'fsync' || name === 'fdatasync') {
          if (line.includes('<unfinished ...>')) pendingSync.set(pid, i);
          else {
            fsyncs.push({ start: i, end: i });
            walDirty = false;
          }
        }
        continue;
      }
      if (!target.startsWith('socket:')) continue;
      if (name === 'read' || name === 'readv' || name === 'recvfrom') {
        if (!/=\s*(0|-1)/.test(line.slice(line.lastIndexOf(')')))) lastRead.set(target, i);
        continue;
      }
      if (!line.includes('HTTP/1.1 200')) continue;
      const isAck = line.includes('\\"actionCode\\":0');
      const isPage = line.includes('{\\"events\\":[{');
      if (isPage) {
        pages++;
        if (walDirty) pagesWhileUnsynced++;
      }
      if (!isAck) continue;
      acks++;
      if (walDirty) acksWhileUnsynced++;
      const read = lastRead.get(target);
      const covered = read !== undefined && fsyncs.some((f) => f.start > read && f.end < i);
      if (!covered && violations.length < 5) violations.push(`${read === undefined ? 'no read before: ' : ''}${line.slice(0, 200)}`);
    }
    console.log(
      `[fsync-before-ack] acked=${acked} acksTraced=${acks} walWrites=${walWrites} walFsyncs=${fsyncs.length} ` +
        `fsyncsOffTheWritingThread=${fsyncs.filter((f) => f.end > f.start).length} acksWithoutAnFsyncAfterTheirRequest=${violations.length} ` +
        `acksWhileLaterWritesWereUnsynced=${acksWhileUnsynced} eventPagesTraced=${pages} (while later writes were unsynced: ${pagesWhileUnsynced})`,
    );
    expect(acked).toBe(bodies.length);
    expect(acks).toBe(bodies.length);
    expect(pages).toBeGreaterThan(0);
    expect(fsyncs.length).toBeGreaterThan(0);
    expect(violations).toEqual([]);
  }, 120_000);
});
