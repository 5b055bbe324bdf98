import { describe, expect, it } from 'vitest';
import { adminToken, authed, receiver, simulator, untilSimTime } from './helpers.js';
import type { SimulatorOptions } from '../../src/simulator/index.js';

const START = Date.UTC(2025, 0, 6, 9, 0, 0);
/** The workload stops generating at 60 s; the last reconnects and old-socket timeouts end by ~96 s. */
const CUT_OFF = START + 100_000;

/**
 * A busy little world: short sessions, second devices, two tabs, storms. The speed is low enough that the receiver
 * keeps up: a webhook that has to wait for a queue slot gets its seq when the slot frees, which depends on the
 * receiver's real latency and so is not reproducible.
 */
function churn(seed: number, webhookUrl: string): SimulatorOptions {
  return {
    users: 300,
    gateways: 2,
    seed,
    speed: 100,
    startTime: START,
    webhookUrl,
    webhookLogSize: 100_000,
    // A receiver slowed down by a busy machine must not turn into timeouts (they would change what is received).
    webhookTimeoutMs: 600_000,
    workload: {
      onlineFraction: 0.2,
      sessionMeanMs: 60_000,
      multiDeviceProb: 0.3,
      samePlatformProb: 0.3,
      stormsPerHour: 360,
      stormSpreadMs: 5000,
      durationMs: 60_000,
    },
  };
}

async function runToEnd(options: SimulatorOptions) {
  const rx = await receiver();
  const sim = await simulator({ ...options, webhookUrl: rx.url });
  await untilSimTime(sim, CUT_OFF, 15_000);
  sim.pauseWorkload();
  await sim.quiesce({ timeoutMs: 10_000 });
  return { sim, rx };
}

describe('the workload', () => {
  it('reproduces the same webhook sequence from the same seed', async () => {
    const a = await runToEnd(churn(7, ''));
    const b = await runToEnd(churn(7, ''));
    // The clock runs on in real time after the cut-off (a renewal may follow): compare what was built before it.
    const upToCutOff = (list: readonly { body: string }[]) =>
      list.map((w) => w.body).filter((body) => (JSON.parse(body) as { seq: number }).seq <= CUT_OFF);
    const logA = upToCutOff(a.sim.webhookLog());
    const logB = upToCutOff(b.sim.webhookLog());
    // Reproducible as long as no push had to wait for a queue slot (its seq would depend on the receiver's speed).
    expect([a.sim.counters().webhooks.queueWaits, b.sim.counters().webhooks.queueWaits]).toEqual([0, 0]);
    expect(logA.length).toBeGreaterThan(100);
    expect(logB).toEqual(logA);
    expect(upToCutOff(b.rx.received).sort()).toEqual(upToCutOff(a.rx.received).sort());
    expect(b.sim.truth()).toEqual(a.sim.truth());
    const c = await runToEnd(churn(8, ''));
    expect(upToCutOff(c.sim.webhookLog())).not.toEqual(logA);
  });

  it('produces multi-device users, two connections on one platform and offline webhooks', async () => {
    const { sim, rx } = await runToEnd(churn(7, ''));
    const truth = sim.truth();
    expect(truth.some((t) => t.connections >= 2)).toBe(true);
    const users = new Map<string, number>();
    for (const t of truth) users.set(t.userID, (users.get(t.userID) ?? 0) + 1);
    expect([...users.values()].some((n) => n >= 2)).toBe(true);
    expect(rx.received.some((w) => w.url.endsWith('callbackAfterUserOfflineCommand'))).toBe(true);
    const c = sim.counters();
    expect(c.presence.connects).toBeGreaterThan(30);
    expect(c.presence.disconnects).toBeGreaterThan(30);
    expect(c.webhooks.generated + c.webhooks.duplicated).toBe(
      c.webhooks.delivered + Object.values(c.webhooks.dropped).reduce((s, n) => s + n, 0),
    );
  });

  it('keeps about onlineFraction of the users online', async () => {
    const sim = await simulator({ users: 20_000, speed: 600, workload: { onlineFraction: 0.1, sessionMeanMs: 120_000 } });
    const initial = sim.counters().presence.onlineUsers;
    expect(initial).toBeGreaterThan(1800);
    expect(initial).toBeLessThan(2200);
    await untilSimTime(sim, sim.now() + 240_000);
    const later = sim.counters().presence;
    expect(later.connects).toBeGreaterThan(1000);
    expect(later.onlineUsers).toBeGreaterThan(1500);
    expect(later.onlineUsers).toBeLessThan(2500);
  });

  it('agrees with the live view once paused and settled', async () => {
    // One gateway: with two, the live view shows only the first gateway's connections of a user.
    const sim = await simulator({ users: 500, gateways: 1, speed: 200, workload: { onlineFraction: 0.3, sessionMeanMs: 30_000, multiDeviceProb: 0.4 } });
    await untilSimTime(sim, sim.now() + 20_000);
    sim.pauseWorkload();
    await sim.quiesce({ timeoutMs: 5000 });
    const token = await adminToken(sim);
    const userIDs = Array.from({ length: 500 }, (_, i) => `u${i + 1}`);
    const r = await authed(sim, token, '/user/get_users_online_status', { userIDs });
    const live = (r.json?.data as { userID: string; detailPlatformStatus: { platformID: number }[] | null }[])
      .flatMap((d) => (d.detailPlatformStatus ?? []).map((p) => `${d.userID}/${p.platformID}`));
    const truth = sim.truth().flatMap((t) => Array.from({ length: t.connections }, () => `${t.userID}/${t.platformID}`));
    expect(live.sort()).toEqual(truth.sort());
  });

  it('stops changing presence while paused, and resumes', async () => {
    const sim = await simulator({ users: 1000, speed: 500, workload: { sessionMeanMs: 10_000 } });
    sim.pauseWorkload();
    const connects = sim.counters().presence.connects;
    const truth = sim.truth();
    await untilSimTime(sim, sim.now() + 30_000);
    expect(sim.counters().presence.connects).toBe(connects);
    expect(sim.truth()).toEqual(truth);
    sim.resumeWorkload();
    await untilSimTime(sim, sim.now() + 10_000);
    expect(sim.counters().presence.connects).toBeGreaterThan(connects);
  });

  it('starts paused when asked, with the initial users already online', async () => {
    const sim = await simulator({ users: 1000, workload: { paused: true, onlineFraction: 0.5 } });
    expect(sim.counters().presence.onlineUsers).toBeGreaterThan(400);
    expect(sim.counters().states.pushed).toBe(0);
  });
});

