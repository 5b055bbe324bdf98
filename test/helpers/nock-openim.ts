/**
 * Every use of nock in the test suite lives here: small functions that stand in for openim-api routes (docs/openim-contract.md, the status API)
 * and record what the client sent. Tests call `useNock()` once per file; mocks are cleared after each test.
 */
import nock from 'nock';
import { afterAll, afterEach, beforeAll } from 'vitest';

export const OPENIM_URL = 'http://openim.test:10002';
export const TEST_SECRET = 'openIM123-test-secret';
export const TEST_ADMIN = 'imAdmin';
export const TEST_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.admin-token-one.c2lnbmF0dXJl';
export const TEST_TOKEN_2 = 'eyJhbGciOiJIUzI1NiJ9.admin-token-two.c2lnbmF0dXJl';

export const ROUTE = {
  adminToken: '/auth/get_admin_token',
  onlineStatus: '/user/get_users_online_status',
  usersStatus: '/user/get_users_status',
  allUsersUid: '/user/get_all_users_uid',
} as const;

/** One request as the fake server saw it. Header names are lower-case. */
export interface SeenRequest {
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

/** What the fake server answers: an object body is sent as JSON, a string body as is. */
export interface Answer {
  status?: number;
  body: unknown;
  contentType?: string;
}

export type Handler = (request: SeenRequest) => Answer | Promise<Answer>;

export interface MockOptions {
  /** How many requests this mock answers (default 1); ignored with `persist`. */
  times?: number;
  /** Answer every matching request until the test ends. */
  persist?: boolean;
  /** Delay before the answer is sent, in milliseconds. */
  delayMs?: number;
}

/** The requests a mock answered, in arrival order. */
export interface Mock {
  readonly requests: SeenRequest[];
}

/** Blocks real network access in this test file and clears every mock after each test. */
export function useNock(): void {
  beforeAll(() => {
    nock.disableNetConnect();
  });
  afterEach(() => {
    nock.abortPendingRequests();
    nock.cleanAll();
  });
  afterAll(() => {
    nock.enableNetConnect();
  });
}

/** Mocks that were set up but never used (for assertions). */
export function pendingMocks(): string[] {
  return nock.pendingMocks();
}

/** A success envelope; `data: undefined` leaves the field out, as OpenIM does on errors. */
export function ok(data: unknown): Answer {
  return {
    body: data === undefined ? { errCode: 0, errMsg: '', errDlt: '' } : { errCode: 0, errMsg: '', errDlt: '', data },
  };
}

/** A business error: HTTP 200 with errCode != 0 and no `data`. */
export function fail(errCode: number, errMsg = 'error', errDlt = 'detail that changes between versions'): Answer {
  return { body: { errCode, errMsg, errDlt } };
}

/** Any status and raw text (HTML error pages, truncated JSON). */
export function raw(status: number, text: string, contentType = 'text/html'): Answer {
  return { status, body: text, contentType };
}

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

/** Mocks `POST path` on the fake openim-api. */
export function mockRoute(path: string, reply: Answer | Handler, options: MockOptions = {}): Mock {
  const requests: SeenRequest[] = [];
  let interceptor = nock(OPENIM_URL).post(path);
  if (options.persist !== true) interceptor = interceptor.times(options.times ?? 1);
  if (options.delayMs !== undefined) interceptor = interceptor.delay(options.delayMs);
  const scope = interceptor.reply(async function (this: nock.ReplyFnContext, _uri: string, body: nock.Body) {
    const seen: SeenRequest = { path, headers: { ...this.req.headers }, body: parseBody(body) };
    requests.push(seen);
    const answer = typeof reply === 'function' ? await reply(seen) : reply;
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    return [answer.status ?? 200, text, { 'Content-Type': answer.contentType ?? 'application/json' }] as const;
  });
  if (options.persist === true) scope.persist();
  return { requests };
}

/** Fails `POST path` at the socket level (connection reset) `times` times. */
export function mockNetworkError(path: string, options: { times?: number; code?: string } = {}): Mock {
  const requests: SeenRequest[] = [];
  const scope = nock(OPENIM_URL)
    .post(path)
    .times(options.times ?? 1)
    // An Error instance: nock 14 never settles the request when given a plain object here.
    .replyWithError(Object.assign(new Error('socket hang up'), { code: options.code ?? 'ECONNRESET' }));
  scope.on('request', (req: { headers: Record<string, string> }, _interceptor: unknown, body: string) => {
    requests.push({ path, headers: { ...req.headers }, body: parseBody(body) });
  });
  return { requests };
}

/** `/auth/get_admin_token` answering `{token, expireTimeSeconds}` (or `answer`, e.g. `fail(1002)`). */
export function mockAdminToken(options: MockOptions & { token?: string; answer?: Answer | Handler } = {}): Mock {
  const answer = options.answer ?? ok({ token: options.token ?? TEST_TOKEN, expireTimeSeconds: 7_776_000 });
  return mockRoute(ROUTE.adminToken, answer, options);
}

/** `/user/get_users_online_status` answering with `reply`. */
export function mockOnlineStatus(reply: Answer | Handler, options: MockOptions = {}): Mock {
  return mockRoute(ROUTE.onlineStatus, reply, options);
}

/** `/user/get_users_status` answering with `reply`. */
export function mockUsersStatus(reply: Answer | Handler, options: MockOptions = {}): Mock {
  return mockRoute(ROUTE.usersStatus, reply, options);
}

/** `/user/get_all_users_uid` answering with `reply`. */
export function mockAllUsersUid(reply: Answer | Handler, options: MockOptions = {}): Mock {
  return mockRoute(ROUTE.allUsersUid, reply, options);
}

/** One live-status entry as 3.8.x sends it: one detail per connection, `null` details when offline. */
export function liveEntry(
  userID: string,
  connections: readonly number[],
  form: 'numeric' | 'string' = 'numeric',
): Record<string, unknown> {
  const online = connections.length > 0;
  return {
    userID,
    status: form === 'numeric' ? (online ? 1 : 0) : online ? 'online' : 'offline',
    detailPlatformStatus: online
      ? connections.map((platformID, i) => ({
          platformID,
          connID: `conn-${userID}-${i}`,
          isBackground: false,
          token: `user-token-of-${userID}-${i}`,
        }))
      : null,
  };
}

/** A handler answering every requested user: online on the platforms listed in `online` (one per connection). */
export function liveStatus(
  online: Record<string, readonly number[]> = {},
  form: 'numeric' | 'string' = 'numeric',
): Handler {
  return (request) => {
    const { userIDs } = request.body as { userIDs: string[] };
    return ok(userIDs.map((userID) => liveEntry(userID, online[userID] ?? [], form)));
  };
}
