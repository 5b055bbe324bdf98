/**
 * Benchmark 3, correction latency with 100 % of webhooks lost: the time from a real change in the simulator
 * (connect/disconnect through its in-process API) to the daemon's corrective event on its bus
 * (`events:committed`, source `poll`), beside poll interval + grace + confirm delay.
 *
 * The simulator and the daemon share one child process (role `correction`), wired as test/helpers/sim-pair.ts
 * wires them: the simulator posts webhooks to the daemon's listener, but with `loss: 1` every one is dropped.
 * Changes come one at a time at random gaps, so they fall at random phases of the poll schedule; each user has at
 * most one platform online, so every disconnect is decided by the live view alone.
 */
import type { PresenceEvent } from '../src/domain.js';
import { startSimulator } from '../src/simulator/index.js';
import { freePort } from './free-port.js';
import { prng } from './load.js';
import type { BenchOutput } from './report.js';
import { fig, fmtNumber } from './report.js';
import { BENCH_PATH_SECRET, startBenchDaemon } from './roles.js';
import { Samples, sleep } from './stats.js';
import type { WorkerRole } from './workers.js';
import { startWorker, withProfile } from './workers.js';

export interface CorrectionOptions {
  users: number;
  changes: number;
  intervalSeconds: number;
  graceMs: number;
  confirmDelayMs: number;
  /** Random gap between two changes, uniform in [gapMinMs, gapMaxMs]. */
  gapMinMs: number;
  gapMaxMs: number;
  /** Write a CPU profile of the measured run here. */
  profileDir?: string;
}

export const CORRECTION_FULL: CorrectionOptions = { users: 2000, changes: 150, intervalSeconds: 1, graceMs: 500, confirmDelayMs: 500, gapMinMs: 50, gapMaxMs: 350 };
export const CORRECTION_QUICK: CorrectionOptions = { users: 500, changes: 15, intervalSeconds: 1, graceMs: 500, confirmDelayMs: 500, gapMinMs: 50, gapMaxMs: 350 };

export interface CorrectionResult {
  latenciesMs: number[];
  missing: number;
  /** Events with source `webhook` (must be 0: every webhook is lost). */
  webhookEvents: number;
  /** Corrective events for keys that had no pending change (must be 0). */
  unexpected: number;
  connects: number;
  disconnects: number;
}

