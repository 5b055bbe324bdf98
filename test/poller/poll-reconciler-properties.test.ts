import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WorldConfig } from './poll-world.js';
import { runWorld } from './poll-world.js';

/**
 * Timing configurations the schema accepts, within the ranges that matter: interval 1–60 s, confirm delay 0–10 s,
 * grace 0–30 s, status latencies that make cycles last up to twice the interval, pages that make confirm polls
 * overlap cycles. Webhooks of a loss-free OpenIM arrive within the confirm delay (a slower one is, to anyone
 * watching, a lost one).
 */
const timingArb = fc
  .record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    intervalS: fc.constantFrom(1, 2, 3, 5, 10, 15, 20, 30, 60),
    confirmDelayMs: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.constant(-1)),
    graceMs: fc.integer({ min: 0, max: 30_000 }),
    settleMs: fc.integer({ min: 0, max: 5000 }),
    cycleShare: fc.double({ min: 0, max: 2, noNaN: true }),
    pageSize: fc.integer({ min: 3, max: 30 }),
    pagesInFlight: fc.integer({ min: 1, max: 4 }),
    webhookShare: fc.double({ min: 0, max: 0.95, noNaN: true }),
    pairShare: fc.constantFrom(0, 0.1, 0.3),
  })
  .map((t) => {
    const intervalMs = t.intervalS * 1000;
    // -1: the confirm delay equals the interval, the case where cycles and confirm polls land together.
    const confirmDelayMs = t.confirmDelayMs === -1 ? intervalMs : t.confirmDelayMs;
    const users = 24;
    const pages = Math.ceil(users / t.pageSize);
    const rounds = Math.ceil(pages / t.pagesInFlight);
    // A cycle lasts up to `cycleShare` intervals: each of its rounds of pages takes that share of it.
    const maxLatency = Math.max(1, Math.floor((t.cycleShare * intervalMs) / rounds));
    const config: WorldConfig = {
      seed: t.seed,
      users,
      gateways: 2,
      durationMs: Math.max(12 * intervalMs, 60_000),
      changeEveryMs: Math.max(3 * intervalMs, 20_000),
      intervalMs,
      confirmDelayMs,
      graceMs: t.graceMs,
      settleMs: t.settleMs,
      latencyMs: [Math.floor(maxLatency / 4), maxLatency],
      pageSize: t.pageSize,
      pagesInFlight: t.pagesInFlight,
      webhookDelayMs: [0, Math.floor(confirmDelayMs * t.webhookShare)],
      loss: 0,
      pairShare: t.pairShare,
      massGuardShare: 0.2,
      massGuardMinUsers: 3,
      massGuardHoldMs: 60_000,
    };
    return config;
  });

const RUNS = Number(process.env.OPR_PROPERTY_RUNS ?? 100);

describe('the poll reconciler, over random timing configurations', () => {
  it('publishes no correction when no webhook is lost', async () => {
    await fc.assert(
      fc.asyncProperty(timingArb, async (config) => {
        const r = await runWorld(config);
        const corrections = r.events.filter((e) => e.source === 'poll');
        expect(corrections).toEqual([]);
        expect(r.mismatches.filter((m) => m.kind === 'missed_online' || m.kind === 'missed_offline' || m.kind === 'late_webhook')).toEqual([]);
        expect(r.diverged).toEqual([]);
        expect(r.transitions).toBeGreaterThan(10);
      }),
      { numRuns: RUNS },
    );
  });

  it('corrects only disagreements first seen at least the confirm delay earlier, and only rightly', async () => {
    await fc.assert(
      fc.asyncProperty(timingArb, fc.double({ min: 0.1, max: 0.6, noNaN: true }), async (config, loss) => {
        const r = await runWorld({ ...config, loss });
        const corrections = r.mismatches.filter((m) => m.kind === 'missed_online' || m.kind === 'missed_offline' || m.kind === 'late_webhook');
        for (const m of corrections) expect(m.detectedAt - m.occurredBefore!).toBeGreaterThanOrEqual(config.confirmDelayMs);
        expect(r.wrongCorrections).toEqual([]);
        expect(r.diverged).toEqual([]);
        expect(r.webhooksLost).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('publishes no false offline while a gateway is slow, whatever its users do meanwhile', async () => {
    await fc.assert(
      fc.asyncProperty(timingArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0.05, max: 0.9, noNaN: true }), async (base, startShare, holdShare) => {
        // One page per cycle: a cycle sees the whole stall or none of it.
        const config: WorldConfig = { ...base, pageSize: base.users, pagesInFlight: 1, massGuardMinUsers: 2, massGuardShare: 0.2, anchors: 5 };
        const holdMs = config.massGuardHoldMs;
        const stall = { gateway: 0, fromMs: Math.floor(config.durationMs * 0.2 + startShare * config.durationMs * 0.5), durationMs: Math.max(1, Math.floor(holdMs * holdShare)) };
        const r = await runWorld({ ...config, stall });
        expect(r.events.filter((e) => e.source === 'poll')).toEqual([]);
        expect(r.mismatches.some((m) => m.kind === 'suspect_poll') || stall.durationMs < config.intervalMs + config.latencyMs[1]).toBe(true);
        expect(r.diverged).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});
