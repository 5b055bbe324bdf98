/**
 * The composed OpenIM client (createOpenImClient) end to end, against nock standing in for openim-api
 * (docs/openim-contract.md, the status API). Each of its parts is also tested on its own: openim-transport.test.ts,
 * admin-token-cache.test.ts, status-routes.test.ts and openim-probe.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MissingUsersError, OpenImApiError, OpenImTransportError, OprError } from '../../src/errors.js';
import { createOpenImClient } from '../../src/openim/openim-client.js';
import type { OpenImClient, OpenImClientOptions } from '../../src/openim/openim-client.js';
import {
  OPENIM_URL,
  ROUTE,
  TEST_ADMIN,
  TEST_SECRET,
  TEST_TOKEN,
  TEST_TOKEN_2,
  fail,
  liveEntry,
  liveStatus,
  mockAdminToken,
  mockAllUsersUid,
  mockNetworkError,
  mockOnlineStatus,
  mockRoute,
  mockUsersStatus,
  ok,
  pendingMocks,
  raw,
  useNock,
} from '../helpers/nock-openim.js';
import type { Answer, SeenRequest } from '../helpers/nock-openim.js';

useNock();

const clients: OpenImClient[] = [];

function client(overrides: Partial<OpenImClientOptions> = {}): OpenImClient {
  const c = createOpenImClient({
    apiUrl: OPENIM_URL,
    secret: TEST_SECRET,
    adminUserID: TEST_ADMIN,
    operationIDPrefix: 'opr',
    timeoutMs: 2000,
    retries: 2,
    batchSize: 500,
    concurrency: 4,
    retryBaseDelayMs: 1,
    ...overrides,
  });
  clients.push(c);
  return c;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** The error of the only failed batch, or a test failure. */
function onlyFailure(result: { failed: { error: Error }[] }): Error {
  expect(result.failed).toHaveLength(1);
  return result.failed[0]!.error;
}

function expectNoSecrets(text: string): void {
  expect(text).not.toContain(TEST_SECRET);
  expect(text).not.toContain(TEST_TOKEN);
  expect(text).not.toContain(TEST_TOKEN_2);
}