/** Role `correction`: the simulator and the daemon in this process; command `run` makes the changes. */
export async function correctionRole(arg: unknown): Promise<WorkerRole> {
  const o = arg as CorrectionOptions;
  const port = await freePort();
  const sim = await startSimulator({
    users: o.users,
    gateways: 2,
    workload: false,
    loss: 1,
    seed: 3,
    webhookUrl: `http://127.0.0.1:${port}/${BENCH_PATH_SECRET}`,
  });
  const d = await startBenchDaemon({
    openim: { apiUrl: sim.apiUrl, secret: sim.secret, retries: 1, timeoutMs: 2000, batchSize: 500, concurrency: 4 },
    webhook: { port },
    poll: {
      enabled: true,
      intervalSeconds: o.intervalSeconds,
      coverageSeconds: o.intervalSeconds,
      requestsPerSecond: 1000,
      discoveryEnabled: true,
      discoveryIntervalSeconds: 3600,
    },
    reconcile: { graceMs: o.graceMs, confirmDelayMs: o.confirmDelayMs },
  }).catch(async (e: unknown) => {
    await sim.close();
    throw e;
  });
  const poller = d.daemon.poller!;
  // Discovery tracks every user; then one cycle verifies the (all offline) world.
  const deadline = Date.now() + 60_000;
  while ((poller.status().lastDiscoveryAt === null || poller.status().trackedUsers < o.users) && Date.now() < deadline) await sleep(50);
  const cycles = poller.status().cycles;
  while (poller.status().cycles < cycles + 1 && Date.now() < deadline) await sleep(50);

  const run = async (): Promise<CorrectionResult> => {
    const rnd = prng(11);
    const pending = new Map<string, { at: number; toOnline: boolean }>();
    const onlineUsers = new Map<string, number>();
    const latencies: number[] = [];
    let webhookEvents = 0;
    let unexpected = 0;
    let connects = 0;
    let disconnects = 0;
    const off = d.daemon.bus.on('events:committed', (evs: PresenceEvent[]) => {
      const at = performance.now();
      for (const e of evs) {
        if (e.source !== 'poll') {
          webhookEvents++;
          continue;
        }
        const key = `${e.userID}:${e.platformID}`;
        const p = pending.get(key);
        if (p && p.toOnline === (e.type === 'presence.online')) {
          latencies.push(at - p.at);
          pending.delete(key);
        } else unexpected++;
      }
    });
    try {
      for (let i = 0; i < o.changes; i++) {
        const disconnect = onlineUsers.size > 0 && rnd() < 0.5;
        if (disconnect) {
          const candidates = [...onlineUsers].filter(([u, p]) => !pending.has(`${u}:${p}`));
          const pick = candidates[Math.floor(rnd() * candidates.length)];
          if (pick) {
            const [userID, platformID] = pick;
            sim.disconnect(userID, platformID);
            onlineUsers.delete(userID);
            pending.set(`${userID}:${platformID}`, { at: performance.now(), toOnline: false });
            disconnects++;
          }
        }
        if (!disconnect) {
          let userID = '';
          for (let tries = 0; tries < 100; tries++) {
            const u = `u${1 + Math.floor(rnd() * o.users)}`;
            if (!onlineUsers.has(u) && ![1, 2, 5].some((p) => pending.has(`${u}:${p}`))) {
              userID = u;
              break;
            }
          }
          if (userID !== '') {
            const platformID = [1, 2, 5][Math.floor(rnd() * 3)]!;
            sim.connect(userID, platformID);
            onlineUsers.set(userID, platformID);
            pending.set(`${userID}:${platformID}`, { at: performance.now(), toOnline: true });
            connects++;
          }
        }
        await sleep(o.gapMinMs + rnd() * (o.gapMaxMs - o.gapMinMs));
      }
      const waitUntil = Date.now() + o.intervalSeconds * 1000 + o.graceMs + o.confirmDelayMs + 5000;
      while (pending.size > 0 && Date.now() < waitUntil) await sleep(20);
    } finally {
      off();
    }
    return { latenciesMs: latencies, missing: pending.size, webhookEvents, unexpected, connects, disconnects };
  };

  return {
    ready: { apiUrl: d.daemon.apiUrl },
    commands: { run: () => run() },
    close: async () => {
      await d.close();
      await sim.close();
    },
  };
}

export async function correctionBench(o: CorrectionOptions): Promise<BenchOutput> {
  const w = await startWorker('correction', o);
  try {
    await w.eld();
    const r = await withProfile(w, o.profileDir, 'correction', () => w.call<CorrectionResult>('run'));
    const eld = await w.eld();
    const s = new Samples();
    s.addAll(r.latenciesMs);
    const sum = o.intervalSeconds * 1000 + o.graceMs + o.confirmDelayMs;
    const target = sum + 1000;
    const p99 = s.percentile(99);
    const sumText = `interval ${o.intervalSeconds * 1000} + grace ${o.graceMs} + confirm ${o.confirmDelayMs} = ${sum} ms`;
    const complete = r.missing === 0 && r.unexpected === 0 && r.webhookEvents === 0;
    const figures = [
      fig('correction', 'correction.p50', `correction latency, 100 % webhooks lost: p50 (${s.count} changes)`, s.percentile(50), 'ms', { baseline: sumText, digits: 0 }),
      fig('correction', 'correction.p99', 'correction latency, 100 % webhooks lost: p99', p99, 'ms', {
        baseline: `≤ ${fmtNumber(target)} ms (sum + 1 s)`,
        holds: p99 <= target && complete,
        digits: 0,
      }),
      fig('correction', 'correction.max', 'correction latency, 100 % webhooks lost: max', s.max(), 'ms', { digits: 0 }),
      fig('correction', 'correction.missing', 'correction: changes never corrected (+ wrong events)', r.missing + r.unexpected + r.webhookEvents, '', {
        baseline: '0',
        holds: complete,
        digits: 0,
      }),
    ];
    return { figures, eld, details: { options: o, result: { ...r, latenciesMs: undefined }, summary: s.summary() } };
  } finally {
    await w.stop();
  }
}
