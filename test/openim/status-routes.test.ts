/**
 * The status routes on their own (docs/openim-contract.md, the status API), over a fake token cache: what each route
 * is asked, in which batches, and how its answers are checked and read.
 */
import { describe, expect, it } from 'vitest';
import { MissingUsersError, OpenImApiError, OpenImTransportError } from '../../src/errors.js';
import type { AdminTokenCache } from '../../src/openim/admin-token-cache.js';
import { reclassifiedApiError } from '../../src/openim/openim-transport.js';
import type { AttemptCounter } from '../../src/openim/openim-transport.js';
import { createStatusRoutes, statusesInRequestOrder } from '../../src/openim/status-routes.js';
import type { StatusRoutes, StatusRoutesOptions } from '../../src/openim/status-routes.js';
import type { UserOnlineStatus } from '../../src/openim/types.js';

const ONLINE_ROUTE = '/user/get_users_online_status';
const REDIS_ROUTE = '/user/get_users_status';
const USERS_ROUTE = '/user/get_all_users_uid';

type Answer = (body: unknown) => unknown;

interface Posted {
  route: string;
  body: unknown;
}

/** Routes over a token cache whose POSTs answer with `answers[route]`, each counting `attemptsPerPost` requests. */
function routes(
  answers: Record<string, Answer>,
  options: Partial<StatusRoutesOptions> & { attemptsPerPost?: number; open?: boolean } = {},
): StatusRoutes & { posted: Posted[] } {
  const posted: Posted[] = [];
  const tokens: Pick<AdminTokenCache, 'current' | 'postWithToken'> = {
    current: () => Promise.resolve('token'),
    postWithToken: async (route: string, body: unknown, attempts?: AttemptCounter) => {
      posted.push({ route, body });
      if (attempts !== undefined) attempts.count += options.attemptsPerPost ?? 1;
      await Promise.resolve();
      const answer = answers[route];
      if (answer === undefined) throw new Error(`unexpected POST ${route}`);
      return answer(body);
    },
  };
  const transport = {
    assertOpen: (route: string) => {
      if (options.open === false) throw new OpenImTransportError('OPR_ERR_OPENIM_NETWORK', route, 'closed');
    },
  };
  const created = createStatusRoutes(transport, tokens, { adminUserID: 'imAdmin', batchSize: 500, concurrency: 2, ...options });
  return Object.assign(created, { posted });
}

function offline(userID: string): UserOnlineStatus {
  return { userID, online: false, platforms: [] };
}

/** The live view's answer for `body.userIDs`: everyone offline. */
function everyoneOffline(body: unknown): unknown {
  return (body as { userIDs: string[] }).userIDs.map((userID) => ({ userID, status: 0, detailPlatformStatus: null }));
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const userID of iterable) out.push(userID);
  return out;
}

