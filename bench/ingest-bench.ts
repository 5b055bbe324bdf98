/**
 * Benchmark 1, ingest: webhooks/s and reply latency of the webhook listener with durable commits (SQLite WAL, group
 * commit, an fsync before every acknowledgement), against two baselines under the same load in the same run: a bare
 * node:http server answering the same reply with no work, and a bare durable one that appends each body to a file
 * and answers once an fsync covers it (the limit of a receiver that never acknowledges what it could lose).
 *
 * The daemon and the bare server each run in a child process (roles.ts) and autocannon in this one, so neither
 * server shares its core with the load generator's event loop. `inProcessCompare` additionally runs one
 * concurrency with the daemon inside this process, which is how the choice was measured (see the report).
 */
import { join } from 'node:path';
import type { BenchOutput, Figure } from './report.js';
import { fig, fmtNumber } from './report.js';
import { runAutocannon, runOpenLoop, WebhookMix } from './load.js';
import type { LoadResult } from './load.js';
import type { DaemonReady } from './roles.js';
import { startBenchDaemon } from './roles.js';
import type { EldStats } from './stats.js';
import { startWorker, waitIdle } from './workers.js';

export interface IngestOptions {
  /** Closed-loop concurrencies (autocannon connections). */
  concurrencies: number[];
  /** Seconds per closed-loop run. */
  durationS: number;
  /** Seconds of warm-up load on each server before measuring. */
  warmupS: number;
  /** Offered rate of the open-loop runs (req/s). */
  openLoopRate: number;
  openLoopDurationS: number;
  /** autocannon connections for the `overallRate` run. */
  overallRateConnections: number;
  /** Also run the first concurrency ≥ 10 with the daemon in this process, to compare. */
  inProcessCompare: boolean;
  /** Write a CPU profile of the daemon during the measured runs here. */
  profileDir?: string;
  /** Daemon config overrides (e.g. { webhook: { commitMaxDelayMs: 0 } }). */
  daemonConfig?: Record<string, Record<string, unknown>>;
  /** Users in the webhook mix. */
  users?: number;
}

export const INGEST_FULL: IngestOptions = {
  concurrencies: [1, 10, 50],
  durationS: 5,
  warmupS: 2,
  openLoopRate: 2000,
  openLoopDurationS: 8,
  overallRateConnections: 10,
  inProcessCompare: true,
};

export const INGEST_QUICK: IngestOptions = {
  concurrencies: [1, 10, 50],
  durationS: 1,
  warmupS: 1,
  openLoopRate: 2000,
  openLoopDurationS: 2,
  overallRateConnections: 10,
  inProcessCompare: false,
};

/** Of the durable baseline (design target: a receiver that acknowledges only what is on disk). */
const DURABLE_RATIO_TARGET = 0.7;
const OPEN_LOOP_P99_TARGET_MS = 5;

function latencyFigures(prefix: string, label: string, r: LoadResult, baseline?: LoadResult): Figure[] {
  const b = (v: number | undefined): string | undefined => (v === undefined ? undefined : `bare ${fmtNumber(v)} ms`);
  return [
    fig('ingest', `${prefix}.p50`, `${label} p50`, r.latency.p50, 'ms', { ...(baseline ? { baseline: b(baseline.latency.p50)! } : {}) }),
    fig('ingest', `${prefix}.p99`, `${label} p99`, r.latency.p99, 'ms', { ...(baseline ? { baseline: b(baseline.latency.p99)! } : {}) }),
    fig('ingest', `${prefix}.max`, `${label} max`, r.latency.max, 'ms', { ...(baseline ? { baseline: b(baseline.latency.max)! } : {}) }),
  ];
}

/**
 * Runs `load` against a worker and answers its result with the worker's CPU time per 2xx reply (µs; user + system of
 * every thread, so fsyncs and checkpoints count).
 */
