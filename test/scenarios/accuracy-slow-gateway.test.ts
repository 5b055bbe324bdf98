import { afterEach, describe, expect, it } from 'vitest';
import type { SimPair } from '../helpers/sim-pair.js';
import { daemonOnlineKeys, diffKeys, eventually, startSimPair, truthKeys } from '../helpers/sim-pair.js';

const SEEDS = [3, 17, 29, 43, 61] as const;

describe('a fresh daemon next to a busy, loss-free OpenIM', () => {
  let pair: SimPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  it.each(SEEDS)('learns who was online as initial_sync, stays healthy, and rides out a slow gateway with zero corrections (seed %i)', async (seed) => {
    pair = await startSimPair(
      {
        users: 120,
        gateways: 2,
        seed,
        speed: 10,
        // OpenIM's webhook timeout, in simulated ms: a busy test machine must not turn slow answers into drops.
        webhookTimeoutMs: 60_000,
        workload: { onlineFraction: 0.5, connectRatePerSec: 1.5, sessionMeanMs: 40_000, multiDeviceProb: 0.2, samePlatformProb: 0.2 },
      },
      // The hold is far longer than the stall, and the confirm delay longer than webhooks take on a busy machine
      // (a webhook slower than the confirm delay cannot be told from a lost one).
      { reconcile: { massGuardMinUsers: 5, massGuardHoldMs: 20_000, confirmDelayMs: 3000, graceMs: 3000 } },
    );
    const p = pair;
    const mismatchKinds = (): string[] => p.daemon.store.listMismatches({ limit: 10_000 }).map((m) => m.kind);

    // Warm-up: the users online before the daemon started are learned by correction, recorded as initial_sync.
    const synced = await eventually(() => mismatchKinds().filter((k) => k === 'initial_sync').length >= 5, 10_000);
    await new Promise((r) => setTimeout(r, 3000));
    if (!synced) console.log('DIAG', JSON.stringify({ kinds: mismatchKinds() }));
    expect(synced).toBe(true);
    expect(mismatchKinds().filter((k) => k === 'missed_online' || k === 'missed_offline')).toEqual([]);
    const health = p.daemon.health.health().webhooks;
    expect(health.entries.filter((e) => e.state === 'silent' || e.state === 'degraded')).toEqual([]);
    expect(health.state).toBe('healthy');

    // Every online user verified by a poll, then gateway 0 stalls (its users read offline) while users churn on.
    const correctionsBefore = p.events.filter((e) => e.source === 'poll').length;
    await new Promise((r) => setTimeout(r, 1500));
    p.sim.setGatewaySlow(0, true);
    const guarded = await eventually(() => mismatchKinds().includes('suspect_poll'), 6000);
    await new Promise((r) => setTimeout(r, 2500));
    p.sim.setGatewaySlow(0, false);
    await new Promise((r) => setTimeout(r, 2500));
    p.sim.pauseWorkload();
    await p.sim.quiesce({ timeoutMs: 20_000 });
    await eventually(() => diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim)).length === 0, 5000);

    expect(guarded).toBe(true);
    const dropped = p.sim.counters().webhooks.dropped;
    expect(dropped).toEqual(Object.fromEntries(Object.keys(dropped).map((k) => [k, 0])));
    const later = p.events.filter((e) => e.source === 'poll').slice(correctionsBefore);
    if (later.length > 0) for (const e of later) console.log('DIAG2', JSON.stringify(e), JSON.stringify(p.daemon.store.getMismatch(e.mismatchID!)), JSON.stringify(p.daemon.store.receiptsForUser(e.userID, 0, 40).map((r) => [r.receivedAt, r.command, r.platformID, r.seq, r.effect])));
    if (later.length > 0) {
      console.log('DIAG3', JSON.stringify(p.daemon.store.listMismatches({ kinds: ['suspect_poll'], limit: 10 })));
      console.log('DIAG4', JSON.stringify(p.daemon.store.recentPollRuns(40).map((r) => [r.id, r.kind, r.startedAt, r.endedAt, r.usersPolled, r.disagreements, r.confirmations, r.note])));
    }
    expect(later.filter((e) => e.type === 'presence.offline')).toEqual([]);
    expect(later).toEqual([]);
    expect(diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim))).toEqual([]);
  });
});
