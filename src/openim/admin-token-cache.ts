/**
 * The admin token of the OpenIM client (docs/openim-contract.md, `POST /auth/get_admin_token`): one token is cached
 * and a new one fetched only after OpenIM rejects it (errCode 1501–1507), since on OpenIM main a new admin token
 * invalidates the previous one after 5 minutes and fetching one per request would break other callers. Concurrent
 * callers share one fetch. The token's `expireTimeSeconds` (90 days by default) is logged, not acted on: a rejection
 * is what renews it.
 */
import { OpenImApiError, OprError } from '../errors.js';
import { OPENIM_ERR, OPENIM_ROUTES, adminTokenDataSchema, isTokenErrorCode, parseWith } from './api-schemas.js';
import type { OpenImClientOptions } from './openim-client.js';
import { reclassifiedApiError, unexpectedAnswerError } from './openim-transport.js';
import type { AttemptCounter, OpenImTransport } from './openim-transport.js';

export type AdminTokenCacheOptions = Pick<OpenImClientOptions, 'secret' | 'adminUserID' | 'logger'>;

export interface AdminTokenCache {
  /** The cached token, or else the token of a fetch that every concurrent caller shares. */
  current(): Promise<string>;
  /** The cached token; undefined before the first fetch, while a rejected one is being replaced, and after close. */
  cached(): string | undefined;
  /**
   * POSTs through the transport with the admin token. When OpenIM rejects the token (errCode 1501–1507), renews it
   * once and retries exactly once; a fresh token rejected too fails with OPR_ERR_OPENIM_TOKEN.
   */
  postWithToken(route: string, body: unknown, attempts?: AttemptCounter): Promise<unknown>;
  /** Forgets the token; a fetch still in flight is not kept. */
  close(): void;
}

export function createAdminTokenCache(
  transport: Pick<OpenImTransport, 'post'>,
  options: AdminTokenCacheOptions,
): AdminTokenCache {
  const { secret, adminUserID, logger } = options;
  let token: string | undefined;
  let tokenFetch: Promise<string> | undefined;
  let closed = false;

  /** Asks OpenIM for a token; a refusal says which setting to check. */
  async function fetchToken(): Promise<string> {
    const route = OPENIM_ROUTES.getAdminToken;
    if (secret === undefined || secret === '') {
      throw new OprError(
        'OPR_ERR_OPENIM_TOKEN',
        "openim.secret is not set: set openim.secret (or openim.secretFile) to the `secret` of OpenIM's share.yml",
        { route },
      );
    }
    let data: unknown;
    try {
      data = await transport.post(route, { secret, userID: adminUserID }, undefined);
    } catch (error) {
      if (!(error instanceof OpenImApiError)) throw error;
      const quotedAdmin = JSON.stringify(adminUserID);
      let message: string;
      if (error.errCode === OPENIM_ERR.noPermission) {
        message = `OpenIM refused the admin token: wrong secret (errCode 1002); check openim.secret (or openim.secretFile) equals \`secret\` in OpenIM's share.yml`;
      } else if (error.errCode === OPENIM_ERR.args) {
        message = `OpenIM refused an admin token for userID ${quotedAdmin} (errCode 1001): check openim.adminUserID is listed in share.yml imAdminUserID`;
      } else if (error.errCode === OPENIM_ERR.recordNotFound) {
        message = `OpenIM has no user ${quotedAdmin} (errCode 1004): check openim.adminUserID is in share.yml imAdminUserID and that OpenIM has created that admin user`;
      } else {
        message = `OpenIM refused the admin token (errCode ${error.errCode}: ${error.errMsg || 'no errMsg'}); check openim.secret and openim.adminUserID`;
      }
      throw reclassifiedApiError(error, 'OPR_ERR_OPENIM_TOKEN', message);
    }
    const parsed = parseWith(adminTokenDataSchema, data);
    if (!parsed.ok) throw unexpectedAnswerError(route, parsed.error);
    logger?.info({ expireTimeSeconds: parsed.value.expireTimeSeconds }, 'obtained an OpenIM admin token');
    return parsed.value.token;
  }

  /** Starts a token fetch unless one is in flight; every concurrent caller shares it. */
  function fetchTokenShared(): Promise<string> {
    tokenFetch ??= fetchToken().then(
      (freshToken) => {
        tokenFetch = undefined;
        if (!closed) token = freshToken;
        return freshToken;
      },
      (error: unknown) => {
        tokenFetch = undefined;
        throw error;
      },
    );
    return tokenFetch;
  }

  function current(): Promise<string> {
    return token !== undefined ? Promise.resolve(token) : fetchTokenShared();
  }

  /** After `staleToken` was rejected: the token another caller already fetched, the fetch in flight, or a new fetch. */
  function renew(staleToken: string): Promise<string> {
    if (tokenFetch !== undefined) return tokenFetch;
    if (token !== undefined && token !== staleToken) return Promise.resolve(token);
    token = undefined;
    logger?.warn('OpenIM rejected the admin token; fetching a new one');
    return fetchTokenShared();
  }

  async function postWithToken(route: string, body: unknown, attempts?: AttemptCounter): Promise<unknown> {
    const usedToken = await current();
    try {
      return await transport.post(route, body, usedToken, attempts);
    } catch (error) {
      if (!(error instanceof OpenImApiError) || !isTokenErrorCode(error.errCode)) throw error;
    }
    const freshToken = await renew(usedToken);
    try {
      return await transport.post(route, body, freshToken, attempts);
    } catch (error) {
      if (error instanceof OpenImApiError && isTokenErrorCode(error.errCode)) {
        throw reclassifiedApiError(
          error,
          'OPR_ERR_OPENIM_TOKEN',
          `OpenIM ${route} rejected a freshly fetched admin token (errCode ${error.errCode}: ${error.errMsg || 'no errMsg'}); check the clocks of this host and OpenIM agree and that nothing else keeps replacing the token of openim.adminUserID`,
        );
      }
      throw error;
    }
  }

  function close(): void {
    closed = true;
    token = undefined;
  }

  return { current, cached: () => token, postWithToken, close };
}
