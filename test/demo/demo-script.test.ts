import { describe, expect, it } from 'vitest';
import type { DemoPlan } from '../../src/demo/demo-script.js';
import { demoStatus, demoStatusToJson } from '../../src/demo/demo-script.js';

const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
const PLAN: DemoPlan = {
  startedAt: T0,
  episodeMs: 120_000,
  users: 1000,
  loss: 0.2,
  crashedGateway: 'gw-0',
  guardHoldMs: 45_000,
  healthWindowMinutes: 1,
  commands: { doctor: 'd', report: 'r', tail: 't', incidents: 'i' },
};

describe('the demo script', () => {
  it('says which episode runs and when the next starts', () => {
    expect(demoStatus(PLAN, T0)).toMatchObject({ episode: { number: 1, name: 'lossy', title: '20 % of webhooks lost' }, next: { number: 2, at: T0 + 120_000 } });
    expect(demoStatus(PLAN, T0 + 119_999).episode.number).toBe(1);
    const crash = demoStatus(PLAN, T0 + 120_000);
    expect(crash).toMatchObject({ episode: { number: 2, name: 'gateway_crash', title: 'gateway gw-0 crashed', since: T0 + 120_000 }, next: { number: 3, at: T0 + 240_000 } });
    expect(crash.episode.watch).toContain('holds for 45 s');
    const silent = demoStatus(PLAN, T0 + 10 * 60_000);
    expect(silent).toMatchObject({ episode: { number: 3, name: 'silent_webhooks' }, next: null, episodes: 3 });
    expect(silent.episode.watch).toContain('1-minute health window');
  });

  it('remembers a guard raised during the current episode only', () => {
    expect(demoStatus({ ...PLAN, lastGuard: { at: T0 + 122_000, readOffline: 57 } }, T0 + 200_000).guardRaised).toEqual({ at: T0 + 122_000, readOffline: 57 });
    expect(demoStatus({ ...PLAN, lastGuard: { at: T0 + 122_000, readOffline: 57 } }, T0 + 250_000).guardRaised).toBeNull();
    expect(demoStatus(PLAN, T0 + 200_000).guardRaised).toBeNull();
  });

  it('serves its times as ISO-8601', () => {
    const j = demoStatusToJson(demoStatus(PLAN, T0 + 130_000));
    expect(j).toMatchObject({ episode: { since: '2026-12-06T10:02:00.000Z' }, next: { at: '2026-12-06T10:04:00.000Z' }, commands: PLAN.commands });
  });
});
