import { describe, expect, it } from 'vitest';
import { adminToken, authed, control, receiver, simulator } from './helpers.js';

describe('the control endpoint', () => {
  it('lists its routes and the simulator settings at GET /control', async () => {
    const sim = await simulator({ workload: false, gateways: 3, users: 7 });
    const r = await control(sim, 'GET', '');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ apiUrl: sim.apiUrl, controlUrl: sim.controlUrl, users: 7, version: '3.8.3', workload: null });
    expect((r.json as { gateways: unknown[] }).gateways).toHaveLength(3);
    expect((r.json as { routes: string[] }).routes.some((line) => line.includes('/control/faults'))).toBe(true);
  });

  it('reads and changes the fault knobs, rejecting bad values with HTTP 400 naming the knob', async () => {
    const sim = await simulator({ workload: false });
    expect((await control(sim, 'GET', '/faults')).json).toMatchObject({ version: '3.8.3', loss: 0, crashedGateways: [] });
    const changed = await control(sim, 'POST', '/faults', { loss: 0.25, version: '3.8.1', slowGateways: [1] });
    expect(changed.status).toBe(200);
    expect(changed.json).toMatchObject({ loss: 0.25, version: '3.8.1', slowGateways: [1] });
    expect(sim.faults().loss).toBe(0.25);
    const bad = await control(sim, 'POST', '/faults', { loss: 'lots' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { code: 'OPR_ERR_SIMULATOR', message: expect.stringContaining('loss') as string } });
    const notJson = await fetch(`${sim.controlUrl}/faults`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
  });

  it('connects and disconnects users and shows them in the truth and the user view', async () => {
    const sim = await simulator({ workload: false, gateways: 2 });
    const c = await control(sim, 'POST', '/users/u3/connect', { platformID: 2, gateway: 1 });
    expect(c.json).toMatchObject({ userID: 'u3', platformID: 2, platform: 'Android', gateway: 1 });
    await control(sim, 'POST', '/users/u3/connect', { platformID: 5 });
    expect((await control(sim, 'GET', '/truth')).json).toMatchObject({
      presence: [
        { userID: 'u3', platformID: 2, connections: 1, gateways: [1] },
        { userID: 'u3', platformID: 5, connections: 1 },
      ],
    });
    const view = await control(sim, 'GET', '/users/u3');
    expect(view.json).toMatchObject({ userID: 'u3', live: { status: 1 } });
    expect((await control(sim, 'POST', '/users/u3/disconnect', { platformID: 2 })).json).toEqual({ disconnected: true });
    expect((await control(sim, 'POST', '/users/u3/disconnect-all')).json).toEqual({ disconnected: 1 });
    expect((await control(sim, 'GET', '/truth?userID=u3')).json).toMatchObject({ presence: [] });
    const unknown = await control(sim, 'POST', '/users/nobody/connect', { platformID: 1 });
    expect(unknown.status).toBe(400);
  });

  it('sets the background flag without any webhook', async () => {
    const rx = await receiver();
    const sim = await simulator({ workload: false, speed: 20, webhookUrl: rx.url });
    sim.connect('u1', 1);
    await sim.quiesce({ timeoutMs: 5000 });
    const r = await control(sim, 'POST', '/users/u1/background', { platformID: 1, background: true });
    expect(r.json).toEqual({ changed: 1 });
    await sim.quiesce({ timeoutMs: 5000 });
    expect(rx.received).toHaveLength(1);
    expect(sim.view('u1').live.connections).toHaveLength(1);
  });

  it('crashes, slows and restarts gateways', async () => {
    const sim = await simulator({ workload: false, gateways: 2 });
    expect((await control(sim, 'POST', '/gateways/1/crash')).json).toMatchObject({ crashedGateways: [1] });
    expect((await control(sim, 'POST', '/gateways/0/slow', { slow: true })).json).toMatchObject({ slowGateways: [0] });
    expect((await control(sim, 'POST', '/gateways/1/restart')).json).toMatchObject({ crashedGateways: [] });
    expect((await control(sim, 'POST', '/gateways/5/crash')).status).toBe(400);
  });

  it('expires tokens, so the next API call gets 1501', async () => {
    const sim = await simulator({ workload: false });
    const token = await adminToken(sim);
    expect((await control(sim, 'POST', '/tokens/expire')).json).toEqual({ expired: 1 });
    expect((await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1'] })).json?.errCode).toBe(1501);
  });

  it('pauses and resumes the workload, and quiesces, answering the counters', async () => {
    const rx = await receiver();
    const sim = await simulator({ users: 100, speed: 50, webhookUrl: rx.url });
    expect((await control(sim, 'POST', '/workload/pause')).json).toEqual({ paused: true });
    sim.connect('u1', 7);
    const q = await control(sim, 'POST', '/quiesce', { timeoutMs: 5000 });
    expect(q.status).toBe(200);
    expect(q.json).toMatchObject({ webhooks: { pending: 0 }, presence: { connects: 1 } });
    expect((await control(sim, 'POST', '/workload/resume')).json).toEqual({ paused: false });
    const counters = await control(sim, 'GET', '/counters');
    expect(counters.json).toMatchObject({ api: { requests: 0 }, webhooks: { delivered: rx.received.length } });
  });

  it('reports the simulated clock', async () => {
    const sim = await simulator({ workload: false, speed: 60, startTime: Date.UTC(2030, 0, 1) });
    const r = (await control(sim, 'GET', '/clock')).json as { now: number; speed: number; iso: string; elapsedMs: number };
    expect(r.speed).toBe(60);
    expect(r.iso.startsWith('2030-01-01T00:')).toBe(true);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it('answers an unknown control route with 404', async () => {
    const sim = await simulator({ workload: false });
    const r = await control(sim, 'GET', '/nope');
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ error: { code: 'OPR_ERR_SIMULATOR' } });
  });
});
