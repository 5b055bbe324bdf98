import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpsReport } from '../../src/api/ops-report.js';
import { percentile } from '../../src/api/ops-report.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { getJson, HOUR, newMismatch } from './ops-fixtures.js';

describe('GET /v1/report', () => {
  let d: Daemon & { cleanupDir: () => void };
  const now = Date.now();
  // Ten late webhooks, 1 s … 10 s late: nearest-rank p50 = 5 s, p90 = 9 s, p99 = 10 s.
  const lateDelays = [7000, 1000, 10_000, 3000, 5000, 2000, 9000, 4000, 8000, 6000];

  beforeAll(async () => {
    d = await startTestDaemon();
    const e = d.engine;
    for (const [i, ms] of lateDelays.entries()) {
      e.recordMismatch(newMismatch({ userID: i < 6 ? 'u-late' : `u-late-${i}`, kind: 'late_webhook', platformID: 5, platform: 'Web', detectedAt: now - HOUR, lateByMs: ms, lateAt: now - HOUR + ms }));
    }
    for (let i = 0; i < 3; i++) e.recordMismatch(newMismatch({ userID: 'u-top', kind: 'missed_offline', platformID: 2, platform: 'Android', detectedAt: now - 2 * HOUR }));
    e.recordMismatch(newMismatch({ userID: 'u-top', kind: 'missed_online', platformID: 1, platform: 'IOS', detectedAt: now - 2 * HOUR }));
    e.recordMismatch(newMismatch({ userID: 'u-guard', kind: 'suspect_poll', platformID: null, platform: '', detectedAt: now - 3 * HOUR }));
    // Outside the 24 h window: counted by since=72h only.
    e.recordMismatch(newMismatch({ userID: 'u-old', kind: 'transient', platformID: 5, platform: 'Web', detectedAt: now - 48 * HOUR, lateByMs: 60_000, lateAt: now - 48 * HOUR }));
    e.recordMismatch(newMismatch({ userID: 'u-old', kind: 'late_webhook', platformID: 5, platform: 'Web', detectedAt: now - 48 * HOUR, lateByMs: 99_000, lateAt: now - 48 * HOUR }));

    const run = (kind: 'cycle' | 'confirm', startedAt: number, f: { errors?: number; corrections?: number; disagreements?: number; usersPolled?: number; requests?: number }): void => {
      d.store.insertPollRun({
        kind,
        startedAt,
        endedAt: startedAt + 100,
        usersPolled: f.usersPolled ?? 10,
        requests: f.requests ?? 1,
        errors: f.errors ?? 0,
        disagreements: f.disagreements ?? 0,
        confirmations: f.corrections ?? 0,
        corrections: f.corrections ?? 0,
        overBudget: false,
        note: '',
      });
    };
    run('cycle', now - 3 * HOUR, { disagreements: 2 });
    run('cycle', now - 2 * HOUR, { errors: 2, usersPolled: 5, requests: 3 });
    run('cycle', now - HOUR, {});
    run('confirm', now - HOUR + 5000, { corrections: 4, usersPolled: 2 });
    run('cycle', now - 30 * HOUR, { errors: 9 });

    await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'u-web', 5, now));
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('counts mismatches by kind and platform since 24 h (the default)', async () => {
    const r = await getJson<OpsReport>(`${d.apiUrl}/v1/report`);
    expect(r.status).toBe(200);
    const m = r.body.mismatches;
    expect(m.total).toBe(15);
    expect(m.byKind).toEqual({ missed_online: 1, missed_offline: 3, late_webhook: 10, transient: 0, suspect_poll: 1, initial_sync: 0 });
    expect(m.byPlatform).toEqual([
      { platformID: 5, platform: 'Web', count: 10 },
      { platformID: 2, platform: 'Android', count: 3 },
      { platformID: null, platform: '', count: 1 },
      { platformID: 1, platform: 'IOS', count: 1 },
    ]);
    expect(m.byKindAndPlatform).toContainEqual({ kind: 'missed_offline', platformID: 2, platform: 'Android', count: 3 });
    expect(Date.parse(r.body.since)).toBeGreaterThanOrEqual(now - 24 * HOUR - 1000);
  });

  it('gives late-webhook delay percentiles p50, p90 and p99', async () => {
    const r = await getJson<OpsReport>(`${d.apiUrl}/v1/report?since=24h`);
    expect(r.body.lateWebhooks).toEqual({ count: 10, p50Ms: 5000, p90Ms: 9000, p99Ms: 10_000, maxMs: 10_000 });
  });

  it('ranks the top users by mismatches', async () => {
    const r = await getJson<OpsReport>(`${d.apiUrl}/v1/report?since=24h&top=2`);
    expect(r.body.topUsers).toEqual([
      { userID: 'u-late', count: 6 },
      { userID: 'u-top', count: 4 },
    ]);
  });

  it('sums poll runs: cycles, errors and corrections', async () => {
    const r = await getJson<OpsReport>(`${d.apiUrl}/v1/report?since=24h`);
    expect(r.body.polls).toMatchObject({
      runs: 4,
      cycles: 3,
      confirms: 1,
      discoveries: 0,
      errors: 2,
      runsWithErrors: 1,
      corrections: 4,
      disagreements: 2,
      usersPolled: 27,
      requests: 6,
      lastCycleAt: new Date(now - HOUR).toISOString(),
    });
  });

  it('includes the webhook health of the health service', async () => {
    const r = await getJson<OpsReport>(`${d.apiUrl}/v1/report`);
    expect(r.body.webhookHealth.windowMinutes).toBe(60);
    expect(r.body.webhookHealth.entries).toContainEqual(expect.objectContaining({ command: 'online', platform: 'Web', byWebhook: 1, receipts: 1 }));
  });

  it('widens the period with since=72h', async () => {
    const r = await getJson<OpsReport>(`${d.apiUrl}/v1/report?since=72h`);
    expect(r.body.mismatches.total).toBe(17);
    expect(r.body.lateWebhooks.count).toBe(11);
    expect(r.body.lateWebhooks.maxMs).toBe(99_000);
    expect(r.body.polls.errors).toBe(11);
  });

  it('answers 400 naming since or top when they are wrong', async () => {
    const s = await getJson<{ error: { message: string } }>(`${d.apiUrl}/v1/report?since=last-week`);
    expect(s.status).toBe(400);
    expect(s.body.error.message).toMatch(/^since must be .*duration/);
    const t = await getJson<{ error: { message: string } }>(`${d.apiUrl}/v1/report?top=1000`);
    expect(t.status).toBe(400);
    expect(t.body.error.message).toContain('top must be an integer from 1 to 100');
  });
});

describe('percentile', () => {
  it('uses the nearest rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([42], 99)).toBe(42);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
  });
});
