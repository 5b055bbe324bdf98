/**
 * One subscriber's delivery loop against an in-memory event log and a scripted HTTP client: what it sends, when it
 * moves its cursor, and its retry and dead-letter states.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SubscriberConfig } from '../../src/config/schema.js';
import type { PresenceEvent } from '../../src/domain.js';
import { PushWorker } from '../../src/push/push-worker.js';
import type { PushStore } from '../../src/push/push-worker.js';
import { decodeSigningSecret } from '../../src/push/webhook-signature.js';
import type { EventFilter, SubscriberCursor } from '../../src/store/store.js';
import { waitUntil } from '../api/stream-fixtures.js';
import { SECRET } from './receiver.js';

/** The store as a worker sees it: an event log with a head and a retention horizon, and the cursors it writes. */
class MemoryLog implements PushStore {
  events: PresenceEvent[] = [];
  pruned = 0;
  readonly cursors = new Map<string, SubscriberCursor>();
  readonly writes: SubscriberCursor[] = [];

  append(count: number, userID = 'u1'): void {
    for (let i = 0; i < count; i++) {
      const seq = this.headSeq() + 1;
      this.events.push({
        seq,
        type: seq % 2 === 1 ? 'presence.online' : 'presence.offline',
        userID,
        platformID: 5,
        platform: 'Web',
        userOnline: seq % 2 === 1,
        userVersion: seq,
        source: 'webhook',
        occurredAt: 1_700_000_000_000,
        occurredAfter: null,
        occurredBefore: null,
        recordedAt: 1_700_000_000_000,
        mismatchID: null,
      });
    }
  }

  getSubscriberCursor(name: string): SubscriberCursor | undefined {
    return this.cursors.get(name);
  }

  putSubscriberCursor(c: SubscriberCursor): void {
    this.cursors.set(c.name, { ...c });
    this.writes.push({ ...c });
  }

  headSeq(): number {
    return this.events[this.events.length - 1]?.seq ?? 0;
  }

  prunedThroughSeq(): number {
    return this.pruned;
  }

  scanEvents(afterSeq: number, limit: number, filter: EventFilter): { events: PresenceEvent[]; scannedTo: number } {
    const matching = this.events.filter(
      (e) => e.seq > afterSeq && (!filter.users?.length || filter.users.includes(e.userID)) && (!filter.types?.length || filter.types.includes(e.type)),
    );
    const events = matching.slice(0, limit);
    return { events, scannedTo: events.length === limit ? events[events.length - 1]!.seq : Math.max(afterSeq, this.headSeq()) };
  }
}

interface Sent {
  url: string;
  headers: Record<string, string>;
  seqs: number[];
}

/** A fetch that records each request and answers what `answer` says for the n-th one (0-based). */
function scriptedFetch(answer: (n: number) => number | Error): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const fake = (input: string, init: { body: string; headers: Record<string, string> }): Promise<Response> => {
    const body = JSON.parse(init.body) as { events: { seq: number }[] };
    const n = sent.length;
    sent.push({ url: input, headers: { ...init.headers }, seqs: body.events.map((e) => e.seq) });
    const a = answer(n);
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(new Response(null, { status: a }));
  };
  // The worker calls fetch with a string URL, a string body and a plain header object.
  return { fetch: fake as unknown as typeof fetch, sent };
}

function subscriber(overrides: Partial<SubscriberConfig> = {}): SubscriberConfig {
  return { name: 'billing', url: 'https://billing.test/hook', users: [], types: [], batchSize: 2, maxAttempts: 3, timeoutMs: 1000, ...overrides };
}

const workers: PushWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

/** A started worker; `clock` is its time, moved by the test. */
function startWorker(
  log: MemoryLog,
  answer: (n: number) => number | Error,
  cfg: Partial<SubscriberConfig> = {},
  key?: Buffer,
): { worker: PushWorker; sent: Sent[]; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const { fetch, sent } = scriptedFetch(answer);
  const worker = new PushWorker(subscriber(cfg), key, {
    store: log,
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    fetch,
    baseDelayMs: 100,
    maxDelayMs: 60_000,
    idleCheckMs: 20,
    random: () => 0,
  });
  workers.push(worker);
  worker.start();
  return { worker, sent, clock };
}

