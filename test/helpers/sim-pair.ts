import type { Daemon } from '../../src/daemon/daemon.js';
import type { PresenceEvent } from '../../src/domain.js';
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js';
import { startSimulator } from '../../src/simulator/index.js';
import { startTestDaemon, TEST_PATH_SECRET } from './daemon-fixture.js';
import { freePort } from './free-port.js';

type DaemonOverrides = Parameters<typeof startTestDaemon>[0];

/** A free loopback port (the daemon's webhook listener must be known before the simulator starts). */
export { freePort };

export interface SimPair {
  sim: Simulator;
  daemon: Daemon & { cleanupDir: () => void };
  /** Every event the daemon committed, in order. */
  events: PresenceEvent[];
  close(): Promise<void>;
}

/** Fast reconcile timings for tests: poll every second, short settle, grace, confirm and guard hold. */
export const FAST_RECONCILE = { settleMs: 300, graceMs: 800, confirmDelayMs: 400, massGuardHoldMs: 4000, massGuardMinUsers: 5 };

/** Starts the simulator posting webhooks to a daemon that polls it, both on loopback. */
export async function startSimPair(simOptions: SimulatorOptions, daemonOverrides: DaemonOverrides = {}): Promise<SimPair> {
  const port = await freePort();
  const sim = await startSimulator({ ...simOptions, webhookUrl: `http://127.0.0.1:${port}/${TEST_PATH_SECRET}` });
  const daemon = await startTestDaemon({
    ...daemonOverrides,
    openim: { apiUrl: sim.apiUrl, secret: sim.secret, retries: 1, timeoutMs: 2000, ...daemonOverrides.openim },
    webhook: { port, ...daemonOverrides.webhook },
    poll: { enabled: true, intervalSeconds: 1, coverageSeconds: 1, discoveryIntervalSeconds: 10, requestsPerSecond: 1000, ...daemonOverrides.poll },
    reconcile: { ...FAST_RECONCILE, ...daemonOverrides.reconcile },
  }).catch(async (e: unknown) => {
    await sim.close();
    throw e;
  });
  const events: PresenceEvent[] = [];
  daemon.bus.on('events:committed', (evs) => events.push(...evs));
  return {
    sim,
    daemon,
    events,
    close: async () => {
      await daemon.close();
      await sim.close();
      daemon.cleanupDir();
    },
  };
}

/** Keys `user:platform` the daemon believes online. */
export function daemonOnlineKeys(daemon: Daemon): Set<string> {
  const out = new Set<string>();
  let after: { userID: string; platformID: number } | null = null;
  for (;;) {
    const page = daemon.store.presencePage(after, 5000, true);
    for (const r of page) out.add(`${r.userID}:${r.platformID}`);
    if (page.length < 5000) return out;
    const last = page[page.length - 1]!;
    after = { userID: last.userID, platformID: last.platformID };
  }
}

export function truthKeys(sim: Simulator): Set<string> {
  return new Set(sim.truth().map((t) => `${t.userID}:${t.platformID}`));
}

/** Keys where the two sets differ. */
export function diffKeys(a: Set<string>, b: Set<string>): string[] {
  return [...[...a].filter((k) => !b.has(k)).map((k) => `+${k}`), ...[...b].filter((k) => !a.has(k)).map((k) => `-${k}`)];
}

/** Polls `check` every 100 ms until it returns true or `ms` passes; returns whether it became true. */
export async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

/** Keys whose events do not alternate online/offline, starting from offline. */
export function nonAlternatingKeys(events: readonly PresenceEvent[]): string[] {
  const last = new Map<string, boolean>();
  const bad = new Set<string>();
  for (const e of events) {
    const k = `${e.userID}:${e.platformID}`;
    const online = e.type === 'presence.online';
    if ((last.get(k) ?? false) === online) bad.add(k);
    last.set(k, online);
  }
  return [...bad];
}
