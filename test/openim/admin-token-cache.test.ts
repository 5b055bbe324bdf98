/**
 * The admin token cache on its own (docs/openim-contract.md, `POST /auth/get_admin_token`), over a fake transport:
 * one fetch shared by concurrent callers, a token kept until OpenIM rejects it, one renewal and one retry per
 * rejection.
 */
import { describe, expect, it } from 'vitest';
import { OpenImApiError, OpenImTransportError } from '../../src/errors.js';
import { createAdminTokenCache } from '../../src/openim/admin-token-cache.js';
import type { AdminTokenCache } from '../../src/openim/admin-token-cache.js';
import type { OpenImTransport } from '../../src/openim/openim-transport.js';

const TOKEN_ROUTE = '/auth/get_admin_token';
const ROUTE = '/user/get_users_status';

interface Sent {
  route: string;
  body: unknown;
  token: string | undefined;
}

/** A transport whose answers are given per route, in order; every POST is recorded. */
function fakeTransport(answers: Record<string, (() => unknown)[]>): Pick<OpenImTransport, 'post'> & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    post: async (route, body, token) => {
      sent.push({ route, body, token });
      await Promise.resolve();
      const next = answers[route]?.shift();
      if (next === undefined) throw new Error(`unexpected POST ${route}`);
      return next();
    },
  };
}

function tokenAnswer(token: string): () => unknown {
  return () => ({ token, expireTimeSeconds: 7_776_000 });
}

function rejection(route: string, errCode: number, errMsg = 'refused'): () => never {
  return () => {
    throw new OpenImApiError(route, errCode, errMsg);
  };
}

function cache(transport: Pick<OpenImTransport, 'post'>, secret: string | undefined = 'the-secret'): AdminTokenCache {
  return createAdminTokenCache(transport, { secret, adminUserID: 'imAdmin' });
}