describe('PushWorker', () => {
  it('starts a new subscriber at the head, then sends what is committed after it in batches, in seq order', async () => {
    const log = new MemoryLog();
    log.append(3);
    const { worker, sent } = startWorker(log, () => 200);
    expect(log.cursors.get('billing')).toMatchObject({ cursor: 3, state: 'active' });
    log.append(5);
    worker.notify();
    await waitUntil(() => worker.status().cursor === 8, 'the cursor at the head');
    expect(sent.map((s) => s.seqs)).toEqual([[4, 5], [6, 7], [8]]);
    expect(sent.map((s) => s.headers['webhook-id'])).toEqual(['msg_billing_4_5', 'msg_billing_6_7', 'msg_billing_8_8']);
    expect(log.cursors.get('billing')).toMatchObject({ cursor: 8, state: 'active', attempts: 0, lastError: '' });
    expect(worker.status()).toMatchObject({ head: 8, lag: 0, deliveredEvents: 5, lastDeliveredAt: 1_000_000, signed: false });
  });

  it('resumes from the saved cursor and state', async () => {
    const log = new MemoryLog();
    log.append(4);
    log.cursors.set('billing', { name: 'billing', cursor: 2, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    const { worker, sent } = startWorker(log, () => 200);
    await waitUntil(() => worker.status().cursor === 4, 'the cursor at the head');
    expect(sent.map((s) => s.seqs)).toEqual([[3, 4]]);
  });

  it('signs with the key it was given, and sends no signature without one', async () => {
    const log = new MemoryLog();
    log.cursors.set('billing', { name: 'billing', cursor: 0, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    log.append(1);
    const signed = startWorker(log, () => 200, {}, decodeSigningSecret(SECRET));
    await waitUntil(() => signed.sent.length === 1, 'one request');
    expect(signed.sent[0]!.headers['webhook-signature']).toMatch(/^v1,/);
    expect(signed.worker.status().signed).toBe(true);
    const other = new MemoryLog();
    other.cursors.set('billing', { name: 'billing', cursor: 0, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    other.append(1);
    const unsigned = startWorker(other, () => 200);
    await waitUntil(() => unsigned.sent.length === 1, 'one request');
    expect(unsigned.sent[0]!.headers['webhook-signature']).toBeUndefined();
    expect(unsigned.sent[0]!.headers['webhook-id']).toBe('msg_billing_1_1');
  });

  it('retries a failed batch with the same id after the backoff, then resets its retry state', async () => {
    const log = new MemoryLog();
    log.cursors.set('billing', { name: 'billing', cursor: 0, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    log.append(2);
    const { worker, sent, clock } = startWorker(log, (n) => (n < 2 ? 503 : 200), { maxAttempts: 5 });
    await waitUntil(() => worker.status().attempts === 1, 'the first failure');
    // random 0: the lower end of the upper half, baseDelayMs / 2 for the first retry.
    expect(worker.status()).toMatchObject({ state: 'retrying', attempts: 1, nextAttemptAt: 1_000_050, lastError: 'HTTP 503', cursor: 0 });
    expect(log.cursors.get('billing')).toMatchObject({ state: 'retrying', attempts: 1, nextAttemptAt: 1_000_050, lastError: 'HTTP 503' });
    clock.now = 1_000_050;
    await waitUntil(() => worker.status().attempts === 2, 'the second failure');
    expect(worker.status()).toMatchObject({ state: 'retrying', nextAttemptAt: 1_000_150 });
    clock.now = 1_000_150;
    await waitUntil(() => worker.status().cursor === 2, 'the delivery');
    expect(sent.map((s) => s.headers['webhook-id'])).toEqual(['msg_billing_1_2', 'msg_billing_1_2', 'msg_billing_1_2']);
    expect(worker.status()).toMatchObject({ state: 'active', attempts: 0, nextAttemptAt: null, lastError: '' });
  });

  it('dead-letters after maxAttempts failures, sends nothing more, and an operator retry resumes', async () => {
    const log = new MemoryLog();
    log.cursors.set('billing', { name: 'billing', cursor: 0, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    log.append(1);
    let failing = true;
    const { worker, sent, clock } = startWorker(log, () => (failing ? 500 : 200), { maxAttempts: 2 });
    await waitUntil(() => worker.status().attempts === 1, 'the first failure');
    clock.now += 60_000;
    await waitUntil(() => worker.status().state === 'dead', 'the dead-letter');
    expect(worker.status()).toMatchObject({ state: 'dead', attempts: 2, nextAttemptAt: null, lastError: 'HTTP 500 (2 attempts)' });
    expect(log.cursors.get('billing')).toMatchObject({ state: 'dead', lastError: 'HTTP 500 (2 attempts)' });
    clock.now += 3_600_000;
    log.append(1);
    worker.notify();
    await new Promise((r) => setTimeout(r, 100));
    expect(sent).toHaveLength(2);
    failing = false;
    worker.retry();
    await waitUntil(() => worker.status().cursor === 2, 'delivery after the retry');
    // The pending batch first, as it was, then what was committed meanwhile.
    expect(sent.slice(2).map((s) => s.seqs)).toEqual([[1], [2]]);
    expect(worker.status()).toMatchObject({ state: 'active', attempts: 0 });
  });

  it('replays from a seq with new webhook ids', async () => {
    const log = new MemoryLog();
    log.append(3);
    const { worker, sent, clock } = startWorker(log, () => 200, { batchSize: 10 });
    clock.now = 2_000_000;
    worker.replay(2);
    await waitUntil(() => sent.length === 1, 'the replayed batch');
    expect(sent[0]).toMatchObject({ seqs: [2, 3], headers: { 'webhook-id': 'msg_billing_2_3_r2000000' } });
  });

  it('dead-letters a cursor that retention has passed, saying from where to replay', async () => {
    const log = new MemoryLog();
    log.cursors.set('billing', { name: 'billing', cursor: 1, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    log.append(9);
    log.pruned = 5;
    const { worker, sent } = startWorker(log, () => 200);
    await waitUntil(() => worker.status().state === 'dead', 'the dead-letter');
    expect(worker.status().lastError).toBe(
      'events after 1 were removed by retention (kept from seq 6): replay from 6 or later after re-syncing the receiver from GET /v1/presence',
    );
    expect(sent).toHaveLength(0);
  });

  it('sends URL credentials as Basic auth to the URL without them, and keeps the password out of the last error', async () => {
    const log = new MemoryLog();
    log.cursors.set('billing', { name: 'billing', cursor: 0, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    log.append(1);
    const url = 'https://hook:s3cr%zzet@billing.test/hook';
    const { worker, sent } = startWorker(log, () => new TypeError('fetch failed', { cause: new Error('bad s3cr%zzet') }), { url });
    await waitUntil(() => worker.status().attempts === 1, 'the failure');
    expect(sent[0]!.url).toBe('https://billing.test/hook');
    expect(sent[0]!.headers.authorization).toBe(`Basic ${Buffer.from('hook:s3cr%zzet').toString('base64')}`);
    expect(worker.status().lastError).toBe('network error: bad [REDACTED]');
    expect(worker.status().url).toBe('https://billing.test/hook');
  });

  it('moves past events its filter leaves out, and saves that cursor when it stops', async () => {
    const log = new MemoryLog();
    log.cursors.set('billing', { name: 'billing', cursor: 0, state: 'active', attempts: 0, nextAttemptAt: null, lastError: '', updatedAt: 0 });
    log.append(3, 'someone-else');
    const { worker, sent } = startWorker(log, () => 200, { users: ['u1'] });
    await waitUntil(() => worker.status().cursor === 3, 'the cursor past the filtered events');
    expect(sent).toHaveLength(0);
    await worker.stop();
    expect(log.cursors.get('billing')?.cursor).toBe(3);
  });
});
