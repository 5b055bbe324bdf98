import { afterEach, describe, expect, it } from 'vitest';
import type { Mismatch } from '../../src/domain.js';
import type { SimPair } from '../helpers/sim-pair.js';
import { daemonOnlineKeys, diffKeys, eventually, nonAlternatingKeys, startSimPair, truthKeys } from '../helpers/sim-pair.js';

const CHURN = {
  users: 150,
  gateways: 2,
  seed: 7,
  speed: 10,
  workload: { onlineFraction: 0, connectRatePerSec: 1.5, sessionMeanMs: 30_000, multiDeviceProb: 0.3, samePlatformProb: 0.3 },
} as const;

/** Lets churn run, then stops it and waits until the simulator has delivered or dropped everything. */
async function churnThenQuiesce(pair: SimPair, churnMs: number): Promise<void> {
  await new Promise((r) => setTimeout(r, churnMs));
  pair.sim.pauseWorkload();
  await pair.sim.quiesce({ timeoutMs: 20_000 });
}

/**
 * Corrections whose new state disagreed with the simulator's truth when they were decided. Read when the mismatch is
 * recorded (right after the commit), not when the event is published (after the fsync): the truth may change in
 * between, and a busy machine makes that window long.
 */
function watchWrongCorrections(pair: SimPair): Mismatch[] {
  const wrong: Mismatch[] = [];
  pair.daemon.bus.on('mismatch:recorded', (m) => {
    if ((m.kind !== 'missed_online' && m.kind !== 'missed_offline') || m.eventSeq === null || m.platformID === null) return;
    const online = pair.sim.truthOf(m.userID).some((t) => t.platformID === m.platformID);
    if (online !== (m.kind === 'missed_online')) wrong.push(m);
  });
  return wrong;
}

