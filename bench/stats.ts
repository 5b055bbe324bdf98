/**
 * Small measurement helpers shared by the benchmarks: a growable sample buffer with exact percentiles, and the
 * event-loop stall monitor every measured process runs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';

/** Raw samples (e.g. latencies in ms) kept in a growable Float64Array; percentiles are exact (nearest rank). */
export class Samples {
  private buf = new Float64Array(1024);
  private n = 0;
  private sorted = true;

  get count(): number {
    return this.n;
  }

  add(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
    this.sorted = false;
  }

  addAll(values: Iterable<number>): void {
    for (const v of values) this.add(v);
  }

  private view(): Float64Array {
    const v = this.buf.subarray(0, this.n);
    if (!this.sorted) {
      v.sort();
      this.sorted = true;
    }
    return v;
  }

  /** Nearest-rank percentile (p in 0..100); NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return Number.NaN;
    const v = this.view();
    const rank = Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1));
    return v[rank]!;
  }

  max(): number {
    return this.n === 0 ? Number.NaN : this.view()[this.n - 1]!;
  }

  mean(): number {
    if (this.n === 0) return Number.NaN;
    let s = 0;
    for (let i = 0; i < this.n; i++) s += this.buf[i]!;
    return s / this.n;
  }

  summary(): LatencySummary {
    return { count: this.n, p50: this.percentile(50), p99: this.percentile(99), max: this.max(), mean: this.mean() };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Event-loop delay as seen by one process over a period. */
export interface EldStats {
  /** Largest delay of a timer tick, ms (monitorEventLoopDelay's max). */
  maxMs: number;
  /** 99th percentile of the tick delays, ms. */
  p99Ms: number;
  /** Ticks delayed by more than the stall threshold (50 ms). */
  stalls: number;
  /** The longest stalls, ms, longest first (at most 5). */
  longestMs: number[];
  /** Length of the period, ms. */
  periodMs: number;
}

export const STALL_THRESHOLD_MS = 50;
const RESOLUTION_MS = 10;

/**
 * `perf_hooks.monitorEventLoopDelay` (10 ms resolution: each tick records how late it ran, so one 200 ms block is one
 * sample of ~190 ms), plus an own 10 ms ticker that counts ticks later than 50 ms exactly (the histogram's
 * percentiles are too coarse in the tail to count a handful of stalls). Call `take()` to read and restart.
 */
export class EldMonitor {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private since = 0;
  private stalls: number[] = [];

  start(): this {
    this.h.enable();
    this.since = performance.now();
    this.last = this.since;
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.last - RESOLUTION_MS;
      if (late > STALL_THRESHOLD_MS) this.stalls.push(late);
      this.last = now;
    }, RESOLUTION_MS);
    this.timer.unref();
    return this;
  }

  /** Returns the statistics since the last `take()` (or start) and starts a new period. */
  take(): EldStats {
    const now = performance.now();
    const longest = [...this.stalls].sort((a, b) => b - a).slice(0, 5);
    // The histogram records the whole interval between ticks (resolution included); report the delay beyond it.
    const beyond = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    const stats: EldStats = {
      maxMs: Math.max(this.h.count > 0 ? beyond(this.h.max) : 0, longest[0] ?? 0),
      p99Ms: this.h.count > 0 ? beyond(this.h.percentile(99)) : 0,
      stalls: this.stalls.length,
      longestMs: longest.map((v) => Math.round(v)),
      periodMs: now - this.since,
    };
    this.h.reset();
    this.stalls = [];
    this.since = now;
    this.last = now;
    return stats;
  }

  stop(): void {
    this.h.disable();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Combines the stall statistics of several periods (max of maxima, sum of counts). */
export function mergeEld(list: readonly EldStats[]): EldStats {
  const longest = list.flatMap((s) => s.longestMs).sort((a, b) => b - a).slice(0, 5);
  return {
    maxMs: Math.max(0, ...list.map((s) => s.maxMs)),
    p99Ms: Math.max(0, ...list.map((s) => s.p99Ms)),
    stalls: list.reduce((n, s) => n + s.stalls, 0),
    longestMs: longest,
    periodMs: list.reduce((n, s) => n + s.periodMs, 0),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
