/**
 * The daemon in a process of its own for the soak, reporting on itself:
 *   node --import tsx test/reliability/soak-child.ts '<config JSON>' <sampleEveryMs> ['<clock JSON>']
 * The optional clock `{"simAt":…,"realAt":…,"speed":…}` runs the daemon's clock (`now`) on the simulator's
 * accelerated timeline: `simAt + (Date.now() - realAt) × speed`, so retention, windows and timestamps follow simulated
 * time (timers such as the poll schedule stay in real time).
 * Prints `{"ready":true,"apiUrl":…,"webhookUrl":…,"pid":…}` once listening, then every `sampleEveryMs` one line
 * `{"stats":{…}}`: memory (rss, heap used/total, external), the worst event-loop delay since the last line (in ms,
 * beyond the 10 ms sampling interval) and its p99, and the store's head seq. Warnings and errors go to stderr as
 * JSON, and so does every store call slower than 40 ms (`{"slowStoreCall":…}`). SIGTERM closes the daemon in order and exits 0.
 */
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startDaemon } from '../../src/daemon/daemon.js';

const RESOLUTION_MS = 10;

export interface SoakStats {
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Worst event-loop delay since the previous sample, beyond the sampling interval, in ms. */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
  /** Longest garbage-collection pause since the previous sample, in ms. */
  gcMaxMs: number;
  /** CPU time this process used since the previous sample, as a share of the wall time (1 = one full core). */
  cpuShare: number;
  /** The machine's 1-minute load average. */
  load1: number;
  head: number;
  keys: number;
  onlineUsers: number;
}

const config = configSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const every = Number(process.argv[3] ?? 2000);
const clock = process.argv[4] === undefined ? undefined : (JSON.parse(process.argv[4]) as { simAt: number; realAt: number; speed: number });
const now = clock === undefined ? Date.now : (): number => Math.round(clock.simAt + (Date.now() - clock.realAt) * clock.speed);
const daemon = await startDaemon(config, { logger: pino({ level: 'warn' }, pino.destination(2)), now });
// Every store call (SQLite runs on this thread) slower than 40 ms is reported on stderr as {"slowStoreCall":…}:
// what blocked the event loop, if anything did.
const store = daemon.store as unknown as Record<string, unknown>;
let depth = 0;
for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(store) as object)) {
  const fn = store[name];
  if (name === 'constructor' || typeof fn !== 'function') continue;
  store[name] = (...args: unknown[]): unknown => {
    const started = performance.now();
    depth++;
    try {
      return (fn as (...a: unknown[]) => unknown).apply(daemon.store, args);
    } finally {
      depth--;
      const ms = performance.now() - started;
      if (depth === 0 && ms > 40) {
        const caller = (new Error().stack ?? '').split('\n').slice(2, 6).map((l) => l.trim().replace(/^at /, '').replace(/\(.*\/src\//, '(src/'));
        process.stderr.write(`${JSON.stringify({ slowStoreCall: name, ms: Math.round(ms), at: Date.now(), caller })}\n`);
      }
    }
  };
}
const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
loop.enable();
let gcMax = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMax = Math.max(gcMax, e.duration);
}).observe({ entryTypes: ['gc'] });
let cpu = process.cpuUsage();
let cpuAt = performance.now();
process.stdout.write(`${JSON.stringify({ ready: true, apiUrl: daemon.apiUrl, webhookUrl: daemon.webhookUrl, pid: process.pid })}\n`);

const timer = setInterval(() => {
  const m = process.memoryUsage();
  const stats: SoakStats = {
    at: Date.now(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    loopDelayMaxMs: Math.max(0, loop.max / 1e6 - RESOLUTION_MS),
    loopDelayP99Ms: Math.max(0, loop.percentile(99) / 1e6 - RESOLUTION_MS),
    gcMaxMs: gcMax,
    cpuShare: (() => {
      const used = process.cpuUsage(cpu);
      const wall = performance.now() - cpuAt;
      cpu = process.cpuUsage();
      cpuAt = performance.now();
      return (used.user + used.system) / 1000 / wall;
    })(),
    load1: loadavg()[0] ?? 0,
    head: daemon.store.headSeq(),
    keys: daemon.engine.keyCount(),
    onlineUsers: daemon.engine.onlineUserCount(),
  };
  loop.reset();
  gcMax = 0;
  process.stdout.write(`${JSON.stringify({ stats })}\n`);
}, every);

process.once('SIGTERM', () => {
  clearInterval(timer);
  daemon.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`close failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});