describe('statusesInRequestOrder', () => {
  it('returns an answer already in request order as it is', () => {
    const answered = [offline('a'), offline('b')];
    expect(statusesInRequestOrder(ONLINE_ROUTE, ['a', 'b'], answered)).toBe(answered);
  });

  it('puts an answer in any other order into request order, the first entry of a user counting', () => {
    const first = { userID: 'a', online: true, platforms: [{ platformID: 1, connections: 1 }] };
    const answered = [offline('b'), offline('stranger'), first, offline('a')];
    expect(statusesInRequestOrder(ONLINE_ROUTE, ['a', 'b'], answered)).toEqual([first, offline('b')]);
  });

  it('names every requested user the answer left out', () => {
    let error: unknown;
    try {
      statusesInRequestOrder(ONLINE_ROUTE, ['a', 'b', 'c'], [offline('b')]);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(MissingUsersError);
    expect(error).toMatchObject({ missing: ['a', 'c'], code: 'OPR_ERR_OPENIM_MISSING_USER' });
  });
});

describe('the status routes', () => {
  it('ask the live view about each user once, in batches, and count every request of every batch', async () => {
    const api = routes({ [ONLINE_ROUTE]: everyoneOffline }, { batchSize: 2, attemptsPerPost: 3 });
    const result = await api.getUsersOnlineStatus(['a', 'b', 'a', 'c']);
    expect(api.posted.map((p) => p.body)).toEqual([{ userIDs: ['a', 'b'] }, { userIDs: ['c'] }]);
    expect(result).toEqual({ statuses: [offline('a'), offline('b'), offline('c')], failed: [], form: 'numeric', requests: 6 });
  });

  it('call a 1002 a permission problem only when it is the route refusing the token, not a token fetch', async () => {
    const refusedRoute = routes({
      [ONLINE_ROUTE]: () => {
        throw new OpenImApiError(ONLINE_ROUTE, 1002, 'NoPermissionError');
      },
    });
    const permission = (await refusedRoute.getUsersOnlineStatus(['a'])).failed[0]!.error;
    expect(permission).toMatchObject({ code: 'OPR_ERR_OPENIM_PERMISSION', errCode: 1002, route: ONLINE_ROUTE });
    expect(permission.message).toContain('check openim.adminUserID "imAdmin"');

    const refusedRenewal = routes({
      [ONLINE_ROUTE]: () => {
        const tokenError = new OpenImApiError('/auth/get_admin_token', 1002, 'NoPermissionError');
        throw reclassifiedApiError(tokenError, 'OPR_ERR_OPENIM_TOKEN', 'wrong secret');
      },
    });
    const token = (await refusedRenewal.getUsersOnlineStatus(['a'])).failed[0]!.error;
    expect(token).toMatchObject({ code: 'OPR_ERR_OPENIM_TOKEN', message: 'wrong secret' });
  });

  it('fail the batch of an answer that is not a list, keeping the other batches', async () => {
    const api = routes(
      { [ONLINE_ROUTE]: (body) => ((body as { userIDs: string[] }).userIDs[0] === 'bad' ? { not: 'a list' } : everyoneOffline(body)) },
      { batchSize: 1 },
    );
    const result = await api.getUsersOnlineStatus(['good', 'bad']);
    expect(result.statuses).toEqual([offline('good')]);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.userIDs).toEqual(['bad']);
    expect(result.failed[0]!.error).toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE', status: 200 });
  });

  it('read the Redis view in batches, as the admin, with platform IDs once each and sorted', async () => {
    const api = routes(
      {
        [REDIS_ROUTE]: (body) => ({
          statusList: (body as { userIDs: string[] }).userIDs.map((userID) => ({
            userID,
            status: userID === 'b' ? 'online' : 0,
            platformIDs: userID === 'b' ? [5, 1, 5] : null,
          })),
        }),
      },
      { batchSize: 1 },
    );
    expect(await api.getUsersStatus(['a', 'b', 'a'])).toEqual([
      { userID: 'a', online: false, platformIDs: [] },
      { userID: 'b', online: true, platformIDs: [1, 5] },
    ]);
    expect(api.posted.map((p) => p.body)).toEqual([
      { userID: 'imAdmin', userIDs: ['a'] },
      { userID: 'imAdmin', userIDs: ['b'] },
    ]);
  });

  it('throw when the Redis view answers in the wrong shape', async () => {
    const api = routes({ [REDIS_ROUTE]: () => ({ statusList: [{ userID: 5 }] }) });
    await expect(api.getUsersStatus(['a'])).rejects.toMatchObject({ code: 'OPR_ERR_OPENIM_RESPONSE' });
  });

  it('list every user once, skipping empty userIDs, in pages of pageSize', async () => {
    const pagesOfUsers: Record<number, string[]> = { 1: ['a', '', 'b'], 2: ['b', 'c', ''] };
    const api = routes(
      {
        [USERS_ROUTE]: (body) => {
          const { pageNumber } = (body as { pagination: { pageNumber: number } }).pagination;
          return { total: 6, userIDs: pagesOfUsers[pageNumber] ?? null };
        },
      },
      { pageSize: 3 },
    );
    expect(await collect(api.allUserIDs())).toEqual(['a', 'b', 'c']);
    expect(api.posted.map((p) => p.body)).toEqual([
      { pagination: { pageNumber: 1, showNumber: 3 } },
      { pagination: { pageNumber: 2, showNumber: 3 } },
    ]);
  });

  it('ask nothing once the transport is closed', async () => {
    const api = routes({}, { open: false });
    await expect(api.getUsersOnlineStatus(['a'])).rejects.toMatchObject({ route: ONLINE_ROUTE });
    await expect(api.getUsersStatus(['a'])).rejects.toMatchObject({ route: REDIS_ROUTE });
    await expect(api.allUserIDs()[Symbol.asyncIterator]().next()).rejects.toMatchObject({ route: USERS_ROUTE });
    expect(api.posted).toEqual([]);
  });
});
