/**
 * The probe behind `doctor` on its own (docs/openim-contract.md, the status API), over fake dependencies: what it
 * concludes from each answer, and that it reports rather than throws.
 */
import { describe, expect, it } from 'vitest';
import { MissingUsersError, OpenImTransportError } from '../../src/errors.js';
import { probeOpenIm } from '../../src/openim/openim-probe.js';
import type { ProbeDependencies } from '../../src/openim/openim-probe.js';
import type { OnlineStatusResult } from '../../src/openim/types.js';

const ONLINE_ROUTE = '/user/get_users_online_status';

function networkError(route: string): OpenImTransportError {
  return new OpenImTransportError('OPR_ERR_OPENIM_NETWORK', route, 'cannot reach http://openim.test:10002');
}

function answered(overrides: Partial<OnlineStatusResult> = {}): OnlineStatusResult {
  return {
    statuses: [{ userID: 'imAdmin', online: false, platforms: [] }],
    failed: [],
    form: 'numeric',
    requests: 1,
    ...overrides,
  };
}

function dependencies(overrides: Partial<ProbeDependencies> = {}): ProbeDependencies & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    adminUserID: 'imAdmin',
    isClosed: () => false,
    tokens: { cached: () => undefined, current: () => Promise.resolve('token') },
    getUsersOnlineStatus: (userIDs) => {
      asked.push([...userIDs]);
      return Promise.resolve(answered());
    },
    ...overrides,
  };
}

describe('the OpenIM probe', () => {
  it('asks the live view about the admin user and confirms everything', async () => {
    const deps = dependencies();
    const result = await probeOpenIm(deps);
    expect(deps.asked).toEqual([['imAdmin']]);
    expect(result).toMatchObject({ reachable: true, tokenObtained: true, adminConfirmed: true, statusForm: 'numeric', problems: [] });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('with a token already cached, learns reachability from the status call alone', async () => {
    const result = await probeOpenIm(
      dependencies({
        tokens: { cached: () => 'token', current: () => Promise.resolve('token') },
        getUsersOnlineStatus: () =>
          Promise.resolve(answered({ statuses: [], failed: [{ userIDs: ['imAdmin'], error: networkError(ONLINE_ROUTE) }], form: undefined })),
      }),
    );
    expect(result).toMatchObject({ reachable: false, tokenObtained: true, adminConfirmed: false, latencyMs: undefined });
    expect(result.problems).toEqual([`OpenIM ${ONLINE_ROUTE}: cannot reach http://openim.test:10002`]);
  });

  it('takes an answer without the admin user as reachable and admin, and says the server is odd', async () => {
    const result = await probeOpenIm(
      dependencies({
        getUsersOnlineStatus: () =>
          Promise.resolve(answered({ statuses: [], failed: [{ userIDs: ['imAdmin'], error: new MissingUsersError(ONLINE_ROUTE, ['imAdmin']) }] })),
      }),
    );
    expect(result).toMatchObject({ reachable: true, adminConfirmed: true });
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toContain('the server left out the admin user itself');
  });

  it('reports a status call that throws instead of throwing', async () => {
    const result = await probeOpenIm(dependencies({ getUsersOnlineStatus: () => Promise.reject(new Error('boom')) }));
    expect(result).toMatchObject({ reachable: true, tokenObtained: true, adminConfirmed: false, problems: ['boom'] });
  });

  it('stops at a token that cannot be had', async () => {
    const deps = dependencies({ tokens: { cached: () => undefined, current: () => Promise.reject(networkError('/auth/get_admin_token')) } });
    const result = await probeOpenIm(deps);
    expect(result).toMatchObject({ reachable: false, tokenObtained: false, adminConfirmed: false });
    expect(deps.asked).toEqual([]);
  });

  it('asks nothing of a closed client', async () => {
    let tokenAsked = false;
    const deps = dependencies({
      isClosed: () => true,
      tokens: {
        cached: () => undefined,
        current: () => {
          tokenAsked = true;
          return Promise.resolve('token');
        },
      },
    });
    const result = await probeOpenIm(deps);
    expect(result.problems).toEqual(['the OpenIM client is closed; create a new one']);
    expect(tokenAsked).toBe(false);
    expect(deps.asked).toEqual([]);
  });
});
