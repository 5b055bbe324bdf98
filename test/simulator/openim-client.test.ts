import { describe, expect, it, onTestFinished } from 'vitest';
import { createOpenImClient } from '../../src/openim/openim-client.js';
import type { OpenImClient } from '../../src/openim/openim-client.js';
import type { Simulator } from '../../src/simulator/index.js';
import { simulator } from './helpers.js';

function client(sim: Simulator, overrides: Partial<Parameters<typeof createOpenImClient>[0]> = {}): OpenImClient {
  const c = createOpenImClient({
    apiUrl: sim.apiUrl,
    secret: sim.secret,
    adminUserID: sim.adminUserID,
    operationIDPrefix: 'simtest',
    timeoutMs: 2000,
    retries: 0,
    batchSize: 500,
    concurrency: 4,
    ...overrides,
  });
  onTestFinished(() => c.close());
  return c;
}

describe('the OpenIM client against the simulator', () => {
  it('reads the live view, one platform entry per platform with its connection count', async () => {
    const sim = await simulator({ workload: false, users: 1200 });
    sim.connect('u1', 5);
    sim.connect('u1', 5);
    sim.connect('u1', 2);
    sim.connect('u1100', 1);
    const userIDs = Array.from({ length: 1200 }, (_, i) => `u${i + 1}`);
    const result = await client(sim).getUsersOnlineStatus(userIDs);
    expect(result.failed).toEqual([]);
    expect(result.form).toBe('numeric');
    expect(result.requests).toBe(3);
    expect(result.statuses).toHaveLength(1200);
    expect(result.statuses[0]).toEqual({
      userID: 'u1',
      online: true,
      platforms: [
        { platformID: 2, connections: 1 },
        { platformID: 5, connections: 2 },
      ],
    });
    expect(result.statuses.filter((s) => s.online).map((s) => s.userID)).toEqual(['u1', 'u1100']);
  });

  it('sees the string statuses of 3.8.0 mode', async () => {
    const sim = await simulator({ workload: false, version: '3.8.0' });
    sim.connect('u2', 1);
    const result = await client(sim).getUsersOnlineStatus(['u1', 'u2']);
    expect(result.form).toBe('string');
    expect(result.statuses.map((s) => s.online)).toEqual([false, true]);
  });

  it('renews its admin token transparently after the tokens expire', async () => {
    const sim = await simulator({ workload: false });
    const c = client(sim);
    await c.getUsersOnlineStatus(['u1']);
    sim.expireTokens();
    const result = await c.getUsersOnlineStatus(['u1']);
    expect(result.failed).toEqual([]);
    expect(sim.counters().tokens.issued).toBe(2);
  });

  it('enumerates every user, admin included, over several pages', async () => {
    const sim = await simulator({ workload: false, users: 2500 });
    const ids: string[] = [];
    for await (const id of client(sim).allUserIDs()) ids.push(id);
    expect(ids).toHaveLength(2501);
    expect(ids[0]).toBe('imAdmin');
    expect(ids.at(-1)).toBe('u2500');
  });

  it('reads the Redis view once the gateway has flushed', async () => {
    const sim = await simulator({ workload: false, speed: 20 });
    sim.connect('u1', 5);
    sim.connect('u1', 1);
    await sim.quiesce({ timeoutMs: 5000 });
    expect(await client(sim).getUsersStatus(['u1', 'u2'])).toEqual([
      { userID: 'u1', online: true, platformIDs: [1, 5] },
      { userID: 'u2', online: false, platformIDs: [] },
    ]);
  });

  it('reports a failed batch, not offline users, when the API answers 5xx', async () => {
    const sim = await simulator({ workload: false });
    const c = client(sim);
    await c.getUsersOnlineStatus(['u1']);
    sim.setFaults({ apiErrorRate: 1 });
    const result = await c.getUsersOnlineStatus(['u1', 'u2']);
    expect(result.statuses).toEqual([]);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.error).toMatchObject({ code: 'OPR_ERR_OPENIM_HTTP', status: 500 });
  });

  it('times out on a hanging API', async () => {
    const sim = await simulator({ workload: false, apiTimeoutRate: 1 });
    const probe = await client(sim, { timeoutMs: 150 }).probe();
    expect(probe.tokenObtained).toBe(false);
    expect(probe.problems.join(' ')).toMatch(/within 150 ms/);
  });

  it('probes a healthy simulator successfully', async () => {
    const sim = await simulator({ workload: false });
    const probe = await client(sim).probe();
    expect(probe).toMatchObject({ reachable: true, tokenObtained: true, adminConfirmed: true, statusForm: 'numeric', problems: [] });
  });

  it('is refused a token with the wrong secret (1002)', async () => {
    const sim = await simulator({ workload: false });
    const result = await client(sim, { secret: 'wrong' }).getUsersOnlineStatus(['u1']);
    expect(result.failed[0]!.error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', errCode: 1002 });
  });
});
