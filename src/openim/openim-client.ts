/**
 * The OpenIM API client (docs/openim-contract.md, the status API), composed of one concept per file: the HTTP
 * transport (openim-transport.ts), the admin token (admin-token-cache.ts), the status routes (status-routes.ts) and
 * the probe behind `doctor` (openim-probe.ts).
 */
import type { Logger } from 'pino';
import { createAdminTokenCache } from './admin-token-cache.js';
import { probeOpenIm } from './openim-probe.js';
import { createOpenImTransport } from './openim-transport.js';
import { createStatusRoutes } from './status-routes.js';
import type { OpenImApi } from './types.js';

/** Everything the OpenIM client needs; the first eight fields are the `openim` config section. */
export interface OpenImClientOptions {
  /** Base URL of openim-api, e.g. `http://127.0.0.1:10002`. A path prefix (behind a proxy) is kept. */
  apiUrl: string;
  /** `share.yml secret`, sent to `/auth/get_admin_token`. Undefined makes every call fail with OPR_ERR_OPENIM_TOKEN. */
  secret: string | undefined;
  /** A userID listed in `share.yml imAdminUserID`. */
  adminUserID: string;
  /** Prefix of the `operationID` header: `<prefix>_<pid>_<counter>`. */
  operationIDPrefix: string;
  /** Timeout of each HTTP attempt, in milliseconds. */
  timeoutMs: number;
  /** Retries after a network error, a timeout or an HTTP 5xx (so at most `retries + 1` attempts per request). */
  retries: number;
  /** userIDs per `get_users_online_status` / `get_users_status` request. */
  batchSize: number;
  /** Most status requests in flight at once, across all calls of this client. */
  concurrency: number;
  /** `showNumber` of each `get_all_users_uid` page. Default 1000. */
  pageSize?: number;
  /** Receives debug lines for retries and token renewals. Nothing secret is ever passed to it. */
  logger?: Logger;
  /** First retry waits about this long (jittered between half and all of it), doubling per retry. Default 200. */
  retryBaseDelayMs?: number;
}

/** The {@link OpenImApi} plus a raw authenticated call, for tools (doctor) and tests. */
export interface OpenImClient extends OpenImApi {
  /**
   * POSTs `body` as JSON to `path` (a path under `apiUrl`; absolute URLs are refused) with the admin token, renewing
   * the token once on errCode 1501–1507, and returns the envelope's `data` (undefined when absent).
   */
  call(path: string, body: unknown): Promise<unknown>;
}

/**
 * Creates the axios-based OpenIM client. One axios instance and one keep-alive agent per client (so per base URL);
 * no module state. All routes are POSTs that only read, so network errors, timeouts and 5xx are retried.
 */
export function createOpenImClient(options: OpenImClientOptions): OpenImClient {
  // The secret and the cached admin token are never repeated in a message built from what the server said. The
  // transport reads them only when it builds such a message, after `tokens` exists.
  const transport = createOpenImTransport({ ...options, secrets: () => [options.secret, tokens.cached()] });
  const tokens = createAdminTokenCache(transport, options);
  const routes = createStatusRoutes(transport, tokens, options);

  return {
    ...routes,
    probe: () =>
      probeOpenIm({
        adminUserID: options.adminUserID,
        isClosed: transport.isClosed,
        tokens,
        getUsersOnlineStatus: routes.getUsersOnlineStatus,
      }),
    close: () => {
      transport.close();
      tokens.close();
    },
    call: async (path: string, body: unknown) => {
      transport.assertOpen(path);
      transport.checkPath(path);
      return tokens.postWithToken(path, body);
    },
  };
}
