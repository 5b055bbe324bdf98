/**
 * Benchmark 6, cluster: the Redis backend (store.backend redis) against single-node SQLite, in one run.
 *
 * - Ingest: webhooks/s acknowledged and reply latency at fixed concurrencies (autocannon, closed loop) for the
 *   single-node SQLite daemon (the baseline: the ingest benchmark's daemon) and for 1, 2 and 3 replicas sharing one
 *   Redis. Each replica is a child process with its own store.path (its local copy); each configuration has its own
 *   key prefix. The load generator deals its connections round robin over the replicas' webhook ports (connection i
 *   to replica i mod n), as a load balancer with keep-alive does. A replica acknowledges once Redis holds the webhook
 *   (the inbox); the writer ingests the inbox after that, so the time it needs to catch up once the load stops, and
 *   the followers' replay of the shared log, are reported too. Every figure is also a ratio to SQLite.
 * - Webhook → SSE: evenly spaced online webhooks for fresh users (one event each) posted to replica A while an SSE
 *   client (`GET /v1/events`, `Accept: text/event-stream`, in a child process of its own) is connected to replica B, a
 *   follower (and one to the writer); latency = event received − webhook sent, one machine, one clock. The baseline is
 *   the same load on the SQLite daemon with the SSE client on that daemon.
 *
 * Redis is a `redis-server` this benchmark starts itself (redis-server.ts: loopback, a temp dir, appendfsync always).
 * Every replica, Redis, the subscribers and the load generator share this machine's cores: with two, the figures
 * are ratios under one shared CPU budget, not what more machines would add.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { clusterKeys } from '../src/cluster/cluster-keys.js';
import type { ClusterKeys } from '../src/cluster/cluster-keys.js';
import type { ClusterStatus } from '../src/cluster/cluster-node.js';
import type { SubscribersArg } from './fanout-bench.js';
import { runAutocannon, runOpenLoop, webhookBody, WebhookMix } from './load.js';
import type { LoadResult, WebhookRequest } from './load.js';
import type { BenchOutput, Figure } from './report.js';
import { fig, fmtNumber } from './report.js';
import { findRedisServer, startBenchRedis } from './redis-server.js';
import type { BenchRedis } from './redis-server.js';
import type { DaemonReady } from './roles.js';
import type { EldStats, LatencySummary } from './stats.js';
import { mergeEld, sleep } from './stats.js';
import type { Worker } from './workers.js';
import { startWorker, waitIdle } from './workers.js';

export interface ClusterOptions {
  /** Replica counts to run on Redis (each against the same SQLite baseline). */
  replicas: number[];
  /** Closed-loop concurrencies (autocannon connections, dealt over the replicas). */
  concurrencies: number[];
  /** Seconds per closed-loop run. */
  durationS: number;
  /** Seconds of warm-up load on each configuration before measuring (0: none). */
  warmupS: number;
  /** Webhook → SSE: webhooks per second (evenly spaced) and how many. */
  sseRate: number;
  sseCount: number;
  /** Longest wait for the writer to ingest what was acknowledged, the followers to replay it, or events to arrive (ms). */
  drainTimeoutMs: number;
  /** Users in the ingest webhook mix. */
  users?: number;
  /** Write a CPU profile of the writer during each measured ingest run here. */
  profileDir?: string;
}

export const CLUSTER_FULL: ClusterOptions = { replicas: [1, 2, 3], concurrencies: [10, 50], durationS: 5, warmupS: 1, sseRate: 200, sseCount: 2000, drainTimeoutMs: 60_000 };
export const CLUSTER_QUICK: ClusterOptions = { replicas: [1, 2, 3], concurrencies: [10], durationS: 2, warmupS: 0.5, sseRate: 200, sseCount: 400, drainTimeoutMs: 30_000 };

/** webhook.settleMs of the bench daemons (the default): held offlines are applied this long after the last one. */
const SETTLE_MS = 3000;

/** One configuration under test: the SQLite daemon, or n replicas on one key prefix. */
interface Setup {
  key: string;
  label: string;
  workers: Worker<DaemonReady>[];
  /** Redis configurations only. */
  writer?: Worker<DaemonReady>;
  followers: Worker<DaemonReady>[];
  keys?: ClusterKeys;
}

interface IngestRun {
  load: LoadResult;
  /** From the end of the load until the writer had ingested every acknowledged webhook (0 for SQLite). */
  drainMs: number;
  /** From the end of the load until every follower had applied the log as it then stood (0 without followers). */
  followersMs: number;
  drained: boolean;
  /** CPU per acknowledged webhook (µs, user + system, all threads), held offlines settled. */
  cpuUs: { writer: number; followers: number; redis: number; generator: number };
}