describe('the direct presence methods', () => {
  it('connect, disconnect one connection and disconnect all, as the truth shows', async () => {
    const sim = await simulator({ workload: false, gateways: 3 });
    const c = sim.connect('u1', 5, 2);
    expect(c).toMatchObject({ userID: 'u1', platformID: 5, platform: 'Web', gateway: 2 });
    expect(c.connID).toMatch(/^[0-9a-f]{32}$/);
    sim.connect('u1', 5, 0);
    sim.connect('u1', 1);
    expect(sim.truthOf('u1')).toEqual([
      { userID: 'u1', platformID: 1, connections: 1, gateways: [1] },
      { userID: 'u1', platformID: 5, connections: 2, gateways: [0, 2] },
    ]);
    expect(sim.disconnect('u1', 5, 2)).toBe(true);
    expect(sim.disconnect('u1', 5, 2)).toBe(false);
    expect(sim.truthOf('u1').find((t) => t.platformID === 5)).toMatchObject({ connections: 1, gateways: [0] });
    expect(sim.disconnectAll('u1')).toBe(2);
    expect(sim.truthOf('u1')).toEqual([]);
    expect(sim.truth()).toEqual([]);
  });

  it('reject unknown users, gateways and platform IDs with OPR_ERR_SIMULATOR', async () => {
    const sim = await simulator({ workload: false, users: 10 });
    expect(() => sim.connect('u11', 1)).toThrow(/unknown userID "u11"/);
    expect(() => sim.connect('u1', 1, 2)).toThrow(/gateway 2 does not exist/);
    expect(() => sim.connect('u1', 1.5)).toThrow(/platformID must be an integer/);
    expect(() => sim.disconnectAll('x')).toThrow(expect.objectContaining({ code: 'OPR_ERR_SIMULATOR' }) as Error);
  });
});
