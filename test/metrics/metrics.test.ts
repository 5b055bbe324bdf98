import { spawnSync } from 'node:child_process';
import { register as globalRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { EventBus } from '../../src/engine/event-bus.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { postWebhook, startTestDaemon, TEST_PATH_SECRET, webhookBody } from '../helpers/daemon-fixture.js';

const ON = 'callbackAfterUserOnlineCommand';
const OFF = 'callbackAfterUserOfflineCommand';
const JSON_CT = { 'content-type': 'application/json; charset=utf-8' };
const API_TOKEN = 'metrics-test-api-token-0123456789';
const OPENIM_SECRET = 'metrics-test-openim-secret';

/** The value of one sample: `name{labels} value`, labels in any order. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const x of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[x[1]!] = x[2]!;
    if (Object.keys(have).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

function promtoolAvailable(): boolean {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
}

describe('GET /metrics after known traffic', () => {
  let d: Daemon & { cleanupDir: () => void };
  let text: string;
  let contentType: string | null;

  beforeAll(async () => {
    d = await startTestDaemon({ openim: { secret: OPENIM_SECRET }, api: { tokens: [API_TOKEN] } });
    const t = Date.now();
    for (const u of ['m1', 'm2', 'm3']) expect((await postWebhook(d, ON, webhookBody(ON, u, 5, t))).status).toBe(200);
    expect((await postWebhook(d, ON, webhookBody(ON, 'm1', 5, t))).status).toBe(200); // replay
    for (const u of ['m1', 'm2']) expect((await postWebhook(d, OFF, webhookBody(OFF, u, 5, t + 10))).status).toBe(200);
    expect((await postWebhook(d, ON, '{"callbackCommand":')).status).toBe(400);
    expect((await postWebhook(d, ON, webhookBody(ON, 'm4', 5, t), { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await postWebhook(d, 'callbackBeforeSendSingleMsgCommand', '{}', JSON_CT)).status).toBe(404);
    for (let i = 0; i < 100 && d.engine.heldCount() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    d.engine.correct([
      { userID: 'm5', platformID: 2, toOnline: true, occurredAfter: null, occurredBefore: t, pollAt: t, evidence: [] },
      { userID: 'm3', platformID: 5, toOnline: false, occurredAfter: t, occurredBefore: t + 20, pollAt: t + 20, evidence: [] },
    ]);
    // Events are counted when they are published, i.e. once durable.
    await d.store.durable();
    d.bus.emit('poll:cycle', { kind: 'cycle', durationMs: 120, usersPolled: 40, requests: 2, errors: 1, disagreements: 3, corrections: 0 });
    d.bus.emit('poll:cycle', { kind: 'confirm', durationMs: 30, usersPolled: 3, requests: 1, errors: 0, disagreements: 0, corrections: 2 });
    d.bus.emit('poll:failed', { error: new Error('every poll batch failed') });
    d.bus.emit('guard:raised', { readOffline: 80, believedOnline: 100 });
    d.store.putSubscriberCursor({ name: 'crm', cursor: 2, state: 'retrying', attempts: 3, nextAttemptAt: null, lastError: 'HTTP 502', updatedAt: t });
    const res = await fetch(`${d.apiUrl}/metrics`);
    contentType = res.headers.get('content-type');
    text = await res.text();
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('is served as the Prometheus text format 0.0.4', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('counts webhooks received by command and outcome', () => {
    expect(sample(text, 'opr_webhooks_received_total', { command: ON, outcome: 'recorded' })).toBe(3);
    expect(sample(text, 'opr_webhooks_received_total', { command: ON, outcome: 'duplicate' })).toBe(1);
    expect(sample(text, 'opr_webhooks_received_total', { command: OFF, outcome: 'recorded' })).toBe(2);
  });

  it('counts rejected webhooks by command and reason, folding unknown commands into one label', () => {
    expect(sample(text, 'opr_webhooks_rejected_total', { command: ON, reason: 'malformed_json' })).toBe(1);
    expect(sample(text, 'opr_webhooks_rejected_total', { command: ON, reason: 'unsupported_media_type' })).toBe(1);
    expect(sample(text, 'opr_webhooks_rejected_total', { command: 'unknown', reason: 'unknown_command' })).toBe(1);
    expect(text).not.toContain('callbackBeforeSendSingleMsgCommand');
  });

  it('observes the ingest latency of every accepted webhook in buckets from 0.1 ms', () => {
    expect(sample(text, 'opr_webhook_ingest_duration_seconds_count')).toBe(6);
    expect(sample(text, 'opr_webhook_ingest_duration_seconds_bucket', { le: '0.0001' })).toBeDefined();
    expect(sample(text, 'opr_webhook_ingest_duration_seconds_bucket', { le: '+Inf' })).toBe(6);
  });

  it('observes commit batch sizes adding up to the webhooks committed', () => {
    expect(sample(text, 'opr_commit_batch_size_sum')).toBe(6);
    expect(sample(text, 'opr_commit_duration_seconds_count')).toBe(sample(text, 'opr_commit_batch_size_count'));
  });

  it('counts stream events by type and source, corrections as source poll', () => {
    expect(sample(text, 'opr_events_total', { type: 'presence.online', source: 'webhook' })).toBe(3);
    expect(sample(text, 'opr_events_total', { type: 'presence.offline', source: 'webhook' })).toBe(2);
    expect(sample(text, 'opr_events_total', { type: 'presence.online', source: 'poll' })).toBe(1);
    expect(sample(text, 'opr_events_total', { type: 'presence.offline', source: 'poll' })).toBe(1);
  });

  it('counts mismatches by kind, every kind present from the start', () => {
    expect(sample(text, 'opr_mismatches_total', { kind: 'missed_online' })).toBe(1);
    expect(sample(text, 'opr_mismatches_total', { kind: 'missed_offline' })).toBe(1);
    expect(sample(text, 'opr_mismatches_total', { kind: 'late_webhook' })).toBe(0);
    expect(sample(text, 'opr_mismatches_total', { kind: 'suspect_poll' })).toBe(0);
  });

  it('counts poll cycles, their duration, errors, failures, disagreements and guard alerts', () => {
    expect(sample(text, 'opr_poll_cycles_total', { kind: 'cycle' })).toBe(1);
    expect(sample(text, 'opr_poll_cycles_total', { kind: 'confirm' })).toBe(1);
    expect(sample(text, 'opr_poll_cycle_duration_seconds_sum', { kind: 'cycle' })).toBeCloseTo(0.12);
    expect(sample(text, 'opr_poll_errors_total', { kind: 'cycle' })).toBe(1);
    expect(sample(text, 'opr_poll_requests_total', { kind: 'cycle' })).toBe(2);
    expect(sample(text, 'opr_poll_users_polled_total', { kind: 'cycle' })).toBe(40);
    expect(sample(text, 'opr_poll_failures_total')).toBe(1);
    expect(sample(text, 'opr_poll_disagreements_total')).toBe(3);
    expect(sample(text, 'opr_guard_raised_total')).toBe(1);
  });

  it('reports the stream head, subscriber lag and state read at scrape time', () => {
    expect(sample(text, 'opr_stream_head_seq')).toBe(7);
    expect(sample(text, 'opr_subscriber_lag_events', { subscriber: 'crm' })).toBe(5);
    expect(sample(text, 'opr_subscriber_state', { subscriber: 'crm', state: 'retrying' })).toBe(1);
    expect(sample(text, 'opr_subscriber_state', { subscriber: 'crm', state: 'active' })).toBe(0);
  });

  it('reports webhook health as one gauge per command, platform and state', () => {
    expect(sample(text, 'opr_webhook_health', { command: 'online', platform: 'Web', state: 'healthy' })).toBe(1);
    expect(sample(text, 'opr_webhook_health', { command: 'online', platform: 'Web', state: 'silent' })).toBe(0);
    expect(sample(text, 'opr_webhook_health', { command: 'online', platform: 'Android', state: 'healthy' })).toBeDefined();
  });

  it('reports presence sizes and SSE connections', () => {
    expect(sample(text, 'opr_presence_online_users')).toBe(1); // m5, corrected online
    expect(sample(text, 'opr_presence_held_offlines')).toBe(0);
    expect(sample(text, 'opr_sse_connections')).toBe(0);
  });

  it('prefixes every metric of the daemon with opr_ (besides the standard process_ and nodejs_ ones)', () => {
    const names = new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!));
    for (const n of names) expect(n).toMatch(/^(opr|process|nodejs)_/);
    expect([...names].filter((n) => n.startsWith('opr_')).length).toBeGreaterThanOrEqual(20);
  });

  it('contains no secret: not the OpenIM secret, the webhook path secret or an API token', () => {
    expect(text).not.toContain(OPENIM_SECRET);
    expect(text).not.toContain(TEST_PATH_SECRET);
    expect(text).not.toContain(API_TOKEN);
  });

  it('passes `promtool check metrics`', (ctx) => {
    if (!promtoolAvailable()) {
      ctx.skip('promtool is not installed (Debian: apt-get install prometheus); the exposition format was not validated');
    }
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('createMetrics', () => {
  it('uses its own registry, so two instances coexist and the global registry stays empty', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const a = createMetrics({ bus: new EventBus(), store, defaultMetrics: false });
    const b = createMetrics({ bus: new EventBus(), store, defaultMetrics: false });
    expect(a.registry).not.toBe(b.registry);
    expect(await globalRegistry.metrics()).not.toContain('opr_');
    a.close();
    b.close();
    store.close();
  });

  it('exposes opr_sse_connections with inc() and dec() for the stream routes', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const m = createMetrics({ bus: new EventBus(), store, defaultMetrics: false });
    m.sseConnections.inc();
    m.sseConnections.inc();
    m.sseConnections.dec();
    expect(sample(await m.render(), 'opr_sse_connections')).toBe(1);
    m.close();
    store.close();
  });

  it('stops following the bus after close(), and close() twice is safe', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const bus = new EventBus();
    const m = createMetrics({ bus, store, defaultMetrics: false });
    bus.emit('guard:raised', { readOffline: 60, believedOnline: 100 });
    m.close();
    m.close();
    bus.emit('guard:raised', { readOffline: 60, believedOnline: 100 });
    expect(sample(await m.render(), 'opr_guard_raised_total')).toBe(1);
    store.close();
  });

  it('recomputes webhook health at most once per cache period', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    let calls = 0;
    let t = 0;
    const m = createMetrics({ bus: new EventBus(), store, defaultMetrics: false, healthCacheMs: 1000, now: () => t, webhookHealth: () => (calls++, []) });
    await m.render();
    await m.render();
    expect(calls).toBe(1);
    t = 1000;
    await m.render();
    expect(calls).toBe(2);
    m.close();
    store.close();
  });
});
