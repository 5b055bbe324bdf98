/**
 * Slow and misbehaving clients on loopback, one connection at a time: connections that never send a byte, heads and
 * bodies trickled a byte at a time, a chunk size the body never reaches, pipelined requests followed by bytes the
 * parser rejects, a declared body of 100 MB behind a wrong path secret, and connections over the cap while every
 * connection has a request in flight. Each is answered and closed within the configured timeouts (seconds); SSE
 * streams and long polls are never cut.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { TEST_PATH_SECRET, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { ONLINE, WEBHOOK_OK, sleep } from './helpers.js';
import { probe, rawExchange, statusCodes } from './slow-clients.js';

type TestDaemon = Daemon & { cleanupDir: () => void };
const daemons: TestDaemon[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const d of daemons.splice(0)) {
    await d.close();
    d.cleanupDir();
  }
});

async function daemon(overrides: Parameters<typeof startTestDaemon>[0] = {}): Promise<TestDaemon> {
  const d = await startTestDaemon(overrides);
  daemons.push(d);
  return d;
}

const portOf = (url: string): number => Number(new URL(url).port);
/** Slack for the check interval (at most 1 s) and a busy machine, on top of a configured timeout. */
const SLACK_MS = 2500;

/** A webhook request head on the right path, with the given framing headers. */
function webhookHead(framing: string): string {
  return `POST /${TEST_PATH_SECRET}/${ONLINE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${framing}\r\n`;
}