interface SseRun {
  sent: number;
  /** Per SSE client (by name): latency summary, events matched, missing. */
  clients: Record<string, { summary: LatencySummary; missing: number }>;
  replyP99: number;
  sendLateP99: number;
}

const statusOf = (w: Worker<DaemonReady>): Promise<ClusterStatus | null> => w.call<ClusterStatus | null>('cluster');

async function until(what: string, timeoutMs: number, fn: () => Promise<boolean>, everyMs = 25): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) {
      process.stderr.write(`[bench] cluster: gave up waiting for ${what} after ${timeoutMs} ms\n`);
      return false;
    }
    await sleep(everyMs);
  }
}

async function startSqlite(): Promise<Setup> {
  const w = await startWorker<DaemonReady>('daemon', {});
  return { key: 'sqlite', label: 'single-node SQLite', workers: [w], followers: [] };
}

/** n replicas on `prefix`; the first one started becomes the writer (it takes the free lease at once). */
async function startCluster(n: number, redis: BenchRedis, prefix: string, timeoutMs: number): Promise<Setup> {
  const workers: Worker<DaemonReady>[] = [];
  try {
    for (let i = 0; i < n; i++) {
      workers.push(await startWorker<DaemonReady>('daemon', { store: { backend: 'redis', redis: { url: redis.url, keyPrefix: prefix, replicaName: `bench-r${i + 1}` } } }));
      if (i === 0 && !(await until('a writer', timeoutMs, async () => (await statusOf(workers[0]!))?.role === 'writer', 50))) throw new Error('no replica took the writer lease');
    }
    const roles = await Promise.all(workers.map(statusOf));
    const writer = workers[roles.findIndex((s) => s?.role === 'writer')];
    if (!writer) throw new Error('no writer among the replicas');
    return { key: `r${n}`, label: `${n} replica${n === 1 ? '' : 's'} on Redis`, workers, writer, followers: workers.filter((w) => w !== writer), keys: clusterKeys(prefix) };
  } catch (e) {
    await stopSetup({ key: '', label: '', workers, followers: [] });
    throw e;
  }
}

/** Followers first: a writer that leaves releases its lease, and a follower would then take over and catch up. */
async function stopSetup(s: Setup): Promise<void> {
  await Promise.allSettled(s.followers.map((w) => w.stop()));
  await Promise.allSettled(s.workers.map((w) => w.stop()));
}

/** True once the writer has consumed the inbox up to its last entry. */
async function inboxDrained(client: Redis, keys: ClusterKeys): Promise<boolean> {
  const last = await client.xrevrange(keys.inbox, '+', '-', 'COUNT', 1);
  if (last.length === 0) return true;
  return (await client.get(keys.inboxCursor)) === last[0]![0];
}

/** Waits for the writer to ingest the inbox and the followers to replay the log; then for held offlines to settle. */
async function settle(s: Setup, client: Redis | undefined, timeoutMs: number): Promise<{ drainMs: number; followersMs: number; drained: boolean }> {
  const t0 = performance.now();
  let drainMs = 0;
  let followersMs = 0;
  let drained = true;
  if (s.keys && client) {
    const keys = s.keys;
    drained = await until('the writer to ingest the inbox', timeoutMs, () => inboxDrained(client, keys));
    drainMs = performance.now() - t0;
    const head = Number((await client.get(keys.head)) ?? 0);
    if (s.followers.length > 0) {
      drained =
        (await until('the followers to replay the log', timeoutMs, async () => (await Promise.all(s.followers.map(statusOf))).every((st) => (st?.log.applied ?? 0) >= head))) && drained;
      followersMs = performance.now() - t0;
    }
  }
  // Offlines are held for webhook.settleMs, then applied (and replicated): that work belongs to these webhooks.
  await sleep(SETTLE_MS + 250);
  for (const w of s.workers) await waitIdle(w);
  return { drainMs, followersMs, drained };
}

const cpuOf = async (w: Worker<DaemonReady>): Promise<number> => {
  const c = await w.call<NodeJS.CpuUsage>('cpu');
  return c.user + c.system;
};

