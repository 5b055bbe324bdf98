/**
 * A discrete-event world for the poll reconciler: a truth of who is connected where, webhooks delivered after a
 * delay (or lost), a live status API that answers after a latency and reads a stalled gateway's users as offline,
 * node-cron-like cycles that never overlap, and confirm polls run on the same simulated clock. Everything runs on
 * one fake clock, so any timing configuration can be tried in milliseconds of real time.
 */
import pino from 'pino';
import type { Mismatch, PresenceEvent } from '../../src/domain.js';
import { EventBus } from '../../src/engine/event-bus.js';
import { PresenceEngine } from '../../src/engine/presence-engine.js';
import type { OnlineStatusResult, OpenImApi, UserOnlineStatus, UserRedisStatus } from '../../src/openim/types.js';
import { PollReconciler } from '../../src/poller/poll-reconciler.js';
import type { ScheduleFn } from '../../src/poller/poll-reconciler.js';
import { Prng } from '../../src/simulator/prng.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

export interface WorldConfig {
  seed: number;
  users: number;
  /** Gateways users are spread over (user i lives on gateway i % gateways). */
  gateways: number;
  durationMs: number;
  /** Mean time between a user's presence changes. */
  changeEveryMs: number;
  intervalMs: number;
  confirmDelayMs: number;
  graceMs: number;
  settleMs: number;
  /** Status requests answer after a latency drawn from [min, max]: cycles can outlast the interval. */
  latencyMs: readonly [number, number];
  pageSize: number;
  pagesInFlight: number;
  /** Webhooks arrive after a delay drawn from [min, max]; per key they keep their order. */
  webhookDelayMs: readonly [number, number];
  loss: number;
  /**
   * Share of changes that send OpenIM's online+offline pair of one seq instead (one of two connections on a platform
   * closed, or a connection opened and closed within one flush): ambiguous until a poll decides.
   */
  pairShare?: number;
  massGuardShare: number;
  massGuardMinUsers: number;
  massGuardHoldMs: number;
  /** A gateway whose users read offline in the live view (a swallowed error) for a while. */
  stall?: { gateway: number; fromMs: number; durationMs: number };
  /** Users of the stalled gateway that connect at the start and never change: the mass the guard needs to see. */
  anchors?: number;
}

export interface WorldResult {
  events: PresenceEvent[];
  mismatches: Mismatch[];
  /** Corrections whose new state was not the truth when they were published. */
  wrongCorrections: PresenceEvent[];
  /** Keys where the stream's final state differs from the truth. */
  diverged: string[];
  cycles: number;
  transitions: number;
  webhooksLost: number;
}

const PLATFORMS = [1, 2, 5] as const;
const START = 1_700_000_000_000;

interface Timed {
  at: number;
  order: number;
  run: () => void;
}

