import { afterEach, describe, expect, it } from 'vitest';
import type { Heartbeat, SubscribeError, Subscription } from '../../src/index.js';
import { subscribe } from '../../src/index.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { PresenceEventJson } from '../../src/domain.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { firstBreak, produce, sleep, userIDs, waitUntil } from '../api/stream-fixtures.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

/** A fetch whose streams break after `limit` bytes, `cuts` times; it counts the requests it made. */
function breakingFetch(state: { cuts: number; requests: number; limit: () => number }): typeof fetch {
  return async (input, init) => {
    state.requests++;
    const res = await fetch(input, init);
    if (!res.body || state.cuts <= 0) return res;
    state.cuts--;
    const limit = state.limit();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          if (seen + value.length >= limit) {
            controller.enqueue(value.subarray(0, limit - seen));
            controller.error(new Error('connection reset'));
            await reader.cancel();
            return;
          }
          seen += value.length;
          controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      }),
      { status: res.status, headers: res.headers },
    );
  };
}

describe('subscribe()', () => {
  let d: TestDaemon | undefined;
  const subs: Subscription[] = [];
  afterEach(async () => {
    for (const s of subs.splice(0)) s.close();
    await d?.close();
    d?.cleanupDir();
    d = undefined;
  });

  function follow(options: Partial<Parameters<typeof subscribe>[0]> = {}) {
    const events: PresenceEventJson[] = [];
    const errors: SubscribeError[] = [];
    const heartbeats: Heartbeat[] = [];
    const sub = subscribe({
      url: d!.apiUrl,
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e),
      onHeartbeat: (h) => heartbeats.push(h),
      initialRetryMs: 20,
      ...options,
    });
    subs.push(sub);
    return { sub, events, errors, heartbeats, seqs: () => events.map((e) => e.seq) };
  }

  it('delivers the events after `after` in order, then live ones, and tracks lastSeq', async () => {
    d = await startTestDaemon();
    await produce(d, 5);
    const f = follow({ after: 2 });
    await waitUntil(() => f.events.length === 3, 'the history');
    await produce(d, 2);
    await waitUntil(() => f.events.length === 5, 'the live events');
    expect(f.seqs()).toEqual([3, 4, 5, 6, 7]);
    expect(f.events[0]).toMatchObject({ seq: 3, type: 'presence.online', platform: 'Web', source: 'poll' });
    expect(f.sub.lastSeq()).toBe(7);
    expect(f.heartbeats[0]).toEqual({ head: 5, cursor: 2 });
    expect(f.errors).toEqual([]);
  });

  it('starts at the head without `after`, and filters by users and types', async () => {
    d = await startTestDaemon();
    await produce(d, 8, userIDs(4));
    const all = follow();
    const some = follow({ users: ['u1'], types: ['presence.online'] });
    await waitUntil(() => all.heartbeats.length > 0 && some.heartbeats.length > 0, 'the first heartbeats');
    expect(all.sub.lastSeq()).toBe(8);
    await produce(d, 8, userIDs(4));
    await waitUntil(() => all.events.length === 8, 'the new events');
    await waitUntil(() => some.events.length === 1, 'the matching event');
    expect(some.events.map((e) => [e.seq, e.userID, e.type])).toEqual([[10, 'u1', 'presence.online']]);
  });

  describe('when its connections break at random points while events are produced', () => {
    it('reconnects and resumes with no gap and no duplicate', async () => {
      d = await startTestDaemon();
      await produce(d, 200, userIDs(40));
      let n = 0;
      const state = { cuts: 8, requests: 0, limit: () => 300 + ((n++ * 7919) % 5000) };
      const f = follow({ after: 0, fetch: breakingFetch(state) });
      for (let i = 0; i < 30; i++) {
        await produce(d, 10, userIDs(40));
        await sleep(15);
      }
      const head = d.store.headSeq();
      await waitUntil(() => f.events.length >= head && state.cuts === 0, 'every event', 20_000);
      await sleep(50);
      expect(f.seqs()).toHaveLength(head);
      expect(firstBreak(f.seqs(), 1)).toBe(-1);
      expect(state.requests).toBeGreaterThanOrEqual(9);
      expect(f.errors.length).toBeGreaterThanOrEqual(8);
      for (const e of f.errors) {
        expect(e.fatal).toBe(false);
        expect(e.message).toContain('reconnecting in');
      }
    });
  });

  it('delivers an event again when onEvent threw for it', async () => {
    d = await startTestDaemon();
    await produce(d, 3);
    const seen: number[] = [];
    let failed = false;
    const f = follow({
      after: 0,
      onEvent: (e) => {
        if (e.seq === 2 && !failed) {
          failed = true;
          throw new Error('database busy');
        }
        seen.push(e.seq);
      },
    });
    await waitUntil(() => seen.length === 3, 'every event');
    expect(seen).toEqual([1, 2, 3]);
    expect(f.errors[0]?.message).toContain('onEvent failed for event #2: database busy');
  });

  it('stops with a fatal error that says what to do when its cursor is older than retention (410)', async () => {
    d = await startTestDaemon();
    await produce(d, 10);
    d.store.prune(Date.now() + 60_000);
    const f = follow({ after: 3 });
    await waitUntil(() => f.errors.length === 1, 'the error');
    await sleep(100);
    expect(f.errors).toHaveLength(1);
    const err = f.errors[0]!;
    expect(err).toMatchObject({ fatal: true, kind: 'expired', status: 410, code: 'OPR_ERR_CURSOR_EXPIRED', oldestSeq: 11 });
    expect(err.message).toContain('GET /v1/presence');
    expect(f.events).toEqual([]);
  });

  it('stops with a fatal error when the token is refused (401)', async () => {
    d = await startTestDaemon({ api: { requireAuth: 'always', tokens: ['subscribe-test-token-0123'] } });
    const refused = follow({ token: 'wrong-token-wrong-token' });
    await waitUntil(() => refused.errors.length === 1, 'the error');
    expect(refused.errors[0]).toMatchObject({ fatal: true, kind: 'unauthorized', status: 401 });
    const accepted = follow({ token: 'subscribe-test-token-0123' });
    await waitUntil(() => accepted.heartbeats.length > 0, 'the stream');
    await produce(d, 1);
    await waitUntil(() => accepted.events.length === 1, 'the event');
  });

  it('keeps retrying while the daemon refuses more streams (503), and connects once one is free', async () => {
    d = await startTestDaemon({ api: { maxSseConnections: 1 } });
    const first = follow();
    await waitUntil(() => first.heartbeats.length > 0, 'the first stream');
    const second = follow({ after: 0 });
    await waitUntil(() => second.errors.length >= 2, 'refusals');
    expect(second.errors[0]).toMatchObject({ fatal: false, status: 503, code: 'OPR_ERR_TOO_MANY_CONNECTIONS' });
    first.sub.close();
    await produce(d, 1);
    await waitUntil(() => second.events.length === 1, 'the event on the second stream', 15_000);
  });

  it('calls nothing after close()', async () => {
    d = await startTestDaemon();
    const f = follow();
    await waitUntil(() => f.heartbeats.length > 0, 'the stream');
    f.sub.close();
    f.sub.close();
    await produce(d, 3);
    await sleep(200);
    expect(f.events).toEqual([]);
    expect(f.errors).toEqual([]);
  });
});
