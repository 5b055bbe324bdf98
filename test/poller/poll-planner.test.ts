import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PollPlanner } from '../../src/poller/poll-planner.js';
import { cronForInterval } from '../../src/poller/cron-expression.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

describe('the poll planner', () => {
  let store: SqliteStore;
  const users = Array.from({ length: 1000 }, (_, i) => `user${String(i).padStart(4, '0')}`);
  beforeEach(() => {
    store = new SqliteStore({ path: ':memory:' });
    store.trackUsers(users, 'discovery', 0);
  });
  afterEach(() => store.close());

  const planner = (over: Partial<ConstructorParameters<typeof PollPlanner>[1]> = {}) =>
    new PollPlanner(store, { intervalSeconds: 30, coverageSeconds: 300, requestsPerSecond: 100, batchSize: 500, excludeUsers: [], ...over });

  it('polls every believed-online user plus a slice sized to cover everyone within the coverage period', () => {
    const p = planner().plan(['x-online-1', 'x-online-2']);
    expect(p.userIDs.slice(0, 2)).toEqual(['x-online-1', 'x-online-2']);
    expect(p.sliceCount).toBe(100);
    expect(p.overBudget).toBe(false);
  });

  it('covers every tracked user within coverage / interval cycles', () => {
    const pl = planner();
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) for (const u of pl.plan([]).userIDs) seen.add(u);
    expect(seen.size).toBe(1000);
  });

  it('never polls excluded users', () => {
    const p = planner({ excludeUsers: ['user0000', 'admin'] }).plan(['admin']);
    expect(p.userIDs).not.toContain('user0000');
    expect(p.userIDs).not.toContain('admin');
  });

  it('cuts the rotation, never the online users, and says so when the budget is too small', () => {
    const online = users.slice(0, 60);
    const p = planner({ requestsPerSecond: 0.1, intervalSeconds: 30, batchSize: 20 }).plan(online);
    expect(p.budget).toBe(3);
    expect(p.onlineCount).toBe(60);
    expect(p.sliceCount).toBe(0);
    expect(p.overBudget).toBe(true);
    expect(p.cut).toBe(100);
  });
});

describe('cron expressions for poll intervals', () => {
  it('fires evenly for intervals that divide a minute, an hour or a day', () => {
    expect(cronForInterval(1)).toBe('*/1 * * * * *');
    expect(cronForInterval(30)).toBe('*/30 * * * * *');
    expect(cronForInterval(300)).toBe('0 */5 * * * *');
    expect(cronForInterval(7200)).toBe('0 0 */2 * * *');
    expect(cronForInterval(86_400)).toBe('0 0 0 * * *');
  });

  it('refuses intervals that cannot fire evenly', () => {
    expect(cronForInterval(45)).toBeUndefined();
    expect(cronForInterval(90)).toBeUndefined();
    expect(cronForInterval(5 * 3600)).toBeUndefined();
  });
});