describe('reconciling webhooks with the live status API', () => {
  let pair: SimPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  describe('when no webhook is lost', () => {
    it('follows many cycles of churn with zero corrections', async () => {
      // Confirm and grace windows longer than webhooks take on a busy machine (a webhook slower than the confirm
      // delay cannot be told from a lost one), and an OpenIM webhook timeout that slow answers never turn into drops.
      pair = await startSimPair({ ...CHURN, webhookTimeoutMs: 60_000 }, { reconcile: { confirmDelayMs: 1500, graceMs: 1500 } });
      await churnThenQuiesce(pair, 6000);
      const p = pair;
      const converged = await eventually(() => diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim)).length === 0, 5000);
      expect(diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim))).toEqual([]);
      expect(converged).toBe(true);
      expect(p.events.length).toBeGreaterThan(20);
      const explain = p.events
        .filter((e) => e.source === 'poll')
        .map((e) => ({ e, evidence: p.daemon.store.getMismatch(e.mismatchID!)?.evidence, receipts: p.daemon.store.receiptsForUser(e.userID, 0, 50).map((r) => `${r.receivedAt} ${r.command} ${r.platformID} ${r.seq} ${r.effect}`) }));
      expect(explain).toEqual([]);
      expect(nonAlternatingKeys(p.events)).toEqual([]);
    });
  });

  describe('when 30 % of webhooks are lost, some duplicated, reordered and clock-skewed', () => {
    it('converges to the truth with only right corrections and an alternating stream', async () => {
      pair = await startSimPair({ ...CHURN, loss: 0.3, duplication: 0.1, reorderMs: 300, clockSkewMs: [2000, -2000] });
      const wrong = watchWrongCorrections(pair);
      await churnThenQuiesce(pair, 6000);
      const p = pair;
      const converged = await eventually(() => diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim)).length === 0, 15_000);
      expect(diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim))).toEqual([]);
      expect(converged).toBe(true);
      const corrections = p.events.filter((e) => e.source === 'poll');
      expect(corrections.length).toBeGreaterThan(0);
      if (wrong.length > 0) {
        for (const m of wrong) console.log('WRONG', JSON.stringify(m), JSON.stringify(p.daemon.store.receiptsForUser(m.userID, 0, 60).map((r) => [r.receivedAt, r.command, r.platformID, r.seq, r.effect])));
      }
      expect(wrong).toEqual([]);
      expect(nonAlternatingKeys(p.events)).toEqual([]);
      expect(p.sim.counters().webhooks.dropped.loss).toBeGreaterThan(0);
    });
  });

  describe('when OpenIM is v3.8.1 and sends no presence webhooks', () => {
    it('learns every change by correction within interval + grace + confirm, and reports webhooks silent', async () => {
      pair = await startSimPair({ ...CHURN, version: '3.8.1' }, { reconcile: { massGuardMinUsers: 50 } });
      const p = pair;
      const changedAt = new Map<string, number>();
      const latencies: number[] = [];
      // Drive known changes by hand and time how long each takes to appear in the stream.
      p.sim.pauseWorkload();
      p.daemon.bus.on('events:committed', (evs) => {
        for (const e of evs) {
          const t = changedAt.get(`${e.userID}:${e.platformID}:${e.type}`);
          if (t !== undefined) latencies.push(Date.now() - t);
        }
      });
      for (let i = 1; i <= 12; i++) {
        p.sim.connect(`u${i}`, 5);
        changedAt.set(`u${i}:5:presence.online`, Date.now());
        await new Promise((r) => setTimeout(r, 150));
      }
      await eventually(() => latencies.length >= 12, 8000);
      for (let i = 1; i <= 6; i++) {
        p.sim.disconnectAll(`u${i}`);
        changedAt.set(`u${i}:5:presence.offline`, Date.now());
      }
      await eventually(() => latencies.length >= 18, 8000);
      expect(latencies).toHaveLength(18);
      // interval (1 s) + grace (0.8 s) + confirm (0.4 s), plus 1 s of slack for the first discovery and scheduling.
      expect(Math.max(...latencies)).toBeLessThan(1000 + 800 + 400 + 1000);
      expect(p.events.every((e) => e.source === 'poll')).toBe(true);
      const health = p.daemon.health.health();
      expect(health.webhooks.byCommand.online).toBe('silent');
      const online = health.webhooks.entries.find((e) => e.command === 'online' && e.platformID === 5);
      expect(online?.message).toMatch(/v3\.8\.0\/v3\.8\.1 never sends/);
    });
  });

  describe('when a gateway crashes', () => {
    it('corrects its users offline once the disagreement outlasts the guard hold', async () => {
      pair = await startSimPair({ ...CHURN, workload: { ...CHURN.workload, reconnectOnCrash: false } });
      const p = pair;
      p.sim.pauseWorkload();
      for (let i = 1; i <= 40; i++) p.sim.connect(`u${i}`, 2, i % 2);
      await p.sim.quiesce({ timeoutMs: 10_000 });
      await eventually(() => daemonOnlineKeys(p.daemon).size === 40, 5000);
      p.sim.crashGateway(0);
      const converged = await eventually(() => diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim)).length === 0, 12_000);
      expect(diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim))).toEqual([]);
      expect(converged).toBe(true);
      const offlines = p.events.filter((e) => e.type === 'presence.offline');
      expect(offlines).toHaveLength(20);
      expect(offlines.every((e) => e.source === 'poll' && e.mismatchID !== null)).toBe(true);
    });
  });

  describe('when a slow gateway makes its users read as offline', () => {
    it('holds the mass disagreement and publishes zero false offlines', async () => {
      pair = await startSimPair(CHURN);
      const p = pair;
      p.sim.pauseWorkload();
      for (let i = 1; i <= 40; i++) p.sim.connect(`u${i}`, 2, i % 2);
      await p.sim.quiesce({ timeoutMs: 10_000 });
      await eventually(() => daemonOnlineKeys(p.daemon).size === 40, 5000);
      // Only users a poll has verified count as believed online for the guard.
      await eventually(() => Array.from({ length: 40 }, (_, i) => p.daemon.engine.key(`u${i + 1}`, 2)).every((k) => k?.lastVerifiedAt != null), 5000);
      p.sim.setGatewaySlow(0, true);
      await new Promise((r) => setTimeout(r, 2500));
      const poll = p.daemon.health.health().poll;
      expect(poll.enabled && poll.guard !== null && poll.guard.readOffline >= 10).toBe(true);
      p.sim.setGatewaySlow(0, false);
      await new Promise((r) => setTimeout(r, 1500));
      expect(p.events.filter((e) => e.type === 'presence.offline')).toEqual([]);
      expect(daemonOnlineKeys(p.daemon).size).toBe(40);
      const suspect = p.daemon.store.listMismatches({ kinds: ['suspect_poll'], limit: 5 });
      expect(suspect).toHaveLength(1);
      expect(suspect[0]?.status).toBe('resolved');
    });
  });

  describe('when the OpenIM API is down for several cycles', () => {
    it('makes zero corrections, reports the API failing, and recovers afterwards', async () => {
      pair = await startSimPair({ ...CHURN, loss: 1 });
      const p = pair;
      p.sim.pauseWorkload();
      await eventually(() => (p.daemon.poller?.status().trackedUsers ?? 0) > 150 && p.daemon.poller?.status().lastSuccessAt != null, 5000);
      p.sim.setFaults({ apiErrorRate: 1 });
      for (let i = 1; i <= 10; i++) p.sim.connect(`u${i}`, 5);
      await new Promise((r) => setTimeout(r, 3000));
      expect(p.events).toEqual([]);
      const h = p.daemon.health.health();
      expect(h.api.state).toBe('failing');
      expect(h.status).not.toBe('ok');
      p.sim.setFaults({ apiErrorRate: 0 });
      const recovered = await eventually(() => daemonOnlineKeys(p.daemon).size === 10, 12_000);
      expect(recovered).toBe(true);
      expect(p.daemon.health.health().api.state).toBe('ok');
    });
  });

  describe('when webhooks arrive after their change was corrected', () => {
    it('publishes no second event and marks the mismatch late with its delay', async () => {
      pair = await startSimPair({ ...CHURN, delayMs: 30_000 });
      const p = pair;
      p.sim.pauseWorkload();
      // Users who connect before any poll saw them offline may have been online before the daemon first started.
      await eventually(() => (p.daemon.poller?.status().trackedUsers ?? 0) > 150 && p.daemon.poller?.status().lastSuccessAt != null, 5000);
      await new Promise((r) => setTimeout(r, 1100));
      for (let i = 1; i <= 5; i++) p.sim.connect(`u${i}`, 1);
      await p.sim.quiesce({ timeoutMs: 15_000 });
      await new Promise((r) => setTimeout(r, 500));
      expect(p.events.filter((e) => e.type === 'presence.online')).toHaveLength(5);
      expect(p.events.every((e) => e.source === 'poll')).toBe(true);
      const late = p.daemon.store.listMismatches({ kinds: ['late_webhook'], limit: 10 });
      expect(late).toHaveLength(5);
      for (const m of late) expect(m.lateByMs).toBeGreaterThan(0);
    });
  });
});
