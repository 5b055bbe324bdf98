/**
 * The HTTP transport of the OpenIM client on its own (docs/openim-contract.md, the status API, common to every
 * route), against nock: what it sends, what it retries, and that its messages say what to fix without a secret.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OpenImApiError, OpenImTransportError } from '../../src/errors.js';
import { createOpenImTransport } from '../../src/openim/openim-transport.js';
import type { AttemptCounter, OpenImTransport, OpenImTransportOptions } from '../../src/openim/openim-transport.js';
import { OPENIM_URL, fail, mockNetworkError, mockRoute, ok, pendingMocks, raw, useNock } from '../helpers/nock-openim.js';

useNock();

const ROUTE = '/test/route';
const transports: OpenImTransport[] = [];

function transport(overrides: Partial<OpenImTransportOptions> = {}): OpenImTransport {
  const created = createOpenImTransport({
    apiUrl: OPENIM_URL,
    operationIDPrefix: 'unit',
    timeoutMs: 2000,
    retries: 2,
    retryBaseDelayMs: 1,
    secrets: () => [],
    ...overrides,
  });
  transports.push(created);
  return created;
}

afterEach(() => {
  for (const created of transports.splice(0)) created.close();
});

describe('the OpenIM transport', () => {
  it('posts the body as JSON and returns the envelope data, with the token header only when given', async () => {
    const route = mockRoute(ROUTE, ok({ answer: 42 }), { times: 2 });
    const http = transport();
    expect(await http.post(ROUTE, { question: 'q' }, 'the-token')).toEqual({ answer: 42 });
    expect(await http.post(ROUTE, {}, undefined)).toEqual({ answer: 42 });
    expect(route.requests[0]!.body).toEqual({ question: 'q' });
    expect(route.requests[0]!.headers.token).toBe('the-token');
    expect(route.requests[1]!.headers.token).toBeUndefined();
  });

  it('numbers the operationIDs of its attempts one after another', async () => {
    const first = mockRoute(ROUTE, raw(503, 'busy', 'text/plain'));
    const second = mockRoute(ROUTE, ok(null));
    await transport({ operationIDPrefix: 'seq' }).post(ROUTE, {}, undefined);
    const numbers = [...first.requests, ...second.requests].map((r) =>
      Number(new RegExp(`^seq_${process.pid}_(\\d+)$`).exec(r.headers.operationid ?? '')?.[1]),
    );
    expect(numbers).toEqual([1, 2]);
  });

  it('keeps the path prefix of apiUrl', async () => {
    const route = mockRoute(`/behind-proxy${ROUTE}`, ok('prefixed'));
    expect(await transport({ apiUrl: `${OPENIM_URL}/behind-proxy/` }).post(ROUTE, {}, undefined)).toBe('prefixed');
    expect(route.requests).toHaveLength(1);
  });

  it('adds every attempt, retries included, to the counter it is given', async () => {
    mockRoute(ROUTE, raw(500, 'oops', 'text/plain'));
    mockRoute(ROUTE, ok(null));
    mockNetworkError(ROUTE, { times: 3 });
    const http = transport({ retries: 2 });
    const attempts: AttemptCounter = { count: 0 };
    await http.post(ROUTE, {}, undefined, attempts);
    expect(attempts.count).toBe(2);
    await expect(http.post(ROUTE, {}, undefined, attempts)).rejects.toMatchObject({ code: 'OPR_ERR_OPENIM_NETWORK' });
    expect(attempts.count).toBe(5);
  });

  it('reports a redirect answer as an HTTP error that says to set the final address, without retrying it', async () => {
    const route = mockRoute(ROUTE, { status: 302, body: '', contentType: 'text/plain' }, { persist: true });
    const error = await transport().post(ROUTE, {}, undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenImTransportError);
    expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_HTTP', status: 302 });
    expect((error as Error).message).toContain('redirects are not followed');
    expect(route.requests).toHaveLength(1);
  });

  it('never repeats a secret the server echoes, reading the secrets when it builds the message', async () => {
    let secrets: string[] = [];
    const http = transport({ secrets: () => secrets });
    mockRoute(ROUTE, fail(1001, 'bad header token=tok-123 secret=s3cret'), { times: 2 });
    secrets = ['s3cret', 'tok-123'];
    const error = await http.post(ROUTE, {}, 'tok-123').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenImApiError);
    expect(error).toMatchObject({ errCode: 1001, errMsg: 'bad header token=[REDACTED] secret=[REDACTED]' });
    secrets = [];
    await expect(http.post(ROUTE, {}, undefined)).rejects.toMatchObject({ errMsg: 'bad header token=tok-123 secret=s3cret' });
  });

  it('shows apiUrl without its credentials when OpenIM cannot be reached', async () => {
    mockNetworkError(ROUTE, { code: 'ECONNREFUSED' });
    const http = transport({ apiUrl: 'http://operator:hunter2@openim.test:10002', retries: 0 });
    const error = await http.post(ROUTE, {}, undefined).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_NETWORK' });
    expect((error as Error).message).toContain('cannot reach http://openim.test:10002:');
    expect((error as Error).message).not.toContain('hunter2');
  });

  it.each(['user/no-leading-slash', 'https://elsewhere.test/x', '//elsewhere.test/x', '\\\\elsewhere\\x', 'mailto:x'])(
    'refuses %s without sending anything',
    async (path) => {
      const http = transport();
      expect(() => http.checkPath(path)).toThrow(/only paths starting with "\/" under openim.apiUrl/);
      await expect(http.post(path, {}, undefined)).rejects.toMatchObject({ code: 'OPR_ERR_OPENIM_URL' });
      expect(pendingMocks()).toEqual([]);
    },
  );

  it('refuses every request once closed, and closing twice is harmless', async () => {
    const http = transport();
    expect(() => http.assertOpen(ROUTE)).not.toThrow();
    http.close();
    http.close();
    expect(http.isClosed()).toBe(true);
    expect(() => http.assertOpen(ROUTE)).toThrow(/client is closed/);
    await expect(http.post(ROUTE, {}, undefined)).rejects.toMatchObject({
      code: 'OPR_ERR_OPENIM_NETWORK',
      route: ROUTE,
    });
  });
});