function operationIDs(requests: SeenRequest[]): string[] {
  return requests.map((r) => r.headers.operationid ?? '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('the OpenIM client', () => {
  describe('when it fetches the admin token (POST /auth/get_admin_token)', () => {
    it('posts the secret and admin userID with an operationID and no token header', async () => {
      const token = mockAdminToken();
      const status = mockOnlineStatus(liveStatus());
      await client().getUsersOnlineStatus(['u1']);
      expect(token.requests).toHaveLength(1);
      const request = token.requests[0]!;
      expect(request.body).toEqual({ secret: TEST_SECRET, userID: TEST_ADMIN });
      expect(request.headers.operationid).toMatch(new RegExp(`^opr_${process.pid}_\\d+$`));
      expect(request.headers.token).toBeUndefined();
      expect(request.headers['content-type']).toMatch(/^application\/json/);
      expect(status.requests[0]!.headers.token).toBe(TEST_TOKEN);
    });

    it('keeps the token for later calls instead of fetching one per request', async () => {
      const token = mockAdminToken();
      const status = mockOnlineStatus(liveStatus(), { times: 3 });
      const c = client();
      for (let i = 0; i < 3; i++) await c.getUsersOnlineStatus([`u${i}`]);
      expect(token.requests).toHaveLength(1);
      expect(status.requests.map((r) => r.headers.token)).toEqual([TEST_TOKEN, TEST_TOKEN, TEST_TOKEN]);
    });

    it('says to check openim.secret when the secret is wrong (errCode 1002)', async () => {
      mockAdminToken({ answer: fail(1002, 'NoPermissionError') });
      const result = await client().getUsersOnlineStatus(['u1']);
      const error = onlyFailure(result);
      expect(error).toBeInstanceOf(OpenImApiError);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', errCode: 1002 });
      expect(error.message).toContain('check openim.secret');
      expectNoSecrets(error.message);
      expect(result.requests).toBe(0);
    });

    it('says to check imAdminUserID when OpenIM does not take the userID as an admin (errCode 1001)', async () => {
      mockAdminToken({ answer: fail(1001, 'ArgsError') });
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', errCode: 1001 });
      expect(error.message).toContain('check openim.adminUserID is listed in share.yml imAdminUserID');
    });

    it('says the admin user does not exist when OpenIM answers errCode 1004', async () => {
      mockAdminToken({ answer: fail(1004, 'RecordNotFoundError') });
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', errCode: 1004 });
      expect(error.message).toContain('share.yml imAdminUserID');
    });

    it('fails every batch with one token fetch when the token is refused', async () => {
      const token = mockAdminToken({ answer: fail(1002, 'NoPermissionError'), persist: true });
      const result = await client({ batchSize: 2 }).getUsersOnlineStatus(['a', 'b', 'c', 'd', 'e']);
      expect(result.failed.map((f) => f.userIDs)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
      expect(token.requests).toHaveLength(1);
    });

    it('says to set openim.secret when none is configured, without sending anything', async () => {
      const error = onlyFailure(await client({ secret: undefined }).getUsersOnlineStatus(['u1']));
      expect(error).toBeInstanceOf(OprError);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN' });
      expect(error.message).toContain('openim.secret is not set');
    });
  });

  describe('when it asks for the live status (POST /user/get_users_online_status)', () => {
    it('round-trips the documented request and answer', async () => {
      mockAdminToken();
      const status = mockOnlineStatus(
        ok([
          {
            userID: 'u1',
            status: 1,
            detailPlatformStatus: [{ platformID: 5, connID: '6f1c', isBackground: false, token: 'eyJ-user' }],
          },
          { userID: 'u2', status: 0, detailPlatformStatus: null },
        ]),
      );
      const result = await client().getUsersOnlineStatus(['u1', 'u2']);
      expect(status.requests[0]!.body).toEqual({ userIDs: ['u1', 'u2'] });
      expect(status.requests[0]!.headers.token).toBe(TEST_TOKEN);
      expect(status.requests[0]!.headers.operationid).toMatch(/^opr_\d+_\d+$/);
      expect(result).toEqual({
        statuses: [
          { userID: 'u1', online: true, platforms: [{ platformID: 5, connections: 1 }] },
          { userID: 'u2', online: false, platforms: [] },
        ],
        failed: [],
        form: 'numeric',
        requests: 1,
      });
    });

    it('sends a different operationID with every request', async () => {
      const token = mockAdminToken();
      const status = mockOnlineStatus(liveStatus(), { times: 3 });
      const c = client({ batchSize: 1 });
      await c.getUsersOnlineStatus(['a', 'b', 'c']);
      const ids = [...operationIDs(token.requests), ...operationIDs(status.requests)];
      expect(new Set(ids).size).toBe(4);
    });

    it('accepts [] for an offline user the way the docs show it', async () => {
      mockAdminToken();
      mockOnlineStatus(ok([{ userID: 'u2', status: 0, detailPlatformStatus: [] }]));
      const result = await client().getUsersOnlineStatus(['u2']);
      expect(result.statuses).toEqual([{ userID: 'u2', online: false, platforms: [] }]);
    });

    it('accepts the "online"/"offline" strings of v3.8.0 and reports the string form', async () => {
      mockAdminToken();
      mockOnlineStatus(liveStatus({ u1: [2] }, 'string'));
      const result = await client().getUsersOnlineStatus(['u1', 'u2']);
      expect(result.form).toBe('string');
      expect(result.statuses).toEqual([
        { userID: 'u1', online: true, platforms: [{ platformID: 2, connections: 1 }] },
        { userID: 'u2', online: false, platforms: [] },
      ]);
    });

    it('turns one detail per connection into connection counts per platform, sorted by platformID', async () => {
      mockAdminToken();
      mockOnlineStatus(liveStatus({ u1: [5, 2, 5, 5, 11, 2] }));
      const result = await client().getUsersOnlineStatus(['u1']);
      expect(result.statuses[0]!.platforms).toEqual([
        { platformID: 2, connections: 2 },
        { platformID: 5, connections: 3 },
        { platformID: 11, connections: 1 },
      ]);
    });

    it('never keeps the connection tokens of the details', async () => {
      mockAdminToken();
      mockOnlineStatus(liveStatus({ u1: [5] }));
      const result = await client().getUsersOnlineStatus(['u1']);
      expect(JSON.stringify(result)).not.toContain('user-token-of');
    });

    it('fails the batch of a user missing from the answer instead of calling them offline', async () => {
      mockAdminToken();
      mockOnlineStatus(ok([liveEntry('a', [1])]));
      mockOnlineStatus(liveStatus({ c: [5] }));
      const result = await client({ batchSize: 2, concurrency: 1 }).getUsersOnlineStatus(['a', 'b', 'c']);
      expect(result.statuses).toEqual([{ userID: 'c', online: true, platforms: [{ platformID: 5, connections: 1 }] }]);
      const error = onlyFailure(result);
      expect(error).toBeInstanceOf(MissingUsersError);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_MISSING_USER', missing: ['b'] });
      expect(result.failed[0]!.userIDs).toEqual(['a', 'b']);
    });

    it('treats data: null for a non-empty request as every user missing', async () => {
      mockAdminToken();
      mockOnlineStatus(ok(null));
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1', 'u2']));
      expect(error).toBeInstanceOf(MissingUsersError);
      expect(error).toMatchObject({ missing: ['u1', 'u2'] });
    });

    it('accepts the answer in any order and returns statuses in request order', async () => {
      mockAdminToken();
      mockOnlineStatus(ok([liveEntry('b', []), liveEntry('a', [3])]));
      const result = await client().getUsersOnlineStatus(['a', 'b']);
      expect(result.statuses.map((s) => s.userID)).toEqual(['a', 'b']);
    });

    it('names the place and the value of a wrong status', async () => {
      mockAdminToken();
      mockOnlineStatus(ok([liveEntry('a', []), { userID: 'b', status: 'x', detailPlatformStatus: null }]));
      const error = onlyFailure(await client().getUsersOnlineStatus(['a', 'b']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE' });
      expect(error.message).toContain('data[1].status: expected 0, 1, "online" or "offline", got "x"');
    });

    it('names a detail without a usable platformID', async () => {
      mockAdminToken();
      mockOnlineStatus(
        ok([{ userID: 'a', status: 1, detailPlatformStatus: [{ platformID: 5 }, { platformID: '5' }] }]),
      );
      const error = onlyFailure(await client().getUsersOnlineStatus(['a']));
      expect(error.message).toContain(
        'data[0].detailPlatformStatus[1].platformID: expected a non-negative integer, got "5"',
      );
    });

    it('says the token is not an admin token when OpenIM answers errCode 1002', async () => {
      mockAdminToken();
      mockOnlineStatus(fail(1002, 'NoPermissionError'));
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toBeInstanceOf(OpenImApiError);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_PERMISSION', errCode: 1002 });
      expect(error.message).toContain('not an admin token');
      expectNoSecrets(error.message);
    });

    it('reports any other errCode with its errCode and errMsg', async () => {
      mockAdminToken();
      mockOnlineStatus(fail(500, 'ServerInternalError'));
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_API', errCode: 500, errMsg: 'ServerInternalError' });
      expect(error.message).not.toContain('detail that changes');
    });

    it('sends nothing for an empty list', async () => {
      const result = await client().getUsersOnlineStatus([]);
      expect(result).toEqual({ statuses: [], failed: [], form: undefined, requests: 0 });
    });

    it('asks about each user once', async () => {
      mockAdminToken();
      const status = mockOnlineStatus(liveStatus());
      const result = await client().getUsersOnlineStatus(['a', 'b', 'a', 'c', 'b']);
      expect(status.requests[0]!.body).toEqual({ userIDs: ['a', 'b', 'c'] });
      expect(result.statuses.map((s) => s.userID)).toEqual(['a', 'b', 'c']);
    });
  });

  describe('when there are more users than one batch', () => {
    it('splits them into batches of batchSize and keeps at most concurrency requests in flight', async () => {
      mockAdminToken();
      let inFlight = 0;
      let maxInFlight = 0;
      const status = mockOnlineStatus(
        async (request) => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await sleep(15);
          inFlight -= 1;
          return liveStatus()(request);
        },
        { times: 7 },
      );
      const users = Array.from({ length: 25 }, (_, i) => `u${i}`);
      const result = await client({ batchSize: 4, concurrency: 2 }).getUsersOnlineStatus(users);
      expect(status.requests.map((r) => (r.body as { userIDs: string[] }).userIDs.length).sort()).toEqual([
        1, 4, 4, 4, 4, 4, 4,
      ]);
      expect(maxInFlight).toBe(2);
      expect(result.requests).toBe(7);
      expect(result.statuses.map((s) => s.userID)).toEqual(users);
    });

    it('holds the concurrency bound across concurrent calls', async () => {
      mockAdminToken();
      let inFlight = 0;
      let maxInFlight = 0;
      mockOnlineStatus(
        async (request) => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await sleep(10);
          inFlight -= 1;
          return liveStatus()(request);
        },
        { times: 6 },
      );
      const c = client({ batchSize: 1, concurrency: 3 });
      await Promise.all([c.getUsersOnlineStatus(['a', 'b', 'c']), c.getUsersOnlineStatus(['d', 'e', 'f'])]);
      expect(maxInFlight).toBe(3);
    });
  });

  describe('when the admin token expires', () => {
    it('refreshes once and retries the call', async () => {
      const first = mockAdminToken({ token: TEST_TOKEN });
      const expired = mockOnlineStatus(fail(1501, 'TokenExpiredError'));
      const second = mockAdminToken({ token: TEST_TOKEN_2 });
      const retried = mockOnlineStatus(liveStatus({ u1: [5] }));
      const result = await client().getUsersOnlineStatus(['u1']);
      expect(result.failed).toEqual([]);
      expect(result.statuses[0]!.online).toBe(true);
      expect(first.requests).toHaveLength(1);
      expect(second.requests).toHaveLength(1);
      expect(expired.requests[0]!.headers.token).toBe(TEST_TOKEN);
      expect(retried.requests[0]!.headers.token).toBe(TEST_TOKEN_2);
      expect(retried.requests[0]!.body).toEqual({ userIDs: ['u1'] });
      expect(result.requests).toBe(2);
    });

    it.each([1502, 1503, 1504, 1505, 1506, 1507])('renews the token on errCode %i too', async (errCode) => {
      mockAdminToken({ token: TEST_TOKEN });
      mockOnlineStatus(fail(errCode));
      const renewal = mockAdminToken({ token: TEST_TOKEN_2 });
      mockOnlineStatus(liveStatus());
      const result = await client().getUsersOnlineStatus(['u1']);
      expect(result.failed).toEqual([]);
      expect(renewal.requests).toHaveLength(1);
    });

    it('shares one token fetch between ten concurrent calls', async () => {
      const token = mockAdminToken({ delayMs: 20, persist: true });
      mockOnlineStatus(liveStatus(), { times: 10 });
      const c = client();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => c.getUsersOnlineStatus([`u${i}`])));
      expect(results.every((r) => r.failed.length === 0)).toBe(true);
      expect(token.requests).toHaveLength(1);
    });

    it('shares one renewal between ten calls that all see the expired token', async () => {
      const initial = mockAdminToken({ token: TEST_TOKEN });
      const c = client({ batchSize: 1, concurrency: 10 });
      mockOnlineStatus(liveStatus());
      await c.getUsersOnlineStatus(['warm-up']);
      mockOnlineStatus(fail(1501, 'TokenExpiredError'), { times: 10 });
      const renewal = mockAdminToken({ token: TEST_TOKEN_2, delayMs: 20, persist: true });
      const retried = mockOnlineStatus(liveStatus(), { times: 10 });
      const result = await c.getUsersOnlineStatus(Array.from({ length: 10 }, (_, i) => `u${i}`));
      expect(result.failed).toEqual([]);
      expect(initial.requests).toHaveLength(1);
      expect(renewal.requests).toHaveLength(1);
      expect(retried.requests.every((r) => r.headers.token === TEST_TOKEN_2)).toBe(true);
    });

    it('gives up with a clear error when the fresh token is rejected too', async () => {
      mockAdminToken({ token: TEST_TOKEN });
      mockOnlineStatus(fail(1501, 'TokenExpiredError'), { times: 2 });
      const renewal = mockAdminToken({ token: TEST_TOKEN_2, persist: true });
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(renewal.requests).toHaveLength(1);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', errCode: 1501 });
      expect(error.message).toContain('freshly fetched admin token');
      expectNoSecrets(error.message);
      expect(pendingMocks()).toEqual([]);
    });
  });

  describe('when OpenIM does not answer with a JSON envelope', () => {
    it('reports HTTP 400 with its status and does not retry it', async () => {
      mockAdminToken();
      const status = mockOnlineStatus(raw(400, 'Bad Request', 'text/plain'), { persist: true });
      const result = await client().getUsersOnlineStatus(['u1']);
      const error = onlyFailure(result);
      expect(error).toBeInstanceOf(OpenImTransportError);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_HTTP', status: 400 });
      expect(error.message).toContain('HTTP 400');
      expect(status.requests).toHaveLength(1);
      expect(result.requests).toBe(1);
    });

    it('reports an HTML error page sent with status 200 as an unreadable body', async () => {
      mockAdminToken();
      mockOnlineStatus(raw(200, '<html><head><title>Service Unavailable</title></head><body>nginx</body></html>'));
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE', status: 200 });
      expect(error.message).toContain('HTML');
      expect(error.message).toContain('Service Unavailable');
    });

    it('retries an HTML 502 page from a proxy and then reports HTTP 502', async () => {
      mockAdminToken();
      const status = mockOnlineStatus(raw(502, '<html><title>502 Bad Gateway</title></html>'), { persist: true });
      const result = await client({ retries: 2 }).getUsersOnlineStatus(['u1']);
      const error = onlyFailure(result);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_HTTP', status: 502 });
      expect(error.message).toContain('502 Bad Gateway');
      expect(error.message).toContain('3 attempts');
      expect(status.requests).toHaveLength(3);
      expect(result.requests).toBe(3);
    });

    it('reports truncated JSON as truncated', async () => {
      mockAdminToken();
      const full = JSON.stringify(ok([liveEntry('u1', [5, 5])]).body);
      mockOnlineStatus(raw(200, full.slice(0, full.length - 30), 'application/json'));
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE' });
      expect(error.message).toContain('truncated JSON');
      expect(error.message).not.toContain('user-token-of');
    });

    it('reports a JSON body without errCode as not an envelope', async () => {
      mockAdminToken();
      mockOnlineStatus({ body: { code: 0, data: [] } });
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE' });
      expect(error.message).toContain('body.errCode');
    });

    it('reports an empty body', async () => {
      mockAdminToken();
      mockOnlineStatus(raw(200, '', 'application/json'));
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error.message).toContain('the body is empty');
    });

    it('reports a token answer of the wrong shape', async () => {
      mockAdminToken({ answer: ok({ token: 42 }) });
      const error = onlyFailure(await client().getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE' });
      expect(error.message).toContain('data.token');
    });
  });

  describe('when the network fails', () => {
    it('stops retrying at the configured bound and counts every request', async () => {
      mockAdminToken();
      const failures = mockNetworkError(ROUTE.onlineStatus, { times: 4 });
      const result = await client({ retries: 3 }).getUsersOnlineStatus(['u1']);
      const error = onlyFailure(result);
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_NETWORK' });
      expect(error.message).toContain('4 attempts');
      expect(error.message).toContain('ECONNRESET');
      expect(failures.requests).toHaveLength(4);
      expect(result.requests).toBe(4);
      expect(pendingMocks()).toEqual([]);
    });

    it('does not retry at all with retries: 0', async () => {
      mockAdminToken();
      mockNetworkError(ROUTE.onlineStatus, { times: 1 });
      const result = await client({ retries: 0 }).getUsersOnlineStatus(['u1']);
      expect(onlyFailure(result).message).toContain('1 attempt');
      expect(result.requests).toBe(1);
    });

    it('succeeds after a 5xx and a reset connection, with a fresh operationID each time', async () => {
      mockAdminToken();
      const first = mockOnlineStatus(raw(503, 'busy', 'text/plain'));
      const second = mockNetworkError(ROUTE.onlineStatus);
      const third = mockOnlineStatus(liveStatus({ u1: [1] }));
      const result = await client({ retries: 2 }).getUsersOnlineStatus(['u1']);
      expect(result.failed).toEqual([]);
      expect(result.requests).toBe(3);
      const ids = [...operationIDs(first.requests), ...operationIDs(second.requests), ...operationIDs(third.requests)];
      expect(new Set(ids).size).toBe(3);
      expect(third.requests[0]!.body).toEqual({ userIDs: ['u1'] });
    });

    it('retries a timeout and then reports how long it waited', async () => {
      mockAdminToken();
      const slow = mockOnlineStatus(liveStatus(), { delayMs: 300, times: 2 });
      const error = onlyFailure(await client({ timeoutMs: 100, retries: 1 }).getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_NETWORK' });
      expect(error.message).toContain('within 100 ms');
      expect(slow.requests).toHaveLength(2);
    });

    it('passes a failed token fetch on as the batch error', async () => {
      mockNetworkError(ROUTE.adminToken, { times: 3 });
      const error = onlyFailure(await client({ retries: 2 }).getUsersOnlineStatus(['u1']));
      expect(error).toMatchObject({ code: 'OPR_ERR_OPENIM_NETWORK', route: ROUTE.adminToken });
      expectNoSecrets(error.message);
    });
  });

  describe('when it asks for the Redis status (POST /user/get_users_status)', () => {
    it('round-trips the documented request and answer', async () => {
      mockAdminToken();
      const route = mockUsersStatus(ok({ statusList: [{ userID: 'u1', status: 1, platformIDs: [5, 1] }] }));
      const statuses = await client().getUsersStatus(['u1']);
      expect(route.requests[0]!.body).toEqual({ userID: TEST_ADMIN, userIDs: ['u1'] });
      expect(route.requests[0]!.headers.token).toBe(TEST_TOKEN);
      expect(route.requests[0]!.headers.operationid).toMatch(/^opr_/);
      expect(statuses).toEqual([{ userID: 'u1', online: true, platformIDs: [1, 5] }]);
    });

    it('reads null lists as empty', async () => {
      mockAdminToken();
      mockUsersStatus(ok({ statusList: [{ userID: 'u2', status: 0, platformIDs: null }] }));
      mockUsersStatus(ok({ statusList: null }));
      const c = client();
      expect(await c.getUsersStatus(['u2'])).toEqual([{ userID: 'u2', online: false, platformIDs: [] }]);
      expect(await c.getUsersStatus(['u3'])).toEqual([]);
    });

    it('throws what went wrong', async () => {
      mockAdminToken();
      mockUsersStatus(fail(1001, 'ArgsError'));
      await expect(client().getUsersStatus(['u1'])).rejects.toMatchObject({
        code: 'OPR_ERR_OPENIM_API',
        errCode: 1001,
      });
    });
  });

  describe('when it lists every user (POST /user/get_all_users_uid)', () => {
    function pages(
      list: Record<number, { total: number; userIDs: string[] | null }>,
    ): (request: SeenRequest) => Answer {
      return (request) => {
        const { pagination } = request.body as { pagination: { pageNumber: number } };
        return ok(list[pagination.pageNumber] ?? { total: 0, userIDs: null });
      };
    }

    async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
      const out: string[] = [];
      for await (const id of iterable) out.push(id);
      return out;
    }

    it('round-trips the documented request and stops at userIDs: null', async () => {
      mockAdminToken();
      const route = mockAllUsersUid(
        pages({
          1: { total: 5, userIDs: ['imAdmin', 'u1'] },
          2: { total: 5, userIDs: ['u2', 'u3'] },
          3: { total: 5, userIDs: null },
        }),
        { times: 3 },
      );
      // total says 5 and each page holds 2, so the third page is asked for; it is past the end.
      const ids = await collect(client({ pageSize: 2 }).allUserIDs());
      expect(ids).toEqual(['imAdmin', 'u1', 'u2', 'u3']);
      expect(route.requests.map((r) => r.body)).toEqual([
        { pagination: { pageNumber: 1, showNumber: 2 } },
        { pagination: { pageNumber: 2, showNumber: 2 } },
        { pagination: { pageNumber: 3, showNumber: 2 } },
      ]);
      expect(route.requests[0]!.headers.token).toBe(TEST_TOKEN);
    });

    it('uses pages of 1000 by default and stops once past total', async () => {
      mockAdminToken();
      const route = mockAllUsersUid(pages({ 1: { total: 3, userIDs: ['a', 'b', 'c'] } }), { persist: true });
      expect(await collect(client().allUserIDs())).toEqual(['a', 'b', 'c']);
      expect(route.requests).toHaveLength(1);
      expect(route.requests[0]!.body).toEqual({ pagination: { pageNumber: 1, showNumber: 1000 } });
    });

    it('yields each user once when pages shift while users are added', async () => {
      mockAdminToken();
      mockAllUsersUid(
        pages({
          1: { total: 4, userIDs: ['a', 'b'] },
          2: { total: 5, userIDs: ['b', 'c'] },
          3: { total: 5, userIDs: ['d', 'e'] },
        }),
        { times: 3 },
      );
      expect(await collect(client({ pageSize: 2 }).allUserIDs())).toEqual(['a', 'b', 'c', 'd', 'e']);
    });

    it('stops on an empty page', async () => {
      mockAdminToken();
      const route = mockAllUsersUid(pages({ 1: { total: 10, userIDs: ['a', 'b'] }, 2: { total: 10, userIDs: [] } }), {
        persist: true,
      });
      expect(await collect(client({ pageSize: 2 }).allUserIDs())).toEqual(['a', 'b']);
      expect(route.requests).toHaveLength(2);
    });

    it('stops when a page brings nothing new (a server that ignores paging)', async () => {
      mockAdminToken();
      const route = mockAllUsersUid(ok({ userIDs: ['a', 'b'] }), { persist: true });
      expect(await collect(client({ pageSize: 2 }).allUserIDs())).toEqual(['a', 'b']);
      expect(route.requests).toHaveLength(2);
    });
  });

  describe('when it probes OpenIM', () => {
    it('confirms reachability, the token, admin permission and the status form', async () => {
      mockAdminToken();
      const status = mockOnlineStatus(liveStatus());
      const result = await client().probe();
      expect(status.requests[0]!.body).toEqual({ userIDs: [TEST_ADMIN] });
      expect(result).toMatchObject({
        reachable: true,
        tokenObtained: true,
        adminConfirmed: true,
        statusForm: 'numeric',
        problems: [],
      });
      expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    });

    it('says to check openim.secret when the secret is wrong', async () => {
      mockAdminToken({ answer: fail(1002, 'NoPermissionError') });
      const result = await client().probe();
      expect(result).toMatchObject({ reachable: true, tokenObtained: false, adminConfirmed: false });
      expect(result.problems).toHaveLength(1);
      expect(result.problems[0]).toContain('check openim.secret');
    });

    it('says the token is not an admin token on errCode 1002', async () => {
      mockAdminToken();
      mockOnlineStatus(fail(1002, 'NoPermissionError'));
      const result = await client().probe();
      expect(result).toMatchObject({ reachable: true, tokenObtained: true, adminConfirmed: false });
      expect(result.problems[0]).toContain('not an admin token');
    });

    it('warns that v3.8.0 sends no presence webhooks when statuses come as strings', async () => {
      mockAdminToken();
      mockOnlineStatus(liveStatus({}, 'string'));
      const result = await client().probe();
      expect(result.statusForm).toBe('string');
      expect(result.adminConfirmed).toBe(true);
      expect(result.problems[0]).toContain('v3.8.0');
    });

    it('says OpenIM is unreachable without throwing', async () => {
      mockNetworkError(ROUTE.adminToken, { times: 1, code: 'ECONNREFUSED' });
      const result = await client({ retries: 0 }).probe();
      expect(result).toMatchObject({ reachable: false, tokenObtained: false, adminConfirmed: false });
      expect(result.problems[0]).toContain('check openim.apiUrl');
    });

    it('points at the OpenIM version when the token route does not exist', async () => {
      mockAdminToken({ answer: raw(404, '404 page not found', 'text/plain') });
      const result = await client().probe();
      expect(result.reachable).toBe(true);
      expect(result.problems[0]).toContain('v3.8.1 or later');
    });
  });

  describe('when it is given an absolute URL', () => {
    it('refuses it without sending anything', async () => {
      const c = client();
      await expect(c.call('http://evil.test/auth/get_admin_token', {})).rejects.toMatchObject({
        code: 'OPR_ERR_OPENIM_URL',
      });
      await expect(c.call('//evil.test/x', {})).rejects.toMatchObject({ code: 'OPR_ERR_OPENIM_URL' });
      expect(pendingMocks()).toEqual([]);
    });

    it('still serves paths under the base URL', async () => {
      mockAdminToken();
      mockRoute('/user/get_users', ok({ total: 0, users: null }));
      expect(await client().call('/user/get_users', { pagination: { pageNumber: 1, showNumber: 10 } })).toEqual({
        total: 0,
        users: null,
      });
    });
  });

  describe('when it is closed', () => {
    it('can be closed twice and then fails every call clearly', async () => {
      const c = client();
      c.close();
      c.close();
      await expect(c.getUsersOnlineStatus(['u1'])).rejects.toThrow(/client is closed/);
      await expect(c.getUsersStatus(['u1'])).rejects.toThrow(/client is closed/);
      await expect(c.allUserIDs()[Symbol.asyncIterator]().next()).rejects.toThrow(/client is closed/);
      const probe = await c.probe();
      expect(probe.problems[0]).toContain('closed');
    });

    it('ends calls in flight with the same clear error', async () => {
      mockAdminToken();
      mockOnlineStatus(liveStatus(), { delayMs: 1000 });
      const c = client();
      const pending = c.getUsersOnlineStatus(['u1']);
      await sleep(50);
      c.close();
      const error = onlyFailure(await pending);
      expect(error.message).toContain('client is closed');
    });
  });

  it('refuses an apiUrl that is not http(s)', () => {
    expect(() => client({ apiUrl: 'ftp://openim.test' })).toThrow(OpenImTransportError);
    expect(() => client({ apiUrl: 'not a url' })).toThrow(/not a URL/);
  });
});
