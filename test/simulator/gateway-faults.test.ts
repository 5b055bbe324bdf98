import { describe, expect, it } from 'vitest';
import { isOprError } from '../../src/errors.js';
import { adminToken, authed, bodies, receiver, simulator, untilSimTime } from './helpers.js';

async function liveStatuses(sim: Awaited<ReturnType<typeof simulator>>, token: string, userIDs: string[]): Promise<number[]> {
  const r = await authed(sim, token, '/user/get_users_online_status', { userIDs });
  return (r.json?.data as { status: number }[]).map((d) => d.status);
}

async function redisStatuses(sim: Awaited<ReturnType<typeof simulator>>, token: string, userIDs: string[]): Promise<number[]> {
  const r = await authed(sim, token, '/user/get_users_status', { userID: 'imAdmin', userIDs });
  return (r.json?.data as { statusList: { status: number }[] }).statusList.map((d) => d.status);
}

describe('gateway faults', () => {
  describe('when a gateway crashes', () => {
    it('drops its users from the live view and the truth at once, with no webhook', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 2, speed: 20, webhookUrl: rx.url });
      sim.connect('u1', 5, 0);
      sim.connect('u2', 2, 1);
      await sim.quiesce({ timeoutMs: 5000 });
      const before = rx.received.length;
      const token = await adminToken(sim);
      sim.crashGateway(1);
      expect(await liveStatuses(sim, token, ['u1', 'u2'])).toEqual([1, 0]);
      expect(sim.truthOf('u2')).toEqual([]);
      expect(sim.truth().map((t) => t.userID)).toEqual(['u1']);
      expect(sim.faults().crashedGateways).toEqual([1]);
      await sim.quiesce({ timeoutMs: 5000 });
      expect(rx.received.length).toBe(before);
      expect(await redisStatuses(sim, token, ['u2'])).toEqual([1]);
    });

    it('keeps the Redis view online until its entry expires about 30 simulated minutes later', async () => {
      const sim = await simulator({ workload: false, gateways: 2, speed: 3000 });
      sim.connect('u2', 2, 1);
      const connectedAt = sim.now();
      await sim.quiesce({ timeoutMs: 5000 });
      sim.crashGateway(1);
      const token = await adminToken(sim);
      expect(await redisStatuses(sim, token, ['u2'])).toEqual([1]);
      await untilSimTime(sim, connectedAt + 25 * 60_000);
      expect(await redisStatuses(sim, token, ['u2'])).toEqual([1]);
      await untilSimTime(sim, connectedAt + 32 * 60_000);
      expect(await redisStatuses(sim, token, ['u2'])).toEqual([0]);
    });

    it('loses the changes it had not flushed yet, counted as crash drops', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 2, speed: 0.01, webhookUrl: rx.url });
      sim.connect('u3', 1, 1);
      sim.connect('u3', 2, 1);
      sim.crashGateway(1);
      expect(sim.counters().webhooks.dropped.crash).toBe(3);
      expect(sim.counters().webhooks.pending).toBe(0);
    });

    it('refuses connections to it until it restarts with a new pid', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 2, speed: 20, webhookUrl: rx.url });
      sim.connect('u1', 1, 1);
      await sim.quiesce({ timeoutMs: 5000 });
      const oldPid = (bodies(rx.received)[0]!.operationID as string).split('_')[1];
      sim.crashGateway(1);
      expect(() => sim.connect('u1', 1, 1)).toThrow(/gateway 1: it has crashed/);
      expect(sim.connect('u1', 1).gateway).toBe(0);
      sim.restartGateway(1);
      sim.connect('u2', 1, 1);
      await sim.quiesce({ timeoutMs: 5000 });
      const u2 = bodies(rx.received).find((w) => w.userID === 'u2')!;
      const [, newPid, n] = (u2.operationID as string).split('_');
      expect(newPid).not.toBe(oldPid);
      expect(n).toBe('1');
      expect(sim.faults().crashedGateways).toEqual([]);
    });

    it('brings its users back on the other gateways when the workload runs', async () => {
      const sim = await simulator({
        gateways: 2,
        users: 400,
        speed: 50,
        workload: { onlineFraction: 0.5, connectRatePerSec: 0, sessionMeanMs: 86_400_000, stormSpreadMs: 5000 },
      });
      const onGateway1 = sim.truth().filter((t) => t.gateways.includes(1)).length;
      expect(onGateway1).toBeGreaterThan(20);
      const start = sim.now();
      sim.crashGateway(1);
      expect(sim.truth().filter((t) => t.gateways.includes(1))).toEqual([]);
      await untilSimTime(sim, start + 6000);
      expect(sim.counters().presence.connects).toBeGreaterThanOrEqual(onGateway1);
      expect(sim.truth().every((t) => t.gateways.every((g) => g === 0))).toBe(true);
    });
  });

  describe('when a gateway is slow', () => {
    it('shows its users offline in the live view while truth and webhooks say online', async () => {
      const rx = await receiver();
      const sim = await simulator({ workload: false, gateways: 2, speed: 20, webhookUrl: rx.url, slowGateways: [1] });
      sim.connect('u1', 5, 0);
      sim.connect('u2', 2, 1);
      await sim.quiesce({ timeoutMs: 5000 });
      const token = await adminToken(sim);
      expect(await liveStatuses(sim, token, ['u1', 'u2'])).toEqual([1, 0]);
      expect(sim.truthOf('u2')).toEqual([{ userID: 'u2', platformID: 2, connections: 1, gateways: [1] }]);
      expect(bodies(rx.received).map((w) => w.userID).sort()).toEqual(['u1', 'u2']);
      expect(sim.view('u2')).toMatchObject({ live: { status: 0 }, redis: { status: 1, platformIDs: [2] } });
      sim.setGatewaySlow(1, false);
      expect(await liveStatuses(sim, token, ['u2'])).toEqual([1]);
    });

    it('still shows a user on two gateways through the one that answers', async () => {
      const sim = await simulator({ workload: false, gateways: 2, slowGateways: [0] });
      sim.connect('u1', 5, 0);
      sim.connect('u1', 2, 1);
      const view = sim.view('u1');
      expect(view.live.connections.map((c) => [c.gateway, c.platformID])).toEqual([[1, 2]]);
    });
  });

  describe('API faults', () => {
    it('answers HTTP 500 at apiErrorRate 1, on OpenIM routes only', async () => {
      const sim = await simulator({ workload: false, apiErrorRate: 1 });
      const r = await fetch(`${sim.apiUrl}/auth/get_admin_token`, {
        method: 'POST',
        headers: { operationID: 'x' },
        body: JSON.stringify({ secret: 'openIM123', userID: 'imAdmin' }),
      });
      expect(r.status).toBe(500);
      expect((await fetch(`${sim.controlUrl}/faults`)).status).toBe(200);
      expect(sim.counters().api.injectedErrors).toBe(1);
    });

    it('never answers at apiTimeoutRate 1, so the client gives up', async () => {
      const sim = await simulator({ workload: false, apiTimeoutRate: 1 });
      const attempt = fetch(`${sim.apiUrl}/auth/get_admin_token`, {
        method: 'POST',
        headers: { operationID: 'x' },
        body: '{}',
        signal: AbortSignal.timeout(200),
      });
      await expect(attempt).rejects.toThrow();
      expect(sim.counters().api.injectedTimeouts).toBe(1);
    });

    it('adds apiLatencyMs of real time to every answer, and the knob can be turned off at run time', async () => {
      const sim = await simulator({ workload: false, apiLatencyMs: 150 });
      let t = performance.now();
      await adminToken(sim);
      expect(performance.now() - t).toBeGreaterThanOrEqual(145);
      sim.setFaults({ apiLatencyMs: 0 });
      t = performance.now();
      await adminToken(sim);
      expect(performance.now() - t).toBeLessThan(145);
    });
  });

  describe('fault knobs', () => {
    it('reject invalid values with an OprError that names the knob', () => {
      return simulator({ workload: false }).then((sim) => {
        let error: unknown;
        try {
          sim.setFaults({ loss: 2 });
        } catch (e) {
          error = e;
        }
        expect(isOprError(error) && error.code).toBe('OPR_ERR_SIMULATOR');
        expect((error as Error).message).toMatch(/loss: must be between 0 and 1 \(got 2\)/);
        expect(() => sim.setFaults({ crashedGateways: [7] })).toThrow(/gateway 7 does not exist/);
        expect(() => sim.setFaults({ bogus: 1 } as never)).toThrow(/bogus: unknown option/);
      });
    });
  });
});
