/**
 * The soak: the daemon (a child process reporting its own memory and event-loop delay, see soak-child.ts) against
 * the OpenIM simulator, both on one accelerated clock (`speed` simulated ms per real ms), at high churn with lost
 * webhooks, short retention (`store.retentionDays` fractional, in simulated time), a JSON-page subscriber and a push
 * subscriber following the stream. Samples every few seconds and ends with a verdict:
 * - memory flat: after a warm-up third (the workload filling up), the last third's median heap and peak RSS against
 *   the middle third's;
 * - retention holds: no event, receipt or poll observation older than retention + one prune period is ever kept;
 * - DB size bounded: once retention is pruning, the database (with its WAL) stops growing;
 * - no stall: the daemon's worst event-loop delay (monitorEventLoopDelay, in its own process) under a bound;
 * - subscribers kept up: the page and push subscribers saw every seq in order.
 * Used by scripts/soak.ts (long, 100 ms stall bound) and test/reliability/soak.test.ts (short, loose bounds).
 */
import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { PresenceEventJson } from '../../src/domain.js';
import { startSimulator } from '../../src/simulator/index.js';
import { TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { tempDir } from '../helpers/temp-dir.js';
import { PageSubscriber, sleep, spawnNode } from './helpers.js';
import type { SoakStats } from './soak-child.js';

const SOAK_CHILD = fileURLToPath(new URL('./soak-child.ts', import.meta.url));
const MB = 1024 * 1024;

export interface SoakOptions {
  /** Simulated minutes to run. */
  simMinutes: number;
  /** Simulated ms per real ms. */
  speed: number;
  users: number;
  /** Share of users online (the workload keeps it up). */
  onlineFraction: number;
  /** Mean simulated session length. */
  sessionMeanMs: number;
  /** Webhook loss at OpenIM (corrections). */
  loss: number;
  retentionDays: number;
  sampleEveryMs: number;
  seed: number;
  /** Where progress lines go. */
  log: (line: string) => void;
  /** Bounds of the verdict. */
  bounds: SoakBounds;
  /** Options for the daemon's node process (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
}

export interface SoakBounds {
  /** Second-half median heap ≤ first-half median heap × factor + slack. */
  heapFactor: number;
  heapSlackMB: number;
  /** Second-half peak RSS ≤ first-half peak RSS × factor + slack. */
  rssFactor: number;
  rssSlackMB: number;
  /** Once pruning runs: the later DB peak ≤ the earlier DB peak × factor + slack; and never above maxDbMB. */
  dbFactor: number;
  dbSlackMB: number;
  maxDbMB: number;
  /** Longest event-loop delay allowed. */
  maxStallMs: number;
}

export interface SoakSample {
  realS: number;
  simMin: number;
  rssMB: number;
  heapMB: number;
  dbMB: number;
  /** Of which the WAL. */
  walMB: number;
  /** Rows kept in the database. */
  rows: { events: number; receipts: number; observations: number; pollRuns: number; mismatches: number; openMismatches: number };
  /** Age (simulated) of the oldest event, receipt and poll observation kept, in s. */
  oldestS: { events: number; receipts: number; observations: number };
  loopMaxMs: number;
  loopP99Ms: number;
  gcMaxMs: number;
  cpuShare: number;
  load1: number;
  head: number;
  keys: number;
  onlineUsers: number;
  pageCursor: number;
  pushed: number;
}

export interface SoakResult {
  samples: SoakSample[];
  checks: { name: string; ok: boolean; detail: string }[];
  pass: boolean;
  summary: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
};
const max = (xs: number[]): number => (xs.length === 0 ? 0 : Math.max(...xs));
const r1 = (x: number): number => Math.round(x * 10) / 10;

interface DbRows {
  rows: SoakSample['rows'];
  oldest: { events: number | null; receipts: number | null; observations: number | null };
}

/** Row counts and oldest timestamps, read through a read-only connection (WAL: it never blocks the daemon). */
function readRows(db: Database.Database): DbRows {
  const n = (sql: string): number => (db.prepare(sql).pluck().get() as number | null) ?? 0;
  const t = (sql: string): number | null => db.prepare(sql).pluck().get() as number | null;
  return {
    rows: {
      events: n('SELECT count(*) FROM events'),
      receipts: n('SELECT count(*) FROM receipts'),
      observations: n('SELECT count(*) FROM poll_observations'),
      pollRuns: n('SELECT count(*) FROM poll_runs'),
      mismatches: n('SELECT count(*) FROM mismatches'),
      openMismatches: n("SELECT count(*) FROM mismatches WHERE status = 'open'"),
    },
    oldest: {
      events: t('SELECT min(recorded_at) FROM events'),
      receipts: t('SELECT min(received_at) FROM receipts'),
      observations: t('SELECT min(at) FROM poll_observations'),
    },
  };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function dbSize(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      total += statSync(`${path}${suffix}`).size;
    } catch {
      // not there (yet)
    }
  }
  return total;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const dir = tempDir('opr-soak-');
  const dbPath = join(dir.path, 'presence.db');
  const webhookPort = await freePort();
  const problems: string[] = [];
  let pushed = 0;
  let pushedThrough = 0;
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const events = (JSON.parse(body) as { events: PresenceEventJson[] }).events;
      const first = events[0]?.seq ?? 0;
      if (first > pushedThrough + 1 && problems.length < 10) problems.push(`push: batch from ${first} after ${pushedThrough}`);
      pushedThrough = Math.max(pushedThrough, events[events.length - 1]?.seq ?? 0);
      pushed += events.length;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const sim = await startSimulator({
    users: o.users,
    gateways: 2,
    seed: o.seed,
    speed: o.speed,
    loss: o.loss,
    duplication: 0.05,
    reorderMs: 500,
    webhookUrl: `http://127.0.0.1:${webhookPort}/${TEST_PATH_SECRET}`,
    workload: { onlineFraction: o.onlineFraction, sessionMeanMs: o.sessionMeanMs, multiDeviceProb: 0.2, samePlatformProb: 0.05, stormsPerHour: 2 },
  });
  const simStart = sim.now();
  const retentionMs = o.retentionDays * 86_400_000;
  // The daemon prunes every retention/10 (at least 1 s, at most 1 h) on a real-time timer: in simulated time, ×speed.
  const prunePeriodSimMs = Math.min(3_600_000, Math.max(1000, retentionMs / 10)) * o.speed;
  const config = {
    openim: { apiUrl: sim.apiUrl, secret: sim.secret, retries: 1, timeoutMs: 3000 },
    webhook: { host: '127.0.0.1', port: webhookPort, pathSecret: TEST_PATH_SECRET },
    api: { host: '127.0.0.1', port: 0 },
    store: { path: dbPath, retentionDays: o.retentionDays },
    reconcile: { settleMs: 1000, graceMs: 3000, confirmDelayMs: 1500 },
    poll: { intervalSeconds: 2, coverageSeconds: 20, discoveryIntervalSeconds: 60, requestsPerSecond: 200 },
    subscribers: [{ name: 'soak', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, batchSize: 500, maxAttempts: 100 }],
    log: { level: 'warn' },
  };
  // The daemon's clock on the simulator's timeline (soak-child.ts): now = simAt + (Date.now() - realAt) × speed.
  const clock = { simAt: sim.now(), realAt: Date.now(), speed: o.speed };
  const daemonNow = (real: number): number => clock.simAt + (real - clock.realAt) * clock.speed;
  const child = await spawnNode<{ apiUrl: string }>(SOAK_CHILD, [JSON.stringify(config), String(o.sampleEveryMs), JSON.stringify(clock)], {
    isReady: (l) => l.includes('"ready":true'),
    parse: (l) => JSON.parse(l) as { apiUrl: string },
    ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
  });
  const page = new PageSubscriber(() => child.ready.apiUrl, 0, 1000, false);
  const samples: SoakSample[] = [];
  const started = Date.now();
  const hardStop = started + (o.simMinutes * 60_000) / o.speed + 120_000;
  let offset = 0;
  let reader: Database.Database | undefined;
  let caughtUp: { page: number; push: number; target: number } | undefined;
  try {
    while (sim.now() - simStart < o.simMinutes * 60_000 && Date.now() < hardStop && child.proc.exitCode === null) {
      await sleep(250);
      const text = child.stdout();
      const fresh = text.slice(offset);
      const end = fresh.lastIndexOf('\n');
      if (end < 0) continue;
      offset += end + 1;
      for (const line of fresh.slice(0, end).split('\n')) {
        if (!line.startsWith('{"stats"')) continue;
        const s = (JSON.parse(line) as { stats: SoakStats }).stats;
        if (reader === undefined && existsSync(dbPath)) reader = new Database(dbPath, { readonly: true, fileMustExist: true });
        const db = reader === undefined ? undefined : readRows(reader);
        const at = daemonNow(Date.now());
        const age = (t: number | null | undefined): number => (t === null || t === undefined ? 0 : r1((at - t) / 1000));
        const sample: SoakSample = {
          realS: r1((s.at - started) / 1000),
          simMin: r1((sim.now() - simStart) / 60_000),
          rssMB: r1(s.rss / MB),
          heapMB: r1(s.heapUsed / MB),
          dbMB: r1(dbSize(dbPath) / MB),
          walMB: r1(fileSize(`${dbPath}-wal`) / MB),
          rows: db?.rows ?? { events: 0, receipts: 0, observations: 0, pollRuns: 0, mismatches: 0, openMismatches: 0 },
          oldestS: { events: age(db?.oldest.events), receipts: age(db?.oldest.receipts), observations: age(db?.oldest.observations) },
          loopMaxMs: r1(s.loopDelayMaxMs),
          loopP99Ms: r1(s.loopDelayP99Ms),
          gcMaxMs: r1(s.gcMaxMs),
          cpuShare: Math.round(s.cpuShare * 100) / 100,
          load1: Math.round(s.load1 * 100) / 100,
          head: s.head,
          keys: s.keys,
          onlineUsers: s.onlineUsers,
          pageCursor: page.record.cursor,
          pushed,
        };
        samples.push(sample);
        const prev = samples[samples.length - 2];
        const rate = prev ? Math.round((sample.head - prev.head) / Math.max(0.1, sample.realS - prev.realS)) : 0;
        o.log(
          `[soak] t=${sample.realS}s sim=${sample.simMin}min rss=${sample.rssMB}MB heap=${sample.heapMB}MB db=${sample.dbMB}MB(wal=${sample.walMB}MB) ` +
            `rows(events=${sample.rows.events} receipts=${sample.rows.receipts} observations=${sample.rows.observations} mismatches=${sample.rows.mismatches}) ` +
            `oldestEvent=${sample.oldestS.events}s loopMax=${sample.loopMaxMs}ms p99=${sample.loopP99Ms}ms gcMax=${sample.gcMaxMs}ms cpu=${sample.cpuShare} load=${sample.load1} ` +
            `head=${sample.head} events/s=${rate} online=${sample.onlineUsers} pageLag=${Math.max(0, sample.head - sample.pageCursor)} pushed=${sample.pushed}`,
        );
      }
    }
    // The subscribers get a few seconds to reach the last sampled head (the workload keeps running meanwhile).
    const target = samples[samples.length - 1]?.head ?? 0;
    const until = Date.now() + 15_000;
    while ((page.record.cursor < target || pushedThrough < target) && Date.now() < until) await sleep(100);
    caughtUp = { page: page.record.cursor, push: pushedThrough, target };
  } finally {
    reader?.close();
    await page.stop();
    child.proc.kill('SIGTERM');
    const exit = await Promise.race([child.exited, sleep(20_000).then(() => undefined)]);
    if (exit === undefined) await child.kill9();
    await sim.close();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    dir.cleanup();
  }
  problems.push(...page.record.problems);
  const slow = child
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{"slowStoreCall"'))
    .map((l) => JSON.parse(l) as { slowStoreCall: string; ms: number; at: number });
  const slowest = [...slow].sort((a, b) => b.ms - a.ms).slice(0, 5);
  const otherStderr = child
    .stderr()
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('{"slowStoreCall"'));

  // Verdict. Memory: the middle third against the last third (the first third is the warm-up).
  const third = Math.floor(samples.length / 3);
  const first = samples.slice(third, 2 * third);
  const second = samples.slice(2 * third);
  const b = o.bounds;
  const checks: SoakResult['checks'] = [];
  const heap1 = median(first.map((s) => s.heapMB));
  const heap2 = median(second.map((s) => s.heapMB));
  checks.push({ name: 'memory flat (heap)', ok: heap2 <= heap1 * b.heapFactor + b.heapSlackMB, detail: `median heap ${heap1} MB → ${heap2} MB (middle third → last third; bound ×${b.heapFactor} + ${b.heapSlackMB} MB)` });
  const rss1 = max(first.map((s) => s.rssMB));
  const rss2 = max(second.map((s) => s.rssMB));
  checks.push({ name: 'memory flat (RSS)', ok: rss2 <= rss1 * b.rssFactor + b.rssSlackMB, detail: `peak RSS ${rss1} MB → ${rss2} MB (bound ×${b.rssFactor} + ${b.rssSlackMB} MB)` });
  // Retention: nothing older than retention + one prune period (+ one sample of slack) is ever kept.
  const ageBoundS = r1((retentionMs + prunePeriodSimMs + o.sampleEveryMs * o.speed) / 1000);
  const oldest = {
    events: max(samples.map((s) => s.oldestS.events)),
    receipts: max(samples.map((s) => s.oldestS.receipts)),
    observations: max(samples.map((s) => s.oldestS.observations)),
  };
  const elapsedS = (last0: SoakSample | undefined): number => (last0 === undefined ? 0 : last0.simMin * 60);
  const lastSample = samples[samples.length - 1];
  const pruned = elapsedS(lastSample) > ageBoundS;
  checks.push({
    name: 'retention holds',
    ok: pruned && oldest.events <= ageBoundS && oldest.receipts <= ageBoundS && oldest.observations <= ageBoundS,
    detail:
      `oldest kept (simulated): event ${oldest.events} s, receipt ${oldest.receipts} s, poll observation ${oldest.observations} s ` +
      `(bound: retention ${r1(retentionMs / 1000)} s + prune period ${r1(prunePeriodSimMs / 1000)} s + one sample = ${ageBoundS} s; run ${r1(elapsedS(lastSample))} s)`,
  });
  // DB size: once pruning has run (simulated time past retention + one prune period + one sample), the later half's
  // peak stays near the earlier half's.
  const steady = samples.filter((s) => s.simMin * 60_000 >= retentionMs + prunePeriodSimMs + o.sampleEveryMs * o.speed);
  const dbPeak = max(samples.map((s) => s.dbMB));
  const rowsOf = (s: SoakSample | undefined): string =>
    s === undefined ? '-' : `events ${s.rows.events}, receipts ${s.rows.receipts}, observations ${s.rows.observations}, poll runs ${s.rows.pollRuns}, mismatches ${s.rows.mismatches} (open ${s.rows.openMismatches})`;
  if (steady.length >= 4) {
    const h = Math.floor(steady.length / 2);
    const early = max(steady.slice(0, h).map((s) => s.dbMB));
    const late = max(steady.slice(h).map((s) => s.dbMB));
    checks.push({
      name: 'DB size bounded',
      ok: late <= early * b.dbFactor + b.dbSlackMB && dbPeak <= b.maxDbMB,
      detail:
        `while pruning (${steady.length} samples): peak ${early} MB → ${late} MB; overall peak ${dbPeak} MB of which WAL ${max(samples.map((s) => s.walMB))} MB (bound ×${b.dbFactor} + ${b.dbSlackMB} MB, max ${b.maxDbMB} MB); ` +
        `rows at the first steady sample: ${rowsOf(steady[0])}; at the end: ${rowsOf(lastSample)}`,
    });
  } else {
    checks.push({ name: 'DB size bounded', ok: false, detail: `run too short to judge: ${steady.length} samples past retention + one prune period; peak ${dbPeak} MB` });
  }
  const stall = max(samples.map((s) => s.loopMaxMs));
  const worst = samples.find((s) => s.loopMaxMs === stall);
  checks.push({
    name: 'no event-loop stall',
    ok: stall < b.maxStallMs,
    detail:
      `max event-loop delay ${stall} ms (bound ${b.maxStallMs} ms; at that sample: longest GC ${worst?.gcMaxMs ?? 0} ms, machine load ${worst?.load1 ?? 0}), ` +
      `max p99 ${max(samples.map((s) => s.loopP99Ms))} ms, longest GC ${max(samples.map((s) => s.gcMaxMs))} ms, daemon CPU ≤ ${max(samples.map((s) => s.cpuShare))} core; ` +
      `store calls over 40 ms: ${slow.length}${slowest.length > 0 ? ` (slowest: ${slowest.map((x) => `${x.slowStoreCall} ${x.ms} ms at t=${Math.round((x.at - started) / 1000)}s`).join(', ')})` : ''}`,
  });
  const last = lastSample;
  const end = caughtUp ?? { page: 0, push: 0, target: -1 };
  const reached = caughtUp !== undefined && end.page >= end.target && end.push >= end.target;
  checks.push({
    name: 'subscribers kept up',
    ok: problems.length === 0 && last !== undefined && last.head > 0 && reached,
    detail:
      `${problems.length === 0 ? 'no gap, no duplicate, no reordering' : problems.slice(0, 3).join('; ')}; at the end (head ${end.target}): ` +
      `page cursor ${end.page}, push delivered through ${end.push} (${pushed} events in all, max page lag while running ${max(samples.map((s) => Math.max(0, s.head - s.pageCursor)))})`,
  });
  const pass = checks.every((c) => c.ok);
  if (otherStderr.length > 0) o.log(`[soak] daemon warnings/errors: ${otherStderr.length}; first: ${otherStderr.slice(0, 3).join(' | ').slice(0, 600)}`);
  const summary =
    `samples=${samples.length} real=${last?.realS ?? 0}s sim=${last?.simMin ?? 0}min events=${last?.head ?? 0} ` +
    checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`).join(' | ');
  return { samples, checks, pass, summary };
}