/** Lets promise chains and setImmediate callbacks of the reconciler run to their next wait. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
}

export async function runWorld(c: WorldConfig): Promise<WorldResult> {
  const prng = new Prng(c.seed);
  const random = (): number => prng.next();
  const between = (range: readonly [number, number]): number => range[0] + Math.floor(random() * (range[1] - range[0] + 1));
  let now = START;
  let order = 0;
  const queue: Timed[] = [];
  const at = (time: number, run: () => void): (() => void) => {
    const item: Timed = { at: Math.max(time, now), order: order++, run };
    queue.push(item);
    return () => {
      const i = queue.indexOf(item);
      if (i >= 0) queue.splice(i, 1);
    };
  };

  // Truth: the platforms each user is connected on, and the history of each key for the wrong-correction check.
  const truth = new Map<string, Set<number>>();
  const history = new Map<string, { at: number; online: boolean }[]>();
  const userIDs = Array.from({ length: c.users }, (_, i) => `u${i}`);
  const gatewayOf = (userID: string): number => Number(userID.slice(1)) % c.gateways;
  const truthAt = (userID: string, platformID: number, time: number): boolean => {
    let online = false;
    for (const h of history.get(`${userID}:${platformID}`) ?? []) if (h.at <= time) online = h.online;
    return online;
  };
  const stalled = (userID: string): boolean =>
    c.stall !== undefined && gatewayOf(userID) === c.stall.gateway && now >= START + c.stall.fromMs && now < START + c.stall.fromMs + c.stall.durationMs;

  const store = new SqliteStore({ path: ':memory:' });
  const log = pino({ level: 'silent' });
  // As the daemon sets it: a skipped cycle and a slow answer still leave time for a poll to decide a pair.
  const ambiguousHoldMs = Math.max(c.settleMs, 3 * c.intervalMs + c.confirmDelayMs + 2 * c.latencyMs[1]);
  const reconcile = { settleMs: c.settleMs, graceMs: c.graceMs, lateWindowMs: 300_000, ambiguousHoldMs };
  const clock = (): number => now;
  const engine = new PresenceEngine(store, new EventBus(), { ...reconcile, mode: 'active' }, log, clock);

  const live: OpenImApi = {
    getUsersOnlineStatus(ids: readonly string[]): Promise<OnlineStatusResult> {
      return new Promise((resolve) => {
        at(now + between(c.latencyMs), () => {
          // The live view is read when the answer is built, at the end of the latency.
          const statuses: UserOnlineStatus[] = ids.map((userID) => {
            const platforms = stalled(userID) ? [] : [...(truth.get(userID) ?? [])].sort((x, y) => x - y);
            return { userID, online: platforms.length > 0, platforms: platforms.map((platformID) => ({ platformID, connections: 1 })) };
          });
          resolve({ statuses, failed: [], form: 'numeric', requests: 1 });
        });
      });
    },
    getUsersStatus(ids: readonly string[]): Promise<UserRedisStatus[]> {
      // OpenIM's Redis view still lists a slow gateway's users.
      return Promise.resolve(ids.map((userID) => ({ userID, online: (truth.get(userID)?.size ?? 0) > 0, platformIDs: [...(truth.get(userID) ?? [])] })));
    },
    async *allUserIDs(): AsyncIterable<string> {},
    probe: () => Promise.reject(new Error('not used')),
    close: () => undefined,
  };
  const schedule: ScheduleFn = (fn, ms) => at(now + ms, fn);
  const rec = new PollReconciler(
    { engine, store, api: live, bus: new EventBus(), log, now: clock, schedule },
    {
      ...reconcile,
      confirmDelayMs: c.confirmDelayMs,
      massGuardShare: c.massGuardShare,
      massGuardMinUsers: c.massGuardMinUsers,
      massGuardHoldMs: c.massGuardHoldMs,
      mode: 'active',
      pagesInFlight: c.pagesInFlight,
    },
  );

  // Presence changes and the webhooks that report them.
  const lastDelivery = new Map<string, number>();
  let transitions = 0;
  let webhooksLost = 0;
  const record = (userID: string, platformID: number, online: boolean, time: number): void => {
    let set = truth.get(userID);
    if (!set) truth.set(userID, (set = new Set()));
    if (online) set.add(platformID);
    else set.delete(platformID);
    const key = `${userID}:${platformID}`;
    let h = history.get(key);
    if (!h) history.set(key, (h = []));
    h.push({ at: time, online });
    transitions++;
  };
  /** Sends the webhooks of one change (one batch of one seq), unless lost. */
  const send = (userID: string, platformID: number, commands: readonly ('online' | 'offline')[]): void => {
    const key = `${userID}:${platformID}`;
    const seq = now;
    if (random() < c.loss) {
      webhooksLost += commands.length;
      return;
    }
    const deliverAt = Math.max(now + between(c.webhookDelayMs), (lastDelivery.get(key) ?? 0) + 1);
    lastDelivery.set(key, deliverAt);
    at(deliverAt, () => {
      engine.ingest(
        commands.map((cmd) => {
          const callbackCommand = cmd === 'online' ? 'callbackAfterUserOnlineCommand' : 'callbackAfterUserOfflineCommand';
          const body = { callbackCommand, operationID: `op_${order}`, platformID, platform: 'x', userID, seq, isAppBackground: false, connID: '' } as const;
          return { webhook: body, body: JSON.stringify(body), receivedAt: now, remoteAddress: '127.0.0.1' };
        }),
      );
      at(now + c.settleMs, () => engine.settleDue());
      at(now + ambiguousHoldMs, () => engine.settleDue());
    });
  };
  const change = (userID: string, platformID: number): void => {
    const online = !(truth.get(userID)?.has(platformID) ?? false);
    if (random() < (c.pairShare ?? 0)) {
      // Online then offline of one seq: a second connection closed (the key stays online), or a flap (it ends offline).
      if (online) {
        record(userID, platformID, true, now);
        record(userID, platformID, false, now + 1);
      }
      send(userID, platformID, ['online', 'offline']);
      return;
    }
    record(userID, platformID, online, now);
    send(userID, platformID, [online ? 'online' : 'offline']);
  };

  const anchors = c.stall ? userIDs.filter((u) => gatewayOf(u) === c.stall!.gateway).slice(0, c.anchors ?? 0) : [];
  const churning = userIDs.filter((u) => !anchors.includes(u));
  for (const u of anchors) {
    at(START + 1 + Number(u.slice(1)), () => {
      record(u, 1, true, now);
      send(u, 1, ['online']);
    });
  }
  const end = START + c.durationMs;
  for (const u of churning) {
    let t = START + Math.floor(random() * c.changeEveryMs);
    while (t < end) {
      const platformID = PLATFORMS[Math.floor(random() * PLATFORMS.length)]!;
      at(t, () => change(u, platformID));
      t += 1 + Math.floor(-Math.log(1 - random()) * c.changeEveryMs);
    }
  }

  // Cycles every interval, never overlapping, until the end plus a quiet tail long enough to converge.
  const quietEnd = end + 4 * (c.intervalMs + c.latencyMs[1] * Math.ceil(c.users / c.pageSize)) + c.confirmDelayMs + c.graceMs + c.massGuardHoldMs;
  let cycles = 0;
  let running = false;
  for (let t = START; t < quietEnd; t += c.intervalMs) {
    at(t, () => {
      if (running) return;
      running = true;
      cycles++;
      void rec.pollCycle(userIDs, cycles, c.pageSize).finally(() => (running = false));
    });
  }

  // The committed events, in order, checked against the truth at the moment each correction was published.
  const wrongCorrections: PresenceEvent[] = [];
  const events: PresenceEvent[] = [];
  let seen = 0;
  const collect = (): void => {
    for (const e of store.readEvents(seen, 10_000)) {
      seen = e.seq;
      events.push(e);
      if (e.source === 'poll' && truthAt(e.userID, e.platformID, e.recordedAt) !== (e.type === 'presence.online')) wrongCorrections.push(e);
    }
  };

  while (queue.length > 0) {
    let next = 0;
    for (let i = 1; i < queue.length; i++) {
      const q = queue[i]!;
      const b = queue[next]!;
      if (q.at < b.at || (q.at === b.at && q.order < b.order)) next = i;
    }
    const item = queue.splice(next, 1)[0]!;
    if (item.at > quietEnd + 600_000) break;
    now = item.at;
    item.run();
    await settle();
    collect();
  }
  await rec.close();
  collect();

  const diverged: string[] = [];
  for (const u of userIDs) {
    for (const p of PLATFORMS) {
      const believed = engine.key(u, p)?.online ?? false;
      if (believed !== (truth.get(u)?.has(p) ?? false)) diverged.push(`${u}:${p}`);
    }
  }
  const mismatches = store.listMismatches({ limit: 100_000 });
  store.close();
  return { events, mismatches, wrongCorrections, diverged, cycles, transitions, webhooksLost };
}