/** Opens an SSE stream and counts its heartbeats until `close()`. */
function openSse(url: string): Promise<{ status: number; heartbeats: () => number; ended: () => boolean; close: () => void }> {
  return new Promise((resolve, reject) => {
    let heartbeats = 0;
    let ended = false;
    const req = http.get(url, { headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => (heartbeats += c.split('event: heartbeat').length - 1));
      res.on('close', () => (ended = true));
      resolve({ status: res.statusCode ?? 0, heartbeats: () => heartbeats, ended: () => ended, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

describe('slow clients', () => {
  it('closes connections that never send a byte within the head timeout (webhook default 5 s, API as configured)', async () => {
    const d = await daemon({ api: { headersTimeoutMs: 1500 } });
    const [hook, api] = await Promise.all([
      rawExchange(portOf(d.webhookUrl), '', { forMs: 5000 + SLACK_MS + 2000 }),
      rawExchange(portOf(d.apiUrl), '', { forMs: 1500 + SLACK_MS + 2000 }),
    ]);
    console.log(`[slow/idle] webhook closedAfterMs=${hook.closedAfterMs} (timeout 5000) api closedAfterMs=${api.closedAfterMs} (timeout 1500)`);
    expect(hook.closedAfterMs).not.toBeNull();
    expect(hook.closedAfterMs!).toBeLessThanOrEqual(5000 + SLACK_MS);
    expect(api.closedAfterMs).not.toBeNull();
    expect(api.closedAfterMs!).toBeLessThanOrEqual(1500 + SLACK_MS);
  }, 30_000);

  it('answers a request head trickled a byte every 500 ms with 408 and closes the connection', async () => {
    const d = await daemon();
    const r = await rawExchange(portOf(d.webhookUrl), `POST /${TEST_PATH_SECRET}/${ONLINE} HTTP/1.1\r\nHost: x\r\nX-Slow: `, {
      forMs: 5000 + SLACK_MS + 2000,
      chunk: 'a',
      chunks: 30,
      everyMs: 500,
    });
    console.log(`[slow/head] closedAfterMs=${r.closedAfterMs} answers=${statusCodes(r.received).join(',')} bytesSent=${r.bytesSent}`);
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs!).toBeLessThanOrEqual(5000 + SLACK_MS);
    expect(statusCodes(r.received)).toEqual([408]);
  }, 30_000);

  it('answers a body trickled a byte a second (Content-Length 60000, right path) with 408 within webhook.bodyTimeoutMs, storing nothing', async () => {
    const d = await daemon();
    const r = await rawExchange(portOf(d.webhookUrl), webhookHead('Content-Length: 60000\r\n'), { forMs: 5000 + SLACK_MS + 3000, chunk: '{', chunks: 20, everyMs: 1000 });
    console.log(`[slow/body] closedAfterMs=${r.closedAfterMs} answers=${statusCodes(r.received).join(',')} bytesSent=${r.bytesSent} receipts=${d.store.countReceipts()}`);
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs!).toBeLessThanOrEqual(5000 + SLACK_MS);
    expect(statusCodes(r.received)).toEqual([408]);
    expect(d.store.countReceipts()).toBe(0);
  }, 30_000);

  it('answers and closes a chunked body whose chunk size is FFFFFFFFFFFFFFFF followed by 3 bytes, storing nothing', async () => {
    const d = await daemon();
    const r = await rawExchange(portOf(d.webhookUrl), `${webhookHead('Transfer-Encoding: chunked\r\n')}FFFFFFFFFFFFFFFF\r\nabc`, { forMs: 5000 + SLACK_MS + 3000 });
    console.log(`[slow/huge-chunk] closedAfterMs=${r.closedAfterMs} answers=${statusCodes(r.received).join(',')} receipts=${d.store.countReceipts()}`);
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs!).toBeLessThanOrEqual(5000 + SLACK_MS);
    expect(statusCodes(r.received)).toHaveLength(1);
    expect(statusCodes(r.received)[0]).toBeGreaterThanOrEqual(400);
    expect(statusCodes(r.received)[0]).toBeLessThan(500);
    expect(d.store.countReceipts()).toBe(0);
  }, 30_000);

  it('closes a kept-alive connection with nothing in flight after keepAliveTimeoutMs (plus node\'s second)', async () => {
    const d = await daemon({ api: { keepAliveTimeoutMs: 500 } });
    const r = await rawExchange(portOf(d.apiUrl), 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', { forMs: 500 + 1000 + SLACK_MS + 2000 });
    const keepAlive = /keep-alive: timeout=(\d+)/i.exec(r.received)?.[1];
    console.log(`[slow/keep-alive] answers=${statusCodes(r.received).join(',')} keepAliveHeader=timeout=${keepAlive} closedAfterMs=${r.closedAfterMs} (timeout 500)`);
    expect(statusCodes(r.received)).toEqual([200]);
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs!).toBeLessThanOrEqual(500 + 1000 + SLACK_MS);
  }, 30_000);

  it('never cuts an SSE stream or a long poll, however short the API timeouts', async () => {
    const d = await daemon({ api: { headersTimeoutMs: 300, bodyTimeoutMs: 300, keepAliveTimeoutMs: 300, sseHeartbeatSeconds: 1 } });
    const sse = await openSse(`${d.apiUrl}/v1/events`);
    cleanups.push(sse.close);
    expect(sse.status).toBe(200);
    const started = performance.now();
    const longPoll = await probe(`${d.apiUrl}/v1/events?after=0&wait=3`, 'GET', undefined, 10_000);
    const waitedMs = Math.round(performance.now() - started);
    await sleep(500);
    console.log(`[slow/streams] longPoll=${longPoll.status} after ${waitedMs} ms; sse open=${!sse.ended()} heartbeats=${sse.heartbeats()} over ${Math.round(performance.now() - started)} ms`);
    expect(longPoll.status).toBe(200);
    expect(waitedMs).toBeGreaterThanOrEqual(2900);
    expect(sse.ended()).toBe(false);
    expect(sse.heartbeats()).toBeGreaterThanOrEqual(3);
  }, 30_000);
});

describe('misbehaving requests', () => {
  it('answers a pipelined webhook 200 (it is recorded) before the 400 for the unparsable bytes after it', async () => {
    const d = await daemon();
    const body = webhookBody(ONLINE, 'pipelined-u1', 5, Date.now());
    const r = await rawExchange(portOf(d.webhookUrl), `${webhookHead(`Content-Length: ${Buffer.byteLength(body)}\r\n`)}${body}GARBAGE \u0001 /\r\n\r\n`, { forMs: 5000 });
    console.log(`[misbehaving/pipelining] answers=${statusCodes(r.received).join(',')} closedAfterMs=${r.closedAfterMs} receipts=${d.store.countReceipts()}`);
    expect(statusCodes(r.received)).toEqual([200, 400]);
    expect(r.received).toContain(WEBHOOK_OK);
    expect(r.closedAfterMs).not.toBeNull();
    expect(d.store.countReceipts()).toBe(1);
  });

  it('closes the connection after a 404 for a wrong path secret instead of reading a declared 100 MB body', async () => {
    const d = await daemon();
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const figures: string[] = [];
    for (const path of [`/wrong-secret-000/${ONLINE}`, `/${TEST_PATH_SECRET.slice(0, -1)}/${ONLINE}`, `/${ONLINE}`]) {
      // Up to 100 MB in 64 KiB chunks every 2 ms, for at most 8 s.
      const r = await rawExchange(portOf(d.webhookUrl), `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`, {
        forMs: 8000,
        chunk,
        chunks: 1600,
        everyMs: 2,
      });
      figures.push(`${path.replace(TEST_PATH_SECRET.slice(0, -1), '<secret minus one>')}: answers=${statusCodes(r.received).join(',')} closedAfterMs=${r.closedAfterMs} sentMB=${(r.bytesSent / 1048576).toFixed(1)}`);
      expect(statusCodes(r.received), path).toEqual([404]);
      expect(r.closedAfterMs, `${path}: closed by the daemon`).not.toBeNull();
      expect(r.closedAfterMs!).toBeLessThanOrEqual(3000);
      expect(r.bytesSent).toBeLessThan(50 * 1024 * 1024);
    }
    console.log(`[misbehaving/404-close] ${figures.join('; ')}`);
    expect(d.store.countReceipts()).toBe(0);
  }, 40_000);
});

describe('at the connection cap', () => {
  it('closes a connection trickling its body (right path) to serve a webhook at once', async () => {
    const CAP = 20;
    const d = await daemon({ webhook: { maxConnections: CAP } });
    const port = portOf(d.webhookUrl);
    const trickling = Array.from({ length: CAP }, () =>
      rawExchange(port, webhookHead('Content-Length: 60000\r\n'), { forMs: 15_000, chunk: '{', chunks: 10, everyMs: 1000 }),
    );
    await sleep(300);
    const r = await probe(`${d.webhookUrl}/${ONLINE}`, 'POST', webhookBody(ONLINE, 'past-the-tricklers', 5, Date.now()), 1000);
    const ended = await Promise.all(trickling);
    console.log(`[cap/body-tricklers] cap=${CAP} legit=${r.status} in ${Math.round(r.ms)} ms; tricklers closed=${ended.filter((e) => e.closedAfterMs !== null).length}`);
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThanOrEqual(1000);
    expect(d.store.countReceipts()).toBe(1);
  }, 30_000);

  it('answers 503 with Retry-After over the cap when every connection has a request in flight, and still serves /healthz and /readyz', async () => {
    const CAP = 3;
    const d = await daemon({ api: { maxConnections: CAP, maxSseConnections: 10 } });
    const streams = await Promise.all(Array.from({ length: CAP }, () => openSse(`${d.apiUrl}/v1/events`)));
    cleanups.push(() => streams.forEach((s) => s.close()));
    expect(streams.map((s) => s.status)).toEqual([200, 200, 200]);
    const over = await fetch(`${d.apiUrl}/v1/presence`, { signal: AbortSignal.timeout(5000) });
    const overBody = (await over.json()) as { error: { code: string } };
    const probes = await Promise.all(['/healthz', '/readyz'].map(async (p) => (await fetch(`${d.apiUrl}${p}`, { signal: AbortSignal.timeout(5000) })).status));
    streams[0]!.close();
    let after = 0;
    for (let i = 0; i < 40 && after !== 200; i++) {
      await sleep(50);
      after = (await probe(`${d.apiUrl}/v1/presence`, 'GET', undefined, 2000)).status;
    }
    console.log(`[cap/503] cap=${CAP} sse=${CAP} over=${over.status} retryAfter=${over.headers.get('retry-after')} code=${overBody.error.code} probes=${probes.join(',')} afterOneLeft=${after}`);
    expect(over.status).toBe(503);
    expect(over.headers.get('retry-after')).toBe('1');
    expect(overBody.error.code).toBe('OPR_ERR_TOO_MANY_CONNECTIONS');
    expect(probes).toEqual([200, 200]);
    expect(after).toBe(200);
  });

  it('answers a webhook over the cap 503 in OpenIM reply shape with Retry-After, when the listeners share a port', async () => {
    const port = await freePort();
    const d = await daemon({ webhook: { port, maxConnections: 1 }, api: { port, maxConnections: 2, maxSseConnections: 10 } });
    const streams = await Promise.all([1, 2, 3].map(() => openSse(`${d.apiUrl}/v1/events`)));
    cleanups.push(() => streams.forEach((s) => s.close()));
    const over = await fetch(`${d.webhookUrl}/${ONLINE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: webhookBody(ONLINE, 'over-cap', 5, Date.now()),
      signal: AbortSignal.timeout(5000),
    });
    const overBody = (await over.json()) as Record<string, unknown>;
    console.log(`[cap/503-webhook] shared port, cap=3, sse=3: webhook=${over.status} retryAfter=${over.headers.get('retry-after')} errMsg=${JSON.stringify(overBody.errMsg)}`);
    expect(over.status).toBe(503);
    expect(over.headers.get('retry-after')).toBe('1');
    expect(Object.keys(overBody).sort()).toEqual(['actionCode', 'errCode', 'errDlt', 'errMsg', 'nextCode']);
    expect(overBody.errMsg).toMatch(/connection limit/);
    expect(d.store.countReceipts()).toBe(0);
  });
});
