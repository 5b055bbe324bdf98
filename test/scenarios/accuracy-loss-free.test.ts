import { afterEach, describe, expect, it } from 'vitest';
import type { SimPair } from '../helpers/sim-pair.js';
import { daemonOnlineKeys, diffKeys, eventually, nonAlternatingKeys, startSimPair, truthKeys } from '../helpers/sim-pair.js';

const SEEDS = [11, 23, 37, 41, 59] as const;

/**
 * Timing configurations: the confirm delay equal to the interval, shorter than it, and shorter than a slow cycle.
 * Confirm delays stay above what webhooks take on a busy machine (a webhook slower than the confirm delay cannot be
 * told from a lost one); the simulated-clock property tests cover the tight timings.
 */
const TIMINGS = [
  { name: 'interval = confirm delay (2 s)', poll: { intervalSeconds: 2 }, reconcile: { confirmDelayMs: 2000, graceMs: 1500 }, apiLatencyMs: 0 },
  { name: 'confirm delay shorter than the interval', poll: { intervalSeconds: 2 }, reconcile: { confirmDelayMs: 1200, graceMs: 1500 }, apiLatencyMs: 0 },
  { name: 'cycles longer than the confirm delay', poll: { intervalSeconds: 1 }, reconcile: { confirmDelayMs: 1200, graceMs: 1500 }, apiLatencyMs: 1500 },
] as const;

describe('reconciling a loss-free OpenIM', () => {
  let pair: SimPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  for (const timing of TIMINGS) {
    describe(`when ${timing.name}`, () => {
      it.each(SEEDS)('publishes zero corrections under churn (seed %i)', async (seed) => {
        pair = await startSimPair(
          {
            users: 120,
            gateways: 2,
            seed,
            speed: 10,
            // OpenIM's webhook timeout, in simulated ms: a busy test machine must not turn slow answers into drops.
            webhookTimeoutMs: 60_000,
            apiLatencyMs: timing.apiLatencyMs,
            workload: { onlineFraction: 0, connectRatePerSec: 2, sessionMeanMs: 25_000, multiDeviceProb: 0.3, samePlatformProb: 0.3 },
          },
          { poll: timing.poll, reconcile: timing.reconcile },
        );
        const p = pair;
        await new Promise((r) => setTimeout(r, 3500));
        p.sim.pauseWorkload();
        await p.sim.quiesce({ timeoutMs: 20_000 });
        const converged = await eventually(() => diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim)).length === 0, 6000);
        expect(diffKeys(daemonOnlineKeys(p.daemon), truthKeys(p.sim))).toEqual([]);
        expect(converged).toBe(true);
        const dropped = p.sim.counters().webhooks.dropped;
        expect(dropped).toEqual(Object.fromEntries(Object.keys(dropped).map((k) => [k, 0])));
        expect(p.events.length).toBeGreaterThan(20);
        const corrections = p.events
          .filter((e) => e.source === 'poll')
          .map((e) => ({ e, mismatch: p.daemon.store.getMismatch(e.mismatchID!) }));
        expect(corrections).toEqual([]);
        expect(nonAlternatingKeys(p.events)).toEqual([]);
      });
    });
  }
});
