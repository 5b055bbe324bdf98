import { afterEach, describe, expect, it, vi } from 'vitest';

const crypto = vi.hoisted(() => ({ timingSafeEqualCalls: [] as [number, number][] }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      crypto.timingSafeEqualCalls.push([a.byteLength, b.byteLength]);
      return actual.timingSafeEqual(a, b);
    },
  };
});

const { authRequired, isLoopbackHost, tokenMatcher, UNAUTHORIZED_BODY } = await import('../../src/api/auth.js');
const { startTestDaemon } = await import('../helpers/daemon-fixture.js');
const { openStream } = await import('./sse-reader.js');
const { produce, waitUntil } = await import('./stream-fixtures.js');

const TOKEN = 'auth-test-token-0123456789abcdef';
const OTHER = 'another-valid-token-0123456789';

describe('isLoopbackHost', () => {
  it('accepts 127.0.0.0/8, ::1 and localhost', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
  });

  it('refuses every other address', () => {
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.10', '128.0.0.1', '127.0.0.256', 'example.com', '::2', '']) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });
});

describe('authRequired', () => {
  it('requires a token for a non-loopback host under auto, always under always, never under never', () => {
    expect(authRequired({ requireAuth: 'auto', host: '127.0.0.1' })).toBe(false);
    expect(authRequired({ requireAuth: 'auto', host: '0.0.0.0' })).toBe(true);
    expect(authRequired({ requireAuth: 'auto', host: '10.1.2.3' })).toBe(true);
    expect(authRequired({ requireAuth: 'always', host: '127.0.0.1' })).toBe(true);
    expect(authRequired({ requireAuth: 'never', host: '0.0.0.0' })).toBe(false);
  });
});

describe('tokenMatcher', () => {
  it('compares SHA-256 digests in constant time against every configured token, whichever matches', () => {
    const matches = tokenMatcher([TOKEN, OTHER]);
    crypto.timingSafeEqualCalls.length = 0;
    expect(matches(TOKEN)).toBe(true);
    expect(crypto.timingSafeEqualCalls).toEqual([
      [32, 32],
      [32, 32],
    ]);
    crypto.timingSafeEqualCalls.length = 0;
    expect(matches('x')).toBe(false);
    expect(matches(`${TOKEN}x`)).toBe(false);
    expect(matches(OTHER)).toBe(true);
    expect(crypto.timingSafeEqualCalls).toHaveLength(6);
    expect(tokenMatcher([])(TOKEN)).toBe(false);
  });
});

describe('the /v1 API with api.requireAuth = always', () => {
  let d: Awaited<ReturnType<typeof startTestDaemon>> | undefined;
  afterEach(async () => {
    await d?.close();
    d?.cleanupDir();
    d = undefined;
  });

  async function status(path: string, headers: Record<string, string> = {}): Promise<number> {
    return (await fetch(`${d!.apiUrl}${path}`, { headers })).status;
  }

  it('refuses a request without a token or with a wrong one with 401, WWW-Authenticate: Bearer and nothing more', async () => {
    d = await startTestDaemon({ api: { requireAuth: 'always', tokens: [TOKEN, OTHER] } });
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: `Basic ${TOKEN}` }, { authorization: TOKEN }];
    for (const headers of attempts) {
      const res = await fetch(`${d.apiUrl}/v1/events`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toEqual(UNAUTHORIZED_BODY);
    }
    // Unknown /v1 paths too: no probing which routes exist.
    expect(await status('/v1/no-such-route')).toBe(401);
    expect(await status('//v1/events')).toBe(401);
    expect(await status('/%761/events')).not.toBe(200);
  });

  it('accepts any configured token in the Authorization header', async () => {
    d = await startTestDaemon({ api: { requireAuth: 'always', tokens: [TOKEN, OTHER] } });
    expect(await status('/v1/events', { authorization: `Bearer ${TOKEN}` })).toBe(200);
    expect(await status('/v1/presence', { authorization: `bearer ${OTHER}` })).toBe(200);
    expect(await status('/v1/subscribers', { authorization: `Bearer ${OTHER}` })).toBe(200);
    expect(await status('/v1/mismatches', { authorization: `Bearer ${TOKEN}` })).toBe(200);
  });

  it('keeps /healthz, /readyz, /metrics and the dashboard files open', async () => {
    d = await startTestDaemon({ api: { requireAuth: 'always', tokens: [TOKEN] } });
    expect(await status('/healthz')).toBe(200);
    expect(await status('/readyz')).toBe(200);
    expect(await status('/metrics')).toBe(200);
    expect([200, 503]).toContain(await status('/'));
  });

  it('lets an event stream pass the token as ?access_token=, and only the event stream', async () => {
    d = await startTestDaemon({ api: { requireAuth: 'always', tokens: [TOKEN] } });
    await produce(d, 2);
    const s = await openStream(`${d.apiUrl}/v1/events?after=0&access_token=${TOKEN}`);
    try {
      expect(s.status).toBe(200);
      await waitUntil(() => s.seqs().length === 2, 'the events');
    } finally {
      s.close();
    }
    expect(await status(`/v1/events?access_token=wrong-token-wrong-token`, { accept: 'text/event-stream' })).toBe(401);
    expect(await status(`/v1/presence?access_token=${TOKEN}`)).toBe(401);
  });

  it('refuses everything when no token is configured', async () => {
    d = await startTestDaemon({ api: { requireAuth: 'always' } });
    expect(await status('/v1/events')).toBe(401);
    expect(await status('/v1/events', { authorization: 'Bearer ' })).toBe(401);
  });
});

describe('the /v1 API on a loopback host under the default auto', () => {
  it('is open without a token', async () => {
    const d = await startTestDaemon({ api: { tokens: [TOKEN] } });
    try {
      expect((await fetch(`${d.apiUrl}/v1/events`)).status).toBe(200);
    } finally {
      await d.close();
      d.cleanupDir();
    }
  });
});