async function withCpu(w: { call<T>(cmd: string): Promise<T> }, load: () => Promise<LoadResult>, settle?: () => Promise<unknown>): Promise<LoadResult & { cpuUsPerReply: number }> {
  const before = await w.call<NodeJS.CpuUsage>('cpu');
  const r = await load();
  // The daemon applies held offlines after their settle window: that work belongs to these webhooks too.
  if (settle) await settle();
  const after = await w.call<NodeJS.CpuUsage>('cpu');
  const used = after.user - before.user + (after.system - before.system);
  return { ...r, cpuUsPerReply: r.ok > 0 ? used / r.ok : Number.NaN };
}

export async function ingestBench(o: IngestOptions): Promise<BenchOutput> {
  const users = o.users ?? 10_000;
  const figures: Figure[] = [];
  const details: Record<string, unknown> = { options: o, mode: 'daemon and bare server in child processes; autocannon in the bench process' };
  const bare = await startWorker<DaemonReady>('bare', {});
  const durable = await startWorker<DaemonReady>('bare-durable', {});
  const daemon = await startWorker<DaemonReady>('daemon', o.daemonConfig ?? {});
  let eld: EldStats | null;
  try {
    // Warm-up (JIT, SQLite page cache, connections): not measured.
    if (o.warmupS > 0) {
      await runAutocannon({ url: bare.ready.webhookUrl, connections: 10, durationS: o.warmupS, mix: new WebhookMix(users, 1, 'w') });
      await runAutocannon({ url: durable.ready.webhookUrl, connections: 10, durationS: o.warmupS, mix: new WebhookMix(users, 1, 'w') });
      await runAutocannon({ url: daemon.ready.webhookUrl, connections: 10, durationS: o.warmupS, mix: new WebhookMix(users, 1, 'w') });
      await waitIdle(daemon);
    }
    await daemon.eld();
    if (o.profileDir !== undefined) await daemon.call('profile-start');
    const runs: Record<string, { daemon: LoadResult; bare: LoadResult; durable: LoadResult }> = {};
    for (const c of o.concurrencies) {
      // Same seed for every server: the same sequence of bodies. A prefix per run keeps the daemon's keys fresh.
      const b = await runAutocannon({ url: bare.ready.webhookUrl, connections: c, durationS: o.durationS, mix: new WebhookMix(users, c, `c${c}u`) });
      const f = await withCpu(durable, () => runAutocannon({ url: durable.ready.webhookUrl, connections: c, durationS: o.durationS, mix: new WebhookMix(users, c, `c${c}u`) }));
      // Offlines the daemon held are applied after their settle window: let that finish before the next run.
      const d = await withCpu(
        daemon,
        () => runAutocannon({ url: daemon.ready.webhookUrl, connections: c, durationS: o.durationS, mix: new WebhookMix(users, c, `c${c}u`) }),
        () => waitIdle(daemon),
      );
      runs[`c${c}`] = { daemon: d, bare: b, durable: f };
      const durableRatio = d.rps / f.rps;
      figures.push(
        fig('ingest', `ingest.c${c}.rps`, `ingest c=${c}: webhooks/s (durable)`, d.rps, 'req/s', {
          baseline: `durable bare ${fmtNumber(f.rps, 'req/s')} req/s; bare ${fmtNumber(b.rps, 'req/s')} req/s`,
        }),
        fig('ingest', `ingest.c${c}.durableRatio`, `ingest c=${c}: ratio to the durable bare server (append + fsync per batch)`, durableRatio, '', {
          baseline: `≥ ${DURABLE_RATIO_TARGET}`,
          holds: durableRatio >= DURABLE_RATIO_TARGET,
        }),
        fig('ingest', `ingest.c${c}.ratio`, `ingest c=${c}: ratio to the bare server (no disk)`, d.rps / b.rps, '', { baseline: 'for scale' }),
        ...latencyFigures(`ingest.c${c}`, `ingest c=${c}: latency`, d, b),
        fig('ingest', `ingest.c${c}.durable.p99`, `ingest c=${c}: durable bare server p99 (the fsync tail)`, f.latency.p99, 'ms', { baseline: `daemon ${fmtNumber(d.latency.p99)} ms` }),
        fig('ingest', `ingest.c${c}.cpuPerWebhook`, `ingest c=${c}: daemon CPU per webhook (all threads, held offlines settled)`, d.cpuUsPerReply, 'µs', {
          baseline: `durable bare ${fmtNumber(f.cpuUsPerReply)} µs per request`,
          digits: 0,
        }),
      );
      if (d.failed > 0 || b.failed > 0) figures.push(fig('ingest', `ingest.c${c}.failed`, `ingest c=${c}: failed requests (daemon)`, d.failed, '', { baseline: `bare ${b.failed}`, digits: 0 }));
    }

    // Open loop, as the issue asks: autocannon's overallRate. Each of its connections sends its share of the
    // second back to back as fast as replies come, then waits for the next second: bursts, not even spacing.
    const acBare = await runAutocannon({
      url: bare.ready.webhookUrl,
      connections: o.overallRateConnections,
      durationS: o.openLoopDurationS,
      overallRate: o.openLoopRate,
      mix: new WebhookMix(users, 7, 'orb'),
    });
    const acDaemon = await runAutocannon({
      url: daemon.ready.webhookUrl,
      connections: o.overallRateConnections,
      durationS: o.openLoopDurationS,
      overallRate: o.openLoopRate,
      mix: new WebhookMix(users, 7, 'ord'),
    });
    await waitIdle(daemon);
    const rateLabel = `${fmtNumber(o.openLoopRate)} req/s`;
    figures.push(
      fig('ingest', 'ingest.overallRate.rps', `ingest offered ${rateLabel} (autocannon overallRate, ${o.overallRateConnections} conns): achieved`, acDaemon.rps, 'req/s', {
        baseline: `bare ${fmtNumber(acBare.rps, 'req/s')} req/s`,
      }),
      fig('ingest', 'ingest.overallRate.p99', `ingest offered ${rateLabel} (autocannon overallRate): p99`, acDaemon.latency.p99, 'ms', {
        baseline: `≤ ${OPEN_LOOP_P99_TARGET_MS} ms (bare ${fmtNumber(acBare.latency.p99)} ms)`,
        holds: acDaemon.latency.p99 <= OPEN_LOOP_P99_TARGET_MS,
      }),
      fig('ingest', 'ingest.overallRate.p99co', `ingest offered ${rateLabel} (autocannon overallRate): p99 with autocannon's coordinated-omission correction (1 ms resolution)`, acDaemon.autocannon.p99, 'ms', {
        baseline: `bare ${fmtNumber(acBare.autocannon.p99)} ms`,
      }),
    );
    // Open loop, evenly spaced: one request every 1/rate s, latency from the scheduled time.
    const olBare = await runOpenLoop({ url: bare.ready.webhookUrl, rate: o.openLoopRate, durationS: o.openLoopDurationS, mix: new WebhookMix(users, 9, 'olb') });
    // The same load on the durable bare server: its p99 is the fsync tail of this disk at this rate.
    const olDurable = await runOpenLoop({ url: durable.ready.webhookUrl, rate: o.openLoopRate, durationS: o.openLoopDurationS, mix: new WebhookMix(users, 9, 'olf') });
    const olDaemon = await withCpu(
      daemon,
      () => runOpenLoop({ url: daemon.ready.webhookUrl, rate: o.openLoopRate, durationS: o.openLoopDurationS, mix: new WebhookMix(users, 9, 'old') }),
      () => waitIdle(daemon),
    );
    figures.push(
      fig('ingest', 'ingest.openLoop.p50', `ingest offered ${rateLabel} (evenly spaced, own generator): p50`, olDaemon.latency.p50, 'ms', {
        baseline: `bare ${fmtNumber(olBare.latency.p50)} ms`,
      }),
      fig('ingest', 'ingest.openLoop.p99', `ingest offered ${rateLabel} (evenly spaced, own generator): p99`, olDaemon.latency.p99, 'ms', {
        baseline: `≤ ${OPEN_LOOP_P99_TARGET_MS} ms (bare ${fmtNumber(olBare.latency.p99)} ms; durable bare ${fmtNumber(olDurable.latency.p99)} ms, the fsync tail)`,
        holds: olDaemon.latency.p99 <= OPEN_LOOP_P99_TARGET_MS,
      }),
      fig('ingest', 'ingest.openLoop.durable.p99', `ingest offered ${rateLabel} (evenly spaced): durable bare server p99 (the fsync tail)`, olDurable.latency.p99, 'ms', {
        baseline: `daemon ${fmtNumber(olDaemon.latency.p99)} ms`,
      }),
      fig('ingest', 'ingest.openLoop.cpuPerWebhook', `ingest offered ${rateLabel} (evenly spaced): daemon CPU per webhook (all threads, held offlines settled)`, olDaemon.cpuUsPerReply, 'µs', {
        baseline: 'for scale',
        digits: 0,
      }),
      fig('ingest', 'ingest.openLoop.max', `ingest offered ${rateLabel} (evenly spaced, own generator): max`, olDaemon.latency.max, 'ms', {
        baseline: `bare ${fmtNumber(olBare.latency.max)} ms`,
      }),
      fig('ingest', 'ingest.openLoop.sendLateP99', `ingest offered ${rateLabel} (evenly spaced): generator's own send lateness p99 (health of the load generator)`, olDaemon.sendLateness?.p99 ?? Number.NaN, 'ms', {
        baseline: `bare run ${fmtNumber(olBare.sendLateness?.p99 ?? Number.NaN)} ms`,
      }),
    );
    if (o.profileDir !== undefined) details.profile = await daemon.call('profile-stop', join(o.profileDir, 'ingest.cpuprofile'));
    eld = await daemon.eld();
    details.runs = runs;
    details.overallRate = { daemon: acDaemon, bare: acBare };
    details.openLoop = { daemon: olDaemon, bare: olBare, durable: olDurable };
    details.daemonCounts = await daemon.call('counts');
  } finally {
    await Promise.allSettled([daemon.stop(), bare.stop(), durable.stop()]);
  }

  if (o.inProcessCompare) {
    const c = o.concurrencies.find((x) => x >= 10) ?? o.concurrencies[0] ?? 10;
    const d = await startBenchDaemon(o.daemonConfig ?? {});
    try {
      const url = d.daemon.webhookUrl;
      if (o.warmupS > 0) await runAutocannon({ url, connections: 10, durationS: o.warmupS, mix: new WebhookMix(users, 1, 'wi') });
      const r = await runAutocannon({ url, connections: c, durationS: o.durationS, mix: new WebhookMix(users, c, `ip${c}u`) });
      const child = (details.runs as Record<string, { daemon: LoadResult }> | undefined)?.[`c${c}`]?.daemon;
      figures.push(
        fig('ingest', `ingest.inprocess.c${c}.rps`, `ingest c=${c}, daemon in the autocannon process (not chosen): webhooks/s`, r.rps, 'req/s', {
          baseline: child ? `child process ${fmtNumber(child.rps, 'req/s')} req/s` : '',
        }),
        fig('ingest', `ingest.inprocess.c${c}.p99`, `ingest c=${c}, daemon in the autocannon process (not chosen): p99`, r.latency.p99, 'ms', {
          baseline: child ? `child process ${fmtNumber(child.latency.p99)} ms` : '',
        }),
      );
      details.inProcess = r;
    } finally {
      await d.close();
    }
  }
  return { figures, eld, details };
}
