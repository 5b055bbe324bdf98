import { EventSource } from 'eventsource';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { PresenceEventJson } from '../../src/domain.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import type { OpenStream } from './sse-reader.js';
import { openStream } from './sse-reader.js';
import { firstBreak, produce, sleep, userIDs, waitUntil } from './stream-fixtures.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

/** A deterministic pseudo-random sequence (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A fetch whose response bodies break after a random number of bytes, the first `cuts` times. */
function cuttingFetch(random: () => number, state: { cutsLeft: number; requests: Headers[] }): typeof fetch {
  return async (input, init) => {
    state.requests.push(new Headers(init?.headers));
    const res = await fetch(input, init);
    if (!res.body || state.cutsLeft <= 0) return res;
    state.cutsLeft--;
    const limit = 200 + Math.floor(random() * 6000);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        if (seen + value.length >= limit) {
          controller.enqueue(value.subarray(0, limit - seen));
          controller.error(new Error('simulated network cut'));
          await reader.cancel();
          return;
        }
        seen += value.length;
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

async function metricValue(d: Daemon, line: string): Promise<number | undefined> {
  const text = await (await fetch(`${d.apiUrl}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('GET /v1/events as server-sent events', () => {
  let d: TestDaemon | undefined;
  const streams: OpenStream[] = [];
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await d?.close();
    d?.cleanupDir();
    d = undefined;
  });

  async function open(path: string, headers: Record<string, string> = {}): Promise<OpenStream> {
    const s = await openStream(`${d!.apiUrl}${path}`, headers);
    streams.push(s);
    return s;
  }

  it('sends history then live events as `id: <seq>` and `data: <event JSON>`, after a heartbeat with the head', async () => {
    d = await startTestDaemon();
    const t0 = Date.now();
    await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'ann', 5, t0));
    await produce(d, 2, ['bob', 'cy']);
    const s = await open('/v1/events?after=0');
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(s.headers.get('cache-control')).toContain('no-cache');
    await waitUntil(() => s.seqs().length === 3, 'the history');
    await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'dee', 1, t0));
    await waitUntil(() => s.seqs().length === 4, 'the live event');

    expect(s.text().startsWith('retry: 1000\n\nevent: heartbeat\nid: 0\ndata: {"head":3,"cursor":0,"intervalSeconds":15}\n\nid: 1\ndata: {"seq":1,')).toBe(true);
    const events = s.messages.filter((m) => m.event === 'message');
    expect(events.map((m) => m.id)).toEqual(['1', '2', '3', '4']);
    const pages = (await (await fetch(`${d.apiUrl}/v1/events?after=0`)).json()) as { events: PresenceEventJson[] };
    // The same objects as the JSON pages carry.
    expect(events.map((m) => JSON.parse(m.data) as PresenceEventJson)).toEqual(pages.events);
    expect(pages.events[3]).toMatchObject({ seq: 4, type: 'presence.online', userID: 'dee', platform: 'IOS', source: 'webhook' });
  });

  it('starts at the head without a cursor, and prefers Last-Event-ID over ?after=', async () => {
    d = await startTestDaemon();
    await produce(d, 5);
    const fromHead = await open('/v1/events');
    const resumed = await open('/v1/events?after=1', { 'last-event-id': '3' });
    await waitUntil(() => resumed.seqs().length === 2, 'the resumed history');
    await produce(d, 1);
    await waitUntil(() => fromHead.seqs().length === 1 && resumed.seqs().length === 3, 'the live event');
    expect(fromHead.seqs()).toEqual([6]);
    expect(fromHead.messages[0]).toMatchObject({ event: 'heartbeat', id: '5' });
    expect(resumed.seqs()).toEqual([4, 5, 6]);
  });

  it('refuses a malformed Last-Event-ID and a cursor ahead of the head with 400', async () => {
    d = await startTestDaemon();
    await produce(d, 2);
    const bad = await open('/v1/events', { 'last-event-id': 'abc' });
    expect(bad.status).toBe(400);
    const ahead = await fetch(`${d.apiUrl}/v1/events?after=99`, { headers: { accept: 'text/event-stream' } });
    expect(ahead.status).toBe(400);
    const body = (await ahead.json()) as { error: { code: string; message: string; head: number } };
    expect(body.error).toMatchObject({ code: 'OPR_ERR_BAD_REQUEST', head: 2 });
    expect(body.error.message).toContain('ahead of the stream head 2');
  });

  describe('when an EventSource is disconnected at random points while events are produced', () => {
    it('resumes from Last-Event-ID with no gap and no duplicate', async () => {
      d = await startTestDaemon();
      await produce(d, 300, userIDs(50));
      const random = prng(20_241_125);
      const state = { cutsLeft: 5, requests: [] as Headers[] };
      const seqs: number[] = [];
      const es = new EventSource(`${d.apiUrl}/v1/events?after=0`, { fetch: cuttingFetch(random, state) });
      es.addEventListener('message', (m) => seqs.push((JSON.parse(m.data as string) as PresenceEventJson).seq));
      try {
        // Produce while it reads, reconnects and resumes.
        for (let i = 0; i < 40; i++) {
          await produce(d, 10, userIDs(50));
          await sleep(20 + Math.floor(random() * 60));
        }
        const head = d.store.headSeq();
        expect(head).toBe(700);
        await waitUntil(() => seqs.length >= head && state.cutsLeft === 0, 'every event after the cuts', 20_000);
        await sleep(100);
      } finally {
        es.close();
      }
      expect(state.cutsLeft).toBe(0);
      expect(seqs).toHaveLength(700);
      expect(firstBreak(seqs, 1)).toBe(-1);
      // Every reconnection said where it stopped.
      const resumed = state.requests.slice(1).map((h) => h.get('last-event-id'));
      expect(resumed.length).toBeGreaterThanOrEqual(5);
      for (const id of resumed) expect(id).toMatch(/^\d+$/);
    });
  });

  describe('when events are committed while history is being sent', () => {
    it('delivers every event exactly once across the seam between history and live events', async () => {
      d = await startTestDaemon();
      const users = userIDs(100);
      await produce(d, 6000, users);
      const s = await open('/v1/events?after=0');
      // Commit more events between the pages of history the stream is sending.
      let produced = 0;
      while (s.seqs().length < 6000 + produced && produced < 3000) {
        await produce(d, 20, users);
        produced += 20;
        await new Promise((r) => setImmediate(r));
      }
      const head = d.store.headSeq();
      expect(head).toBe(6000 + produced);
      expect(produced).toBeGreaterThan(0);
      await waitUntil(() => s.seqs().length >= head, 'every event', 20_000);
      await produce(d, 5, users);
      await waitUntil(() => s.seqs().length >= head + 5, 'the live tail');
      const seqs = s.seqs();
      expect(seqs).toHaveLength(head + 5);
      expect(firstBreak(seqs, 1)).toBe(-1);
    });
  });

  it('answers 410 OPR_ERR_CURSOR_EXPIRED for a cursor older than retention, and resumes from the oldest kept', async () => {
    d = await startTestDaemon({ store: { retentionDays: 1 } });
    await produce(d, 20);
    const pruned = d.store.prune(Date.now() + 60_000);
    expect(pruned.events).toBe(20);
    await produce(d, 3);
    const gone = await fetch(`${d.apiUrl}/v1/events?after=5`, { headers: { accept: 'text/event-stream' } });
    expect(gone.status).toBe(410);
    const body = (await gone.json()) as { error: { code: string; message: string; oldestSeq: number } };
    expect(body.error).toMatchObject({ code: 'OPR_ERR_CURSOR_EXPIRED', oldestSeq: 21 });
    expect(body.error.message).toContain('GET /v1/presence');
    const viaHeader = await open('/v1/events', { 'last-event-id': '19' });
    expect(viaHeader.status).toBe(410);
    const page = await fetch(`${d.apiUrl}/v1/events?after=5`);
    expect(page.status).toBe(410);
    const kept = await open('/v1/events?after=20');
    await waitUntil(() => kept.seqs().length === 3, 'the retained events');
    expect(kept.seqs()).toEqual([21, 22, 23]);
  });

  it('filters by users and types, and its heartbeats move the cursor past the events left out', async () => {
    d = await startTestDaemon({ api: { sseHeartbeatSeconds: 1 } });
    await produce(d, 40, userIDs(4));
    const s = await open('/v1/events?after=0&users=u1,u3&types=presence.offline');
    await waitUntil(() => s.seqs().length === 10, 'the filtered history');
    const events = s.messages.filter((m) => m.event === 'message').map((m) => JSON.parse(m.data) as PresenceEventJson);
    expect(new Set(events.map((e) => e.userID))).toEqual(new Set(['u1', 'u3']));
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['presence.offline']));
    await produce(d, 4, userIDs(4));
    await waitUntil(() => s.messages.some((m) => m.event === 'heartbeat' && m.id === '44'), 'a heartbeat at the head');
    expect(s.seqs()).toHaveLength(10);
    const bad = await fetch(`${d.apiUrl}/v1/events?types=presence.away`, { headers: { accept: 'text/event-stream' } });
    expect(bad.status).toBe(400);
  });

  it('sends a heartbeat carrying the head every api.sseHeartbeatSeconds', async () => {
    d = await startTestDaemon({ api: { sseHeartbeatSeconds: 1 } });
    await produce(d, 3);
    const s = await open('/v1/events?after=3');
    await waitUntil(() => s.messages.filter((m) => m.event === 'heartbeat').length >= 2, 'two heartbeats', 5000);
    const beats = s.messages.filter((m) => m.event === 'heartbeat').map((m) => JSON.parse(m.data) as unknown);
    expect(beats[1]).toEqual({ head: 3, cursor: 3, intervalSeconds: 1 });
  });

  describe('when a subscriber stops reading', () => {
    it('cuts it once its unsent bytes pass api.sseMaxBufferedBytes, and logs and counts the cut', async () => {
      d = await startTestDaemon({ api: { sseMaxBufferedBytes: 16_384 } });
      const { port } = new URL(d.apiUrl);
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write('GET /v1/events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n');
      // Never read: the kernel buffers fill, then the daemon's.
      socket.pause();
      const daemon = d;
      for (let i = 0; i < 100 && (await metricValue(daemon, 'opr_sse_connections')) !== 1; i++) await sleep(10);
      expect(await metricValue(daemon, 'opr_sse_connections')).toBe(1);
      let cut = false;
      // Long userIDs make big events: the kernel's socket buffers fill sooner.
      const users = userIDs(500).map((u) => `${u}-${'x'.repeat(240)}`);
      for (let i = 0; i < 200 && !cut; i++) {
        await produce(daemon, 500, users);
        if (i % 4 === 3) cut = (await metricValue(daemon, 'opr_sse_disconnects_total{reason="slow"}')) === 1;
        await new Promise((r) => setImmediate(r));
      }
      socket.destroy();
      expect(cut).toBe(true);
      expect(await metricValue(daemon, 'opr_sse_connections')).toBe(0);
      // Other streams are unaffected.
      const s = await open('/v1/events?after=0&limit=1');
      await waitUntil(() => s.seqs().length > 0, 'a fresh stream');
    });
  });

  describe('when a subscriber catching up on history stops reading', () => {
    it('pauses at the socket buffer instead of reading ahead, and cuts it after four heartbeats without progress', async () => {
      // History several times the buffer limit: only pausing keeps the daemon's buffer under it.
      d = await startTestDaemon({ api: { sseHeartbeatSeconds: 1, sseMaxBufferedBytes: 1_048_576 } });
      await produce(d, 12_000, userIDs(500).map((u) => `${u}-${'x'.repeat(240)}`));
      const { port } = new URL(d.apiUrl);
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write('GET /v1/events?after=0 HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n');
      socket.pause();
      const daemon = d;
      const started = Date.now();
      for (let i = 0; i < 150 && (await metricValue(daemon, 'opr_sse_disconnects_total{reason="stalled"}')) !== 1; i++) await sleep(50);
      socket.destroy();
      expect(await metricValue(daemon, 'opr_sse_disconnects_total{reason="stalled"}')).toBe(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
      expect(await metricValue(daemon, 'opr_sse_disconnects_total{reason="slow"}')).toBe(0);
      expect(await metricValue(daemon, 'opr_sse_connections')).toBe(0);
    });
  });

  it('refuses a connection beyond api.maxSseConnections with 503 OPR_ERR_TOO_MANY_CONNECTIONS', async () => {
    d = await startTestDaemon({ api: { maxSseConnections: 2 } });
    const a = await open('/v1/events');
    const b = await open('/v1/events');
    expect([a.status, b.status]).toEqual([200, 200]);
    const refused = await fetch(`${d.apiUrl}/v1/events`, { headers: { accept: 'text/event-stream' } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('OPR_ERR_TOO_MANY_CONNECTIONS');
    // JSON pages are not streams and stay available.
    expect((await fetch(`${d.apiUrl}/v1/events`)).status).toBe(200);
    expect(await metricValue(d, 'opr_sse_connections')).toBe(2);
    a.close();
    const daemon = d;
    for (let i = 0; i < 100 && (await metricValue(daemon, 'opr_sse_connections')) !== 1; i++) await sleep(10);
    const c = await open('/v1/events');
    expect(c.status).toBe(200);
  });

  it('ends open streams when the daemon shuts down instead of waiting for them', async () => {
    d = await startTestDaemon();
    await produce(d, 2);
    const s = await open('/v1/events?after=0');
    await waitUntil(() => s.seqs().length === 2, 'the history');
    const longPoll = fetch(`${d.apiUrl}/v1/events?after=2&wait=30`);
    await sleep(50);
    const started = Date.now();
    await d.close();
    await s.ended;
    expect((await longPoll).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    d.cleanupDir();
    d = undefined;
  });
});
