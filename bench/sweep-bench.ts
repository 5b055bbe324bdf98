/**
 * Benchmark 2, sweep: full poll cycles over N tracked users (10 % online) against the built-in simulator.
 *
 * Three processes: this one orchestrates; the simulator runs in a child (role `sim`) so its CPU is not ours; the
 * measured poll machinery runs in another child (role `sweep`) with the daemon's own services (composeServices of
 * src/daemon/compose-services.ts: SqliteStore, PresenceEngine, PollPlanner, PollReconciler, PollScheduler, the axios
 * OpenIM client) from a Config of the schema's defaults plus the overrides of `sweepConfig`, so its CPU time
 * (process.cpuUsage around the cycle) is ours alone.
 *
 * Figures are of a steady-state cycle: the first cycle over the users (code paths compiled, pools and caches grown)
 * is run and reported apart, the second is measured. RSS per tracked user is what each further user adds: the
 * services first run two cycles over a tenth of the users, then the rest are tracked, and the RSS after the measured
 * cycle (both after a forced GC) minus the RSS after the tenth's cycles is divided by the users added. So the fixed
 * cost of a running daemon under load (modules, the checkpoint worker, SQLite's cache, V8's young generation grown
 * by a cycle's answers) is not counted per user; the figure beside it shows the whole growth over an idle daemon.
 *
 * Steady state: every 10th user is connected in the simulator (platforms iOS, Android, Web in turn, no churn, no
 * webhooks) and the daemon's store holds the same keys online, as after webhooks were received, so the cycle
 * measures the regular work: plan, poll everyone (coverageSeconds = intervalSeconds), verify 10 % online keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Config } from '../src/config/schema.js';
import { configSchema } from '../src/config/schema.js';
import type { Services } from '../src/daemon/compose-services.js';
import { closeServices, composeServices } from '../src/daemon/compose-services.js';
import type { KeyState } from '../src/domain.js';
import { createOpenImClient } from '../src/openim/openim-client.js';
import { startSimulator } from '../src/simulator/index.js';
import type { BenchOutput, Figure } from './report.js';
import { fig, fmtNumber } from './report.js';
import type { EldStats } from './stats.js';
import { mergeEld } from './stats.js';
import type { WorkerRole } from './workers.js';
import { startWorker, withProfile } from './workers.js';

export interface SweepOptions {
  /** Tracked-user counts, one cycle each. */
  sizes: number[];
  /** One user in this many is online (10 → 10 %). */
  onlineEvery: number;
  batchSize: number;
  concurrency: number;
  gateways: number;
  /** Write a CPU profile of each measured cycle here. */
  profileDir?: string;
}

export const SWEEP_FULL: SweepOptions = { sizes: [100_000, 1_000_000], onlineEvery: 10, batchSize: 500, concurrency: 8, gateways: 2 };
export const SWEEP_QUICK: SweepOptions = { sizes: [10_000, 100_000], onlineEvery: 10, batchSize: 500, concurrency: 8, gateways: 2 };

const CPU_TARGET_US = 5;
const RSS_TARGET_B = 300;
const PLATFORMS = [1, 2, 5] as const;

/** The platform user `i` (1-based) is online on, or undefined when offline. Shared by both sides. */
export function onlinePlatformOf(i: number, every: number): number | undefined {
  return i % every === 0 ? PLATFORMS[(i / every) % PLATFORMS.length] : undefined;
}

export interface SimReady {
  apiUrl: string;
  secret: string;
  adminUserID: string;
  online: number;
  setupMs: number;
}

interface SimArg {
  users: number;
  onlineEvery: number;
  gateways: number;
}

/** Role `sim`: the simulator with every `onlineEvery`-th user connected, no workload, no webhooks. */
export async function simRole(arg: unknown): Promise<WorkerRole> {
  const a = arg as SimArg;
  const started = performance.now();
  const sim = await startSimulator({ users: a.users, gateways: a.gateways, workload: false, seed: 1 });
  let online = 0;
  for (let i = a.onlineEvery; i <= a.users; i += a.onlineEvery) {
    sim.connect(`u${i}`, onlinePlatformOf(i, a.onlineEvery)!);
    online++;
  }
  const ready: SimReady = { apiUrl: sim.apiUrl, secret: sim.secret, adminUserID: sim.adminUserID, online, setupMs: performance.now() - started };
  return { ready, commands: { counters: () => sim.counters().api }, close: () => sim.close() };
}

interface SweepArg extends SimArg {
  apiUrl: string;
  secret: string;
  adminUserID: string;
  batchSize: number;
  concurrency: number;
}

export interface SweepSetup {
  tracked: number;
  onlineKeys: number;
  setupMs: number;
  /** RSS of the process before the services were composed. */
  rssBaseline: number;
  /** RSS once the services are composed, before any cycle (no forced GC). */
  rssAfterSetup: number;
}

export interface SweepTracked {
  tracked: number;
  onlineKeys: number;
  trackMs: number;
}

export interface MemoryAfterGc {
  rss: number;
  heapUsed: number;
}