async function ingestRun(s: Setup, redis: BenchRedis | undefined, client: Redis | undefined, c: number, o: ClusterOptions): Promise<IngestRun> {
  const users = o.users ?? 10_000;
  const urls = s.workers.map((w) => w.ready.webhookUrl);
  const before = await Promise.all(s.workers.map(cpuOf));
  const redis0 = redis?.cpuUs() ?? 0;
  const gen0 = process.cpuUsage();
  const writer = s.writer ?? s.workers[0]!;
  if (o.profileDir !== undefined) await writer.call('profile-start');
  // The same bodies for every configuration (same seed and prefix); each configuration has a store of its own.
  const load = await runAutocannon({ url: urls[0]!, urls, connections: c, durationS: o.durationS, mix: new WebhookMix(users, c, `c${c}u`) });
  const gen = process.cpuUsage(gen0);
  const waited = await settle(s, client, o.drainTimeoutMs);
  if (o.profileDir !== undefined) await writer.call('profile-stop', join(o.profileDir, `cluster-${s.key}-c${c}-writer.cpuprofile`));
  const after = await Promise.all(s.workers.map(cpuOf));
  const used = s.workers.map((_, i) => after[i]! - before[i]!);
  const per = (us: number): number => (load.ok > 0 ? us / load.ok : Number.NaN);
  const wi = s.workers.indexOf(writer);
  return {
    load,
    ...waited,
    cpuUs: {
      writer: per(used[wi]!),
      followers: per(used.reduce((a, b, i) => (i === wi ? a : a + b), 0)),
      redis: redis ? per(redis.cpuUs() - redis0) : 0,
      generator: per(gen.user + gen.system),
    },
  };
}

/** Online webhooks for fresh users `<prefix><n>`: one event each. */
class FreshOnlines {
  private n = 0;
  constructor(private readonly prefix: string) {}
  next(): WebhookRequest {
    this.n++;
    const command = 'callbackAfterUserOnlineCommand';
    return { command, path: `/${command}`, body: webhookBody(command, `${this.prefix}${this.n}`, 5, Date.now(), `${this.prefix}_${this.n}`) };
  }
}

/** Webhooks to `target`, one SSE client on each of `streams` (each in a child process), latencies matched by userID. */
async function sseRun(target: Worker<DaemonReady>, streams: Record<string, Worker<DaemonReady>>, prefix: string, o: ClusterOptions): Promise<SseRun> {
  const names = Object.keys(streams);
  const subs = await Promise.all(names.map((n) => startWorker<{ subscribers: number }>('subscribers', { apiUrl: streams[n]!.ready.apiUrl, count: 1 } satisfies SubscribersArg)));
  try {
    await sleep(200);
    const base = await Promise.all(subs.map((g) => g.call<number>('received')));
    const sentAt: Record<string, number> = {};
    const load = await runOpenLoop({
      url: target.ready.webhookUrl,
      rate: o.sseRate,
      durationS: o.sseCount / o.sseRate,
      mix: new FreshOnlines(prefix),
      maxSockets: 16,
      onSend: (w, at) => {
        const m = /"userID":"([^"]+)"/.exec(w.body);
        if (m) sentAt[m[1]!] = performance.timeOrigin + at;
      },
    });
    const clients: SseRun['clients'] = {};
    const deadline = Date.now() + o.drainTimeoutMs;
    for (let i = 0; i < subs.length; i++) {
      const g = subs[i]!;
      let r: { summary: LatencySummary } | undefined;
      // Bounded: every acknowledged webhook's event, or the deadline.
      for (;;) {
        if ((await g.call<number>('received')) - base[i]! >= load.ok) {
          r = await g.call<{ summary: LatencySummary }>('latencies', sentAt);
          if (r.summary.count >= load.ok) break;
        }
        if (Date.now() > deadline) {
          r = await g.call<{ summary: LatencySummary }>('latencies', sentAt);
          break;
        }
        await sleep(50);
      }
      clients[names[i]!] = { summary: r.summary, missing: Math.max(0, load.ok - r.summary.count) };
    }
    return { sent: load.ok, clients, replyP99: load.latency.p99, sendLateP99: load.sendLateness?.p99 ?? Number.NaN };
  } finally {
    await Promise.allSettled(subs.map((g) => g.stop()));
  }
}

