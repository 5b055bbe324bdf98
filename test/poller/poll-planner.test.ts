import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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
    const ids = [...p.pages].flat();
    expect(ids.slice(0, 2)).toEqual(['x-online-1', 'x-online-2']);
    expect(p.sliceTarget).toBe(100);
    expect(ids).toHaveLength(102);
    expect(p.requests).toBe(1);
    expect(p.overBudget).toBe(false);
  });

  it('covers every tracked user within coverage / interval cycles', () => {
    const pl = planner();
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) for (const u of [...pl.plan([]).pages].flat()) seen.add(u);
    expect(seen.size).toBe(1000);
  });

  it('never polls excluded users', () => {
    const ids = [...planner({ excludeUsers: ['user0000', 'admin'] }).plan(['admin']).pages].flat();
    expect(ids).not.toContain('user0000');
    expect(ids).not.toContain('admin');
  });

  it('cuts the rotation, never the online users, and says so when the budget is too small', () => {
    const online = users.slice(0, 60);
    const p = planner({ requestsPerSecond: 0.1, intervalSeconds: 30, batchSize: 20 }).plan(online);
    expect(p.budget).toBe(3);
    expect(p.onlineCount).toBe(60);
    expect(p.sliceTarget).toBe(0);
    expect([...p.pages]).toEqual([online.slice(0, 20), online.slice(20, 40), online.slice(40, 60)]);
    expect(p.overBudget).toBe(true);
    expect(p.cut).toBe(100);
  });

  it('hands out pages of batchSize users, the online users first', () => {
    const p = planner({ batchSize: 40 }).plan(['x-online-1', 'x-online-2']);
    const pages = [...p.pages];
    expect(pages.map((page) => page.length)).toEqual([40, 40, 22]);
    expect(pages[0]!.slice(0, 3)).toEqual(['x-online-1', 'x-online-2', 'user0000']);
    expect(p.requests).toBe(3);
  });

  it('reads the rotation from the store only as the plan is consumed', () => {
    const reads = vi.spyOn(store, 'trackedUsersAfter');
    const pl = planner({ coverageSeconds: 30, batchSize: 10 });
    const first = pl.plan([]).pages[Symbol.iterator]();
    expect(reads).not.toHaveBeenCalled();
    expect(first.next().value).toEqual(users.slice(0, 10));
    expect(reads).toHaveBeenCalledTimes(1);
    // The rest of the first plan was never consumed: the next plan goes on from the rows the first one read.
    const next = [...pl.plan([]).pages].flat();
    expect(next).toHaveLength(1000);
    expect(new Set(next).size).toBe(1000);
  });

  it('never hands out a user twice in one plan, even when users are tracked while it is consumed', () => {
    const pl = planner({ coverageSeconds: 30, batchSize: 10 });
    pl.plan([]).pages[Symbol.iterator]().next();
    const ids: string[] = [];
    for (const page of pl.plan(['user0500']).pages) {
      ids.push(...page);
      if (ids.length === 10) store.trackUsers(['user0000a', 'user9999'], 'webhook', 0);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((u) => u === 'user0500')).toHaveLength(1);
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