export interface SweepCycle {
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  usersPolled: number;
  requests: number;
  errors: number;
  disagreements: number;
  /** RSS of the same services with no user tracked, after an empty cycle and a forced GC. */
  rssBaseline: number;
  rssAfterCycle: number;
  heapUsedAfterCycle: number;
  maxRssKb: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * The daemon's configuration for the measured side: the schema's defaults, polling the simulator with every tracked
 * user in each cycle (coverage = interval) under a request budget that never waits, discovery off.
 */
function sweepConfig(a: SweepArg, storePath: string): Config {
  return configSchema.parse({
    openim: { apiUrl: a.apiUrl, secret: a.secret, adminUserID: a.adminUserID, operationIDPrefix: 'bench', timeoutMs: 30_000, batchSize: a.batchSize, concurrency: a.concurrency },
    poll: { enabled: true, intervalSeconds: 30, coverageSeconds: 30, requestsPerSecond: 10_000, discoveryEnabled: false },
    store: { path: storePath },
    log: { level: 'silent' },
  });
}

/**
 * Role `sweep`: the measured side. `setup` tracks the users and seeds the online keys; `cycle` runs one poll cycle
 * through PollScheduler.runCycle() and reports wall time, CPU and RSS.
 */
export function sweepRole(arg: unknown): Promise<WorkerRole> {
  const a = arg as SweepArg;
  const dir = mkdtempSync(join(tmpdir(), 'opr-bench-sweep-'));
  const log = pino({ level: 'silent' });
  gc();
  const rssBaseline = process.memoryUsage().rss;
  /** RSS of the running services with no user tracked (set by `baseline`). */
  let rssEmpty = 0;
  let services: Services | undefined;

  const setup = (): SweepSetup => {
    const started = performance.now();
    const storePath = join(dir, 'presence.db');
    services = composeServices(sweepConfig(a, storePath), { logger: log });
    return { tracked: 0, onlineKeys: 0, setupMs: performance.now() - started, rssBaseline, rssAfterSetup: process.memoryUsage().rss };
  };

  /**
   * Tracks users `from`..`to` (1-based) and sets their online keys as webhooks would have left them, through the
   * engine (their writer).
   */
  const track = (range: { from: number; to: number }): SweepTracked => {
    if (!services) throw new Error('call setup first');
    const { engine, store } = services;
    const started = performance.now();
    const now = Date.now();
    const chunk: string[] = [];
    for (let i = range.from; i <= range.to; i++) {
      chunk.push(`u${i}`);
      if (chunk.length === 50_000 || i === range.to) {
        engine.trackUsers(chunk, 'discovery', now);
        chunk.length = 0;
      }
    }
    // The online keys as webhooks would have left them (an hour ago, verified by the last cycle).
    const keys: KeyState[] = [];
    for (let i = Math.ceil(range.from / a.onlineEvery) * a.onlineEvery; i <= range.to; i += a.onlineEvery) {
      keys.push({
        userID: `u${i}`,
        platformID: onlinePlatformOf(i, a.onlineEvery)!,
        online: true,
        changedAt: now - 3_600_000,
        lastWebhookAt: now - 3_600_000,
        lastOnlineWebhookAt: now - 3_600_000,
        lastOnlineSeq: now - 3_600_000,
        lastVerifiedAt: now - 30_000,
        pendingOffline: null,
        correction: null,
      });
    }
    engine.saveKeyStates(keys);
    return { tracked: store.countTrackedUsers(), onlineKeys: keys.length, trackMs: performance.now() - started };
  };

  /** An empty cycle (nobody tracked yet), then a forced GC: the RSS of the running services without users. */
  const baseline = async (): Promise<{ rss: number }> => {
    const scheduler = services?.polling?.scheduler;
    if (!scheduler) throw new Error('call setup first');
    await scheduler.runCycle();
    gc();
    rssEmpty = process.memoryUsage().rss;
    return { rss: rssEmpty };
  };

  return Promise.resolve({
    ready: { pid: process.pid },
    commands: {
      setup: () => setup(),
      track: (range: unknown) => track(range as { from: number; to: number }),
      /**
       * A forced GC, then RSS and live heap: what stays. A command of its own, called after the event-loop figures
       * were read, so the forced pause is not counted as a stall of the cycle.
       */
      memoryAfterGc: (): MemoryAfterGc => {
        gc();
        const m = process.memoryUsage();
        return { rss: m.rss, heapUsed: m.heapUsed };
      },
      baseline: () => baseline(),
      /** Fetches the admin token and opens a connection (a running daemon has both). */
      warm: async () => {
        const api = createOpenImClient({ apiUrl: a.apiUrl, secret: a.secret, adminUserID: a.adminUserID, operationIDPrefix: 'warm', timeoutMs: 5000, retries: 0, batchSize: 10, concurrency: 1 });
        await api.getUsersOnlineStatus(['u1']);
        api.close();
        return null;
      },
      cycle: async (): Promise<SweepCycle> => {
        const scheduler = services?.polling?.scheduler;
        if (!services || !scheduler) throw new Error('call setup first');
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await scheduler.runCycle();
        const wallMs = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const mem = process.memoryUsage();
        const run = services.store.recentPollRuns(1, 'cycle')[0];
        return {
          wallMs,
          cpuUserMs: cpu.user / 1000,
          cpuSystemMs: cpu.system / 1000,
          usersPolled: run?.usersPolled ?? 0,
          requests: run?.requests ?? 0,
          errors: run?.errors ?? 0,
          disagreements: run?.disagreements ?? 0,
          rssBaseline: rssEmpty,
          rssAfterCycle: mem.rss,
          heapUsedAfterCycle: mem.heapUsed,
          maxRssKb: process.resourceUsage().maxRSS,
        };
      },
    },
    close: async () => {
      if (services) await closeServices(services, log);
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

export async function sweepBench(o: SweepOptions): Promise<BenchOutput> {
  const figures: Figure[] = [];
  const details: Record<string, unknown> = { options: o };
  const elds: EldStats[] = [];
  for (const users of o.sizes) {
    const label = users >= 1_000_000 ? `${users / 1_000_000}M` : `${users / 1000}k`;
    const sim = await startWorker<SimReady>('sim', { users, onlineEvery: o.onlineEvery, gateways: o.gateways } satisfies SimArg, { readyTimeoutMs: 300_000 });
    try {
      const w = await startWorker('sweep', { ...sim.ready, users, onlineEvery: o.onlineEvery, gateways: o.gateways, batchSize: o.batchSize, concurrency: o.concurrency } satisfies SweepArg, {
        execArgv: ['--expose-gc'],
      });
      try {
        const s = await w.call<SweepSetup>('setup');
        await w.call('warm');
        await w.call('baseline');
        // A tenth of the users, two cycles: the daemon under load with few users.
        const tenth = Math.floor(users / 10);
        await w.call<SweepTracked>('track', { from: 1, to: tenth });
        await w.call<SweepCycle>('cycle');
        await w.call<SweepCycle>('cycle');
        const few = await w.call<MemoryAfterGc>('memoryAfterGc');
        const t = await w.call<SweepTracked>('track', { from: tenth + 1, to: users });
        const first = await w.call<SweepCycle>('cycle');
        await w.eld();
        const c = await withProfile(w, o.profileDir, `sweep-${label}`, () => w.call<SweepCycle>('cycle'));
        const eld = await w.eld();
        elds.push(eld);
        const after = await w.call<MemoryAfterGc>('memoryAfterGc');
        const cpuMs = c.cpuUserMs + c.cpuSystemMs;
        const cpuPerUserUs = (cpuMs * 1000) / Math.max(1, c.usersPolled);
        // What each further user adds, both sides after a forced GC (see the header).
        const rssPerUser = after.rss - few.rss;
        const rssPerAddedUser = rssPerUser / (users - tenth);
        const completed = c.usersPolled === users && c.errors === 0;
        figures.push(
          fig('sweep', `sweep.${label}.wall`, `sweep ${label} users: one full cycle, wall time`, c.wallMs / 1000, 's', {
            baseline: completed ? 'completes' : `${c.usersPolled} of ${users} polled, ${c.errors} failed batches`,
            holds: completed,
          }),
          fig('sweep', `sweep.${label}.requests`, `sweep ${label} users: status requests`, c.requests, '', {
            baseline: `${fmtNumber(Math.ceil(users / o.batchSize))} needed at ${o.batchSize}/request`,
            digits: 0,
          }),
          fig('sweep', `sweep.${label}.cpuPerUser`, `sweep ${label} users: our CPU per polled user, steady state`, cpuPerUserUs, 'µs', {
            baseline: `≤ ${CPU_TARGET_US} µs (total ${fmtNumber(cpuMs)} ms; first cycle ${fmtNumber(((first.cpuUserMs + first.cpuSystemMs) * 1000) / Math.max(1, first.usersPolled))} µs)`,
            holds: cpuPerUserUs <= CPU_TARGET_US,
          }),
          fig('sweep', `sweep.${label}.rssPerUser`, `sweep ${label} users: RSS per tracked user, steady state`, rssPerAddedUser, 'B', {
            baseline: `≤ ${RSS_TARGET_B} B (from ${fmtNumber(tenth)} to ${fmtNumber(users)} users; live heap ${fmtNumber((after.heapUsed - few.heapUsed) / (users - tenth))} B per added user; the whole growth over the idle daemon's ${fmtNumber(c.rssBaseline / 1048576)} MB is ${fmtNumber((c.rssAfterCycle - c.rssBaseline) / 1048576)} MB, ${fmtNumber((c.rssAfterCycle - c.rssBaseline) / users)} B per user)`,
            holds: rssPerAddedUser <= RSS_TARGET_B,
          }),
        );
        details[label] = { setup: s, tracked: t, firstCycle: first, cycle: c, memoryAfterGc: { few, after }, eld, sim: { setupMs: sim.ready.setupMs, online: sim.ready.online, api: await sim.call('counters') } };
      } finally {
        await w.stop();
      }
    } finally {
      await sim.stop();
    }
  }
  return { figures, eld: elds.length > 0 ? mergeEld(elds) : null, details };
}
