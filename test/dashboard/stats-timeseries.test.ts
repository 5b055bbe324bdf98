import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Timeseries } from '../../src/api/stats-routes.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { correction, online } from './scenario.js';

async function timeseries(d: Daemon, query: string): Promise<{ status: number; body: Timeseries & { error?: { code: string; message: string } } }> {
  const res = await fetch(`${d.apiUrl}/v1/stats/timeseries${query}`);
  return { status: res.status, body: (await res.json()) as Timeseries & { error?: { code: string; message: string } } };
}

describe('GET /v1/stats/timeseries', () => {
  let d: Daemon & { cleanupDir: () => void };
  beforeAll(async () => {
    d = await startTestDaemon();
    await online(d, 'ts-a', 5);
    await online(d, 'ts-b', 5);
    await online(d, 'ts-a', 5); // a renewal: a receipt, no transition
    // ts-b (online by webhook) corrected offline, ts-d (never seen) corrected online.
    d.engine.correct([correction('ts-b', 5, false), correction('ts-d', 2, true)]);
    await d.store.durable();
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('counts transitions by source, webhooks received and mismatches by kind', async () => {
    const { status, body } = await timeseries(d, '?since=1h&bucket=60');
    expect(status).toBe(200);
    expect(body.bucketSeconds).toBe(60);
    expect(body.kinds).toEqual(['missed_online', 'missed_offline', 'late_webhook', 'transient', 'suspect_poll', 'initial_sync']);
    expect(body.totals).toEqual({
      webhook: 2,
      poll: 2,
      receipts: 3,
      mismatches: { missed_online: 1, missed_offline: 1, late_webhook: 0, transient: 0, suspect_poll: 0, initial_sync: 0 },
    });
    // Sum of the buckets equals the totals, and the buckets are consecutive minutes aligned to the minute.
    const sum = body.buckets.reduce((n, b) => n + b.webhook + b.poll, 0);
    expect(sum).toBe(4);
    expect(body.buckets.length).toBeGreaterThanOrEqual(60);
    expect(body.buckets.length).toBeLessThanOrEqual(61);
    const starts = body.buckets.map((b) => Date.parse(b.t));
    expect(starts[0]! % 60_000).toBe(0);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBe(60_000);
    const last = body.buckets.findLast((b) => b.webhook + b.poll > 0)!;
    expect(last.mismatches.missed_online + last.mismatches.missed_offline).toBe(2);
  });

  it('picks a bucket size giving at most 90 buckets when none is given', async () => {
    const day = await timeseries(d, '?since=24h');
    expect(day.status).toBe(200);
    expect(day.body.bucketSeconds).toBe(1800);
    expect(day.body.buckets.length).toBeLessThanOrEqual(90);
    expect(day.body.totals.webhook).toBe(2);
    const hour = await timeseries(d, '');
    expect(hour.body.bucketSeconds).toBe(60);
  });

  it('leaves out what happened before since', async () => {
    const until = new Date(Date.now() - 3_600_000).toISOString();
    const { status, body } = await timeseries(d, `?since=2h&until=${until}&bucket=300`);
    expect(status).toBe(200);
    expect(body.totals.webhook + body.totals.poll + body.totals.receipts).toBe(0);
  });

  it('refuses too many buckets, a bad bucket and a reversed range with messages naming the parameter', async () => {
    const many = await timeseries(d, '?since=7d&bucket=1');
    expect(many.status).toBe(400);
    expect(many.body.error?.message).toMatch(/at most 1440/);
    const bad = await timeseries(d, '?bucket=abc');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/^bucket must be an integer/);
    const reversed = await timeseries(d, `?since=${Date.now()}&until=1h`);
    expect(reversed.status).toBe(400);
    expect(reversed.body.error?.message).toMatch(/since .* must be before until/);
    const since = await timeseries(d, '?since=yesterday');
    expect(since.status).toBe(400);
    expect(since.body.error?.message).toMatch(/^since must be/);
  });
});