export async function clusterBench(o: ClusterOptions): Promise<BenchOutput> {
  const cores = availableParallelism();
  const coreNote = `${cores} cores shared by every replica, Redis and the load generator: a ratio under one CPU budget, not what more machines would add`;
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  if (findRedisServer() === undefined) {
    const missing = 'redis-server not found on PATH (Debian: apt-get install redis-server)';
    return { figures: [fig('cluster', 'cluster.error', 'cluster: Redis backend against single-node SQLite', null, '', { note: missing })], eld: null, details: { notMeasured: missing } };
  }
  const redis = await startBenchRedis();
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const elds: EldStats[] = [];
  const runs: Record<string, Record<string, IngestRun>> = {};
  const sse: Record<string, SseRun> = {};
  const startMs: Record<string, number> = {};
  const phaseEld: Record<string, { ingest: EldStats; sse?: EldStats }> = {};
  const biggest = Math.max(...o.replicas);
  try {
    await client.connect();
    const setups: (() => Promise<Setup>)[] = [startSqlite, ...o.replicas.map((n) => () => startCluster(n, redis, `opr-bench-${process.pid}-r${n}:`, o.drainTimeoutMs))];
    for (const start of setups) {
      const t0 = performance.now();
      const s = await start();
      startMs[s.key] = performance.now() - t0;
      try {
        if (o.warmupS > 0) {
          const urls = s.workers.map((w) => w.ready.webhookUrl);
          await runAutocannon({ url: urls[0]!, urls, connections: 10, durationS: o.warmupS, mix: new WebhookMix(o.users ?? 10_000, 1, 'w') });
          await settle(s, client, o.drainTimeoutMs);
        }
        await Promise.all(s.workers.map((w) => w.eld()));
        const byC: Record<string, IngestRun> = {};
        for (const c of o.concurrencies) byC[`c${c}`] = await ingestRun(s, s.keys ? redis : undefined, s.keys ? client : undefined, c, o);
        runs[s.key] = byC;
        const ingestEld = await Promise.all(s.workers.map((w) => w.eld()));
        elds.push(...ingestEld);
        phaseEld[s.key] = { ingest: mergeEld(ingestEld) };
        // Webhook → SSE: on the baseline, and on the largest cluster (to a follower if there are two, SSE on another).
        let ranSse = true;
        if (s.key === 'sqlite') sse.sqlite = await sseRun(s.workers[0]!, { same: s.workers[0]! }, 'ssq', o);
        else if (s.key === `r${biggest}` && s.followers.length > 0) {
          const a = s.followers.length >= 2 ? s.followers[0]! : s.writer!;
          const b = s.followers[s.followers.length - 1]!;
          sse.cluster = await sseRun(a, { follower: b, writer: s.writer! }, 'scl', o);
          details.sseTarget = s.followers.length >= 2 ? 'a follower' : 'the writer';
        } else ranSse = false;
        if (ranSse) {
          const sseEld = await Promise.all(s.workers.map((w) => w.eld()));
          elds.push(...sseEld);
          phaseEld[s.key]!.sse = mergeEld(sseEld);
        }
      } finally {
        await stopSetup(s);
      }
    }
  } finally {
    client.disconnect();
    await redis.stop();
  }

  // --- figures ---------------------------------------------------------------------------------------------------
  figures.push(
    fig('cluster', 'cluster.cores', 'cluster: cores shared by every replica, Redis, the SSE clients and the load generator', cores, '', {
      baseline: 'adding replicas adds work on the same cores here: the rows are ratios to SQLite, not a scaling curve',
      note: coreNote,
      digits: 0,
    }),
  );
  const base = runs.sqlite!;
  for (const c of o.concurrencies) {
    const b = base[`c${c}`]!;
    const pre = `cluster ingest c=${c}`;
    figures.push(
      fig('cluster', `cluster.c${c}.sqlite.rps`, `${pre}, single-node SQLite (the baseline): webhooks/s acknowledged`, b.load.rps, 'req/s', { baseline: 'the ratios below are to this' }),
      fig('cluster', `cluster.c${c}.sqlite.p50`, `${pre}, single-node SQLite: latency p50`, b.load.latency.p50, 'ms'),
      fig('cluster', `cluster.c${c}.sqlite.p99`, `${pre}, single-node SQLite: latency p99`, b.load.latency.p99, 'ms'),
      fig('cluster', `cluster.c${c}.sqlite.cpu`, `${pre}, single-node SQLite: CPU per webhook (daemon, all threads)`, b.cpuUs.writer, 'µs', {
        baseline: `load generator ${fmtNumber(b.cpuUs.generator)} µs`,
        digits: 0,
      }),
    );
    for (const n of o.replicas) {
      const r = runs[`r${n}`]?.[`c${c}`];
      if (!r) continue;
      const what = `${pre}, ${n} replica${n === 1 ? '' : 's'} on Redis`;
      const ratio = r.load.rps / b.load.rps;
      const endToEnd = r.load.ok / (r.load.durationS + r.drainMs / 1000);
      figures.push(
        fig('cluster', `cluster.c${c}.r${n}.rps`, `${what}: webhooks/s acknowledged`, r.load.rps, 'req/s', { baseline: `SQLite ${fmtNumber(b.load.rps, 'req/s')} req/s` }),
        fig('cluster', `cluster.c${c}.r${n}.ratio`, `${what}: ratio to single-node SQLite`, ratio, '', { baseline: `SQLite = 1; ${cores} cores shared by all (see above)`, note: coreNote }),
        fig('cluster', `cluster.c${c}.r${n}.p50`, `${what}: latency p50`, r.load.latency.p50, 'ms', { baseline: `SQLite ${fmtNumber(b.load.latency.p50)} ms` }),
        fig('cluster', `cluster.c${c}.r${n}.p99`, `${what}: latency p99`, r.load.latency.p99, 'ms', { baseline: `SQLite ${fmtNumber(b.load.latency.p99)} ms` }),
        fig('cluster', `cluster.c${c}.r${n}.drain`, `${what}: writer still ingesting the inbox after the load stopped`, r.drainMs, 'ms', {
          baseline: `${r.drained ? '' : 'NOT DRAINED; '}ingested end to end ${fmtNumber(endToEnd, 'req/s')} webhooks/s${n > 1 ? `; followers in step after ${fmtNumber(r.followersMs)} ms` : ''}`,
          digits: 0,
        }),
        fig('cluster', `cluster.c${c}.r${n}.cpu`, `${what}: CPU per webhook (replicas and Redis, all threads)`, r.cpuUs.writer + r.cpuUs.followers + r.cpuUs.redis, 'µs', {
          baseline: `writer ${fmtNumber(r.cpuUs.writer)}${n > 1 ? `, followers ${fmtNumber(r.cpuUs.followers)}` : ''}, Redis ${fmtNumber(r.cpuUs.redis)}, load generator ${fmtNumber(r.cpuUs.generator)} µs; SQLite daemon ${fmtNumber(b.cpuUs.writer)} µs (${fmtNumber((r.cpuUs.writer + r.cpuUs.followers + r.cpuUs.redis) / b.cpuUs.writer)}×)`,
          digits: 0,
        }),
      );
    }
  }
  const sq = sse.sqlite?.clients.same;
  const rate = `${fmtNumber(o.sseRate)} webhooks/s`;
  if (sq) {
    figures.push(
      fig('cluster', 'cluster.sse.sqlite.p50', `cluster webhook → SSE at ${rate}, single-node SQLite (SSE on the same daemon): p50`, sq.summary.p50, 'ms', { baseline: `${fmtNumber(sq.summary.count)} events` }),
      fig('cluster', 'cluster.sse.sqlite.p99', `cluster webhook → SSE at ${rate}, single-node SQLite: p99`, sq.summary.p99, 'ms'),
    );
  }
  const cl = sse.cluster;
  if (cl) {
    const a = String(details.sseTarget);
    const sqText = (v: number | undefined): string => (v === undefined ? '' : `SQLite ${fmtNumber(v)} ms`);
    for (const [name, label] of [
      ['follower', `${biggest} replicas, webhooks to ${a}, SSE on a follower`],
      ['writer', `${biggest} replicas, webhooks to ${a}, SSE on the writer`],
    ] as const) {
      const x = cl.clients[name];
      if (!x) continue;
      figures.push(
        fig('cluster', `cluster.sse.${name}.p50`, `cluster webhook → SSE at ${rate}, ${label}: p50`, x.summary.p50, 'ms', { baseline: sqText(sq?.summary.p50) }),
        fig('cluster', `cluster.sse.${name}.p99`, `cluster webhook → SSE at ${rate}, ${label}: p99`, x.summary.p99, 'ms', { baseline: sqText(sq?.summary.p99) }),
      );
    }
    const missing = Object.values(cl.clients).reduce((n, x) => n + x.missing, 0) + (sq?.missing ?? 0);
    const expected = cl.sent * Object.keys(cl.clients).length + (sse.sqlite?.sent ?? 0);
    figures.push(
      fig('cluster', 'cluster.sse.missing', `cluster webhook → SSE: acknowledged webhooks whose event never reached a client (bounded wait)`, missing, '', {
        baseline: `0 of ${fmtNumber(expected)}`,
        holds: missing === 0,
        digits: 0,
      }),
    );
  }
  details.options = o;
  details.cores = cores;
  details.runs = runs;
  details.sse = sse;
  details.startMs = startMs;
  details.phaseEld = phaseEld;
  details.mode = 'replicas and the SQLite daemon in child processes, Redis a redis-server of its own, SSE clients in child processes, autocannon and the open-loop generator in the bench process';
  return { figures, eld: elds.length > 0 ? mergeEld(elds) : null, details };
}