describe('the admin token cache', () => {
  it('fetches once for concurrent callers and keeps the token', async () => {
    const transport = fakeTransport({ [TOKEN_ROUTE]: [tokenAnswer('t1')] });
    const tokens = cache(transport);
    expect(tokens.cached()).toBeUndefined();
    expect(await Promise.all([tokens.current(), tokens.current(), tokens.current()])).toEqual(['t1', 't1', 't1']);
    expect(await tokens.current()).toBe('t1');
    expect(tokens.cached()).toBe('t1');
    expect(transport.sent).toEqual([{ route: TOKEN_ROUTE, body: { secret: 'the-secret', userID: 'imAdmin' }, token: undefined }]);
  });

  it('does not keep a failed fetch: the next caller fetches again', async () => {
    const transport = fakeTransport({
      [TOKEN_ROUTE]: [
        () => {
          throw new OpenImTransportError('OPR_ERR_OPENIM_NETWORK', TOKEN_ROUTE, 'down');
        },
        tokenAnswer('t2'),
      ],
    });
    const tokens = cache(transport);
    await expect(tokens.current()).rejects.toMatchObject({ code: 'OPR_ERR_OPENIM_NETWORK' });
    expect(await tokens.current()).toBe('t2');
  });

  it('names the errCode and errMsg of a refusal it has no specific advice for', async () => {
    const tokens = cache(fakeTransport({ [TOKEN_ROUTE]: [rejection(TOKEN_ROUTE, 1234, 'SomethingNew')] }));
    const error = await tokens.current().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenImApiError);
    expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', errCode: 1234, errMsg: 'SomethingNew', route: TOKEN_ROUTE });
    expect((error as Error).message).toContain('(errCode 1234: SomethingNew); check openim.secret and openim.adminUserID');
  });

  it('says what is wrong with a token answer of the wrong shape', async () => {
    const tokens = cache(fakeTransport({ [TOKEN_ROUTE]: [() => ({ expireTimeSeconds: 1 })] }));
    await expect(tokens.current()).rejects.toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE', status: 200 });
  });

  it('posts with the token and passes on an errCode that is not about the token, without renewing', async () => {
    const transport = fakeTransport({ [TOKEN_ROUTE]: [tokenAnswer('t1')], [ROUTE]: [() => 'data', rejection(ROUTE, 1001)] });
    const tokens = cache(transport);
    expect(await tokens.postWithToken(ROUTE, { userIDs: ['u1'] })).toBe('data');
    await expect(tokens.postWithToken(ROUTE, {})).rejects.toMatchObject({ code: 'OPR_ERR_OPENIM_API', errCode: 1001 });
    expect(transport.sent.map((s) => [s.route, s.token])).toEqual([
      [TOKEN_ROUTE, undefined],
      [ROUTE, 't1'],
      [ROUTE, 't1'],
    ]);
  });

  it('renews a rejected token once and retries once with the new one', async () => {
    const transport = fakeTransport({
      [TOKEN_ROUTE]: [tokenAnswer('t1'), tokenAnswer('t2')],
      [ROUTE]: [rejection(ROUTE, 1506, 'TokenKicked'), () => 'data'],
    });
    const tokens = cache(transport);
    expect(await tokens.postWithToken(ROUTE, { n: 1 })).toBe('data');
    expect(transport.sent.map((s) => [s.route, s.token])).toEqual([
      [TOKEN_ROUTE, undefined],
      [ROUTE, 't1'],
      [TOKEN_ROUTE, undefined],
      [ROUTE, 't2'],
    ]);
    expect(tokens.cached()).toBe('t2');
  });

  it('uses the token another caller already renewed instead of fetching a third', async () => {
    let releaseLateRejection!: () => void;
    const lateRejection = new Promise<void>((resolve) => {
      releaseLateRejection = resolve;
    });
    const transport = fakeTransport({
      [TOKEN_ROUTE]: [tokenAnswer('t1'), tokenAnswer('t2')],
      [ROUTE]: [
        rejection(ROUTE, 1501),
        async () => {
          await lateRejection;
          return rejection(ROUTE, 1501)();
        },
        () => 'first retried',
        () => 'second retried',
      ],
    });
    const tokens = cache(transport);
    await tokens.current();
    const first = tokens.postWithToken(ROUTE, 'first');
    const second = tokens.postWithToken(ROUTE, 'second');
    expect(await first).toBe('first retried');
    releaseLateRejection();
    expect(await second).toBe('second retried');
    expect(transport.sent.map((s) => [s.route, s.body, s.token])).toEqual([
      [TOKEN_ROUTE, { secret: 'the-secret', userID: 'imAdmin' }, undefined],
      [ROUTE, 'first', 't1'],
      [ROUTE, 'second', 't1'],
      [TOKEN_ROUTE, { secret: 'the-secret', userID: 'imAdmin' }, undefined],
      [ROUTE, 'first', 't2'],
      [ROUTE, 'second', 't2'],
    ]);
  });

  it('gives up with OPR_ERR_OPENIM_TOKEN when the fresh token is rejected too', async () => {
    const transport = fakeTransport({
      [TOKEN_ROUTE]: [tokenAnswer('t1'), tokenAnswer('t2')],
      [ROUTE]: [rejection(ROUTE, 1501), rejection(ROUTE, 1502, 'TokenInvalid')],
    });
    const error = await cache(transport).postWithToken(ROUTE, {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', errCode: 1502, route: ROUTE });
    expect((error as Error).message).toContain('rejected a freshly fetched admin token (errCode 1502: TokenInvalid)');
    expect(transport.sent).toHaveLength(4);
  });

  it('asks for nothing without a secret', async () => {
    const transport = fakeTransport({});
    await expect(cache(transport, '').current()).rejects.toThrow(/openim.secret is not set/);
    expect(transport.sent).toEqual([]);
  });

  it('forgets the token on close and does not keep one that arrives afterwards', async () => {
    const transport = fakeTransport({ [TOKEN_ROUTE]: [tokenAnswer('t1'), tokenAnswer('t2')] });
    const kept = cache(transport);
    await kept.current();
    kept.close();
    expect(kept.cached()).toBeUndefined();
    const fetching = cache(transport);
    const inFlight = fetching.current();
    fetching.close();
    expect(await inFlight).toBe('t2');
    expect(fetching.cached()).toBeUndefined();
  });
});
