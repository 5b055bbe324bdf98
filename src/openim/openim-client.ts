import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import axios from 'axios';
import type { AxiosError, AxiosRequestConfig, AxiosResponse } from 'axios';
import axiosRetry from 'axios-retry';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { MissingUsersError, OpenImApiError, OpenImTransportError, OprError } from '../errors.js';
import { backoffDelay } from '../util/backoff.js';
import { displayUrl } from '../util/url-redaction.js';
import {
  OPENIM_ERR,
  OPENIM_ROUTES,
  adminTokenDataSchema,
  allUsersUidDataSchema,
  describeValue,
  envelopeSchema,
  isTokenErrorCode,
  parseOnlineStatusData,
  parseWith,
  usersStatusDataSchema,
} from './api-schemas.js';
import type {
  FailedBatch,
  OnlineStatusResult,
  OpenImApi,
  ProbeResult,
  StatusForm,
  UserOnlineStatus,
  UserRedisStatus,
} from './types.js';

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

const DEFAULT_PAGE_SIZE = 1000;
const DEFAULT_RETRY_BASE_DELAY_MS = 200;

interface AttemptCounter {
  count: number;
}

type BatchOutcome =
  { ok: true; statuses: UserOnlineStatus[]; form: StatusForm | undefined } | { ok: false; error: Error };

function dedupe(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

function chunk<T>(items: T[], size: number): T[][] {
  if (items.length <= size) return [items];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** True for `http://x`, `mailto:x`, `//host/x`: anything that would leave the configured base URL. */
function isAbsoluteUrl(path: string): boolean {
  return /^[a-z][a-z\d+.-]*:/i.test(path) || path.startsWith('//') || path.startsWith('\\\\');
}

function retryCountOf(config: AxiosRequestConfig | undefined): number {
  return config?.['axios-retry']?.retryCount ?? 0;
}

function bodyText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (data === undefined || data === null) return '';
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return JSON.stringify(data);
}

/** A short description of a body for an HTTP error message: the HTML title, or the first characters. */
function bodyHint(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return 'empty body';
  const title = /<title[^>]*>([^<]{1,80})<\/title>/i.exec(trimmed)?.[1];
  if (title !== undefined) return `HTML page titled ${JSON.stringify(title.trim())}`;
  const flat = trimmed.replace(/\s+/g, ' ');
  return `body starts ${JSON.stringify(flat.length > 60 ? `${flat.slice(0, 60)}…` : flat)}`;
}

/** Says why `text` is not a JSON envelope without quoting more than its first characters. */
function describeUnparsable(text: string, error: unknown): string {
  const trimmed = text.trim();
  if (trimmed === '') return 'the body is empty; expected a JSON envelope {errCode, errMsg, errDlt, data}';
  if (trimmed.startsWith('<')) {
    return `the body is HTML, not JSON (${bodyHint(trimmed)}); is openim.apiUrl pointing at openim-api (default port 10002) and not at a proxy error page?`;
  }
  const message = error instanceof Error ? error.message : '';
  const position = /position (\d+)/.exec(message)?.[1];
  const atEnd = position !== undefined && Number(position) >= trimmed.length - 1;
  if (/end of (JSON|data)|Unterminated/i.test(message) || atEnd) {
    return `the body is truncated JSON (${text.length} characters, ends before the JSON is complete); the connection was cut or a proxy limits body size`;
  }
  return `the body is not JSON (${text.length} characters, ${bodyHint(trimmed)}${position === undefined ? '' : `, invalid at position ${position}`})`;
}

function httpHint(status: number): string {
  if (status === 400) return ' (OpenIM answers 400 when it cannot decode the request JSON)';
  if (status === 404)
    return ' (no such route: is openim.apiUrl the openim-api address, default port 10002, and is OpenIM v3.8.1 or later?)';
  if (status === 401 || status === 403)
    return ' (refused by something in front of openim-api, which itself answers 200)';
  if (status >= 300 && status < 400) return ' (redirects are not followed: set openim.apiUrl to the final address)';
  if (status >= 500) return ' (OpenIM or a proxy in front of it failed)';
  return '';
}

/**
 * Creates the axios-based OpenIM client. One axios instance and one keep-alive agent per client (so per base URL);
 * no module state. All routes are POSTs that only read, so network errors, timeouts and 5xx are retried.
 */
export function createOpenImClient(options: OpenImClientOptions): OpenImClient {
  let base: URL;
  try {
    base = new URL(options.apiUrl);
  } catch {
    throw new OpenImTransportError(
      'OPR_ERR_OPENIM_URL',
      '(client)',
      `openim.apiUrl ${describeValue(options.apiUrl)} is not a URL; expected e.g. http://127.0.0.1:10002`,
    );
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new OpenImTransportError(
      'OPR_ERR_OPENIM_URL',
      '(client)',
      `openim.apiUrl must be http:// or https://, got ${base.protocol}`,
    );
  }
  // The base URL without credentials, query or trailing slash: safe to show in messages.
  const shownUrl = displayUrl(base, { trimTrailingSlash: true });
  const adminUserID = options.adminUserID;
  const secret = options.secret;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const retryBaseDelayMs = options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
  const log = options.logger;
  const limit = pLimit(options.concurrency);
  const controller = new AbortController();
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true });
  let closed = false;
  let operationCounter = 0;

  const instance = axios.create({
    baseURL: options.apiUrl.replace(/\/+$/, ''),
    timeout: options.timeoutMs,
    httpAgent,
    httpsAgent,
    maxRedirects: 0,
    allowAbsoluteUrls: false,
    responseType: 'text',
    // The body is parsed here, so truncated or non-JSON bodies are reported precisely.
    transformResponse: [(data: unknown) => data],
    // Bodies are already JSON strings (post() stringifies them); axios's default transform would JSON.parse every
    // one again just to check it (≈10 % of a poll cycle's CPU at 500 userIDs per request).
    transformRequest: [(data: unknown) => data],
    headers: { 'Content-Type': 'application/json' },
  });

  // Every HTTP attempt, retries included, gets its own operationID.
  instance.interceptors.request.use((config) => {
    operationCounter += 1;
    config.headers.set('operationID', `${options.operationIDPrefix}_${process.pid}_${operationCounter}`);
    return config;
  });

  axiosRetry(instance, {
    retries: options.retries,
    shouldResetTimeout: true,
    retryCondition: (error: AxiosError) => {
      if (closed || error.code === 'ERR_CANCELED') return false;
      const status = error.response?.status;
      return status === undefined || (status >= 500 && status <= 599);
    },
    retryDelay: (retryNumber: number) => backoffDelay(retryNumber, retryBaseDelayMs),
    onRetry: (retryNumber: number, error: AxiosError, config: AxiosRequestConfig) => {
      log?.debug(
        { route: config.url, retry: retryNumber, code: error.code, status: error.response?.status },
        'retrying OpenIM request',
      );
    },
  });

  // Secrets that must never appear in a message built from something the server said.
  let token: string | undefined;
  let tokenFetch: Promise<string> | undefined;

  function scrub(text: string): string {
    let out = text;
    for (const s of [secret, token])
      if (s !== undefined && s !== '' && out.includes(s)) out = out.split(s).join('[REDACTED]');
    return out;
  }

  function closedError(route: string): OpenImTransportError {
    return new OpenImTransportError(
      'OPR_ERR_OPENIM_NETWORK',
      route,
      'the OpenIM client is closed; no request was sent',
    );
  }

  function toTransportError(route: string, error: unknown): Error {
    if (closed || axios.isCancel(error)) return closedError(route);
    if (!axios.isAxiosError(error)) return asError(error);
    const attempts = 1 + retryCountOf(error.config);
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const response = error.response;
    if (response !== undefined) {
      return new OpenImTransportError(
        'OPR_ERR_OPENIM_HTTP',
        route,
        `HTTP ${response.status}, expected 200${httpHint(response.status)}; ${scrub(bodyHint(bodyText(response.data)))} (${tries})`,
        response.status,
      );
    }
    if (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT') {
      return new OpenImTransportError(
        'OPR_ERR_OPENIM_NETWORK',
        route,
        `no answer from ${shownUrl} within ${options.timeoutMs} ms (${tries}); check openim.apiUrl or raise openim.timeoutMs`,
      );
    }
    return new OpenImTransportError(
      'OPR_ERR_OPENIM_NETWORK',
      route,
      `cannot reach ${shownUrl}: ${scrub(error.code ?? 'network error')} ${scrub(error.message)} (${tries}); check openim.apiUrl and that openim-api is running`,
    );
  }

  function checkPath(path: string): void {
    if (isAbsoluteUrl(path) || !path.startsWith('/')) {
      throw new OpenImTransportError(
        'OPR_ERR_OPENIM_URL',
        '(request)',
        `refusing ${describeValue(path)}: only paths starting with "/" under openim.apiUrl are allowed`,
      );
    }
  }

  /** One POST with retries; returns the envelope's `data` or throws an OprError. */
  async function post(
    route: string,
    body: unknown,
    authToken: string | undefined,
    attempts?: AttemptCounter,
  ): Promise<unknown> {
    if (closed) throw closedError(route);
    checkPath(route);
    const headers: Record<string, string> = {};
    if (authToken !== undefined) headers.token = authToken;
    let response: AxiosResponse<unknown>;
    try {
      response = await instance.post<unknown>(route, JSON.stringify(body), { headers, signal: controller.signal });
    } catch (error) {
      if (attempts !== undefined) attempts.count += 1 + retryCountOf((error as AxiosError | undefined)?.config);
      throw toTransportError(route, error);
    }
    if (attempts !== undefined) attempts.count += 1 + retryCountOf(response.config);
    const text = bodyText(response.data);
    if (response.status !== 200) {
      throw new OpenImTransportError(
        'OPR_ERR_OPENIM_HTTP',
        route,
        `HTTP ${response.status}, expected 200; ${scrub(bodyHint(text))}`,
        response.status,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new OpenImTransportError('OPR_ERR_OPENIM_RESPONSE', route, scrub(describeUnparsable(text, error)), 200);
    }
    const envelope = parseWith(envelopeSchema, parsed, 'body');
    if (!envelope.ok) {
      throw new OpenImTransportError(
        'OPR_ERR_OPENIM_RESPONSE',
        route,
        `the body is not an OpenIM envelope {errCode, errMsg, errDlt, data}: ${envelope.error}`,
        200,
      );
    }
    if (envelope.value.errCode !== 0) {
      throw new OpenImApiError(route, envelope.value.errCode, scrub(envelope.value.errMsg));
    }
    return envelope.value.data;
  }

  function withMessage<E extends Error>(error: E, message: string): E {
    error.message = message;
    return error;
  }

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
      data = await post(route, { secret, userID: adminUserID }, undefined);
    } catch (error) {
      if (!(error instanceof OpenImApiError)) throw error;
      const e = new OpenImApiError(route, error.errCode, error.errMsg, 'OPR_ERR_OPENIM_TOKEN');
      const who = JSON.stringify(adminUserID);
      if (error.errCode === OPENIM_ERR.noPermission) {
        throw withMessage(
          e,
          `OpenIM refused the admin token: wrong secret (errCode 1002); check openim.secret (or openim.secretFile) equals \`secret\` in OpenIM's share.yml`,
        );
      }
      if (error.errCode === OPENIM_ERR.args) {
        throw withMessage(
          e,
          `OpenIM refused an admin token for userID ${who} (errCode 1001): check openim.adminUserID is listed in share.yml imAdminUserID`,
        );
      }
      if (error.errCode === OPENIM_ERR.recordNotFound) {
        throw withMessage(
          e,
          `OpenIM has no user ${who} (errCode 1004): check openim.adminUserID is in share.yml imAdminUserID and that OpenIM has created that admin user`,
        );
      }
      throw withMessage(
        e,
        `OpenIM refused the admin token (errCode ${error.errCode}: ${error.errMsg || 'no errMsg'}); check openim.secret and openim.adminUserID`,
      );
    }
    const parsed = parseWith(adminTokenDataSchema, data);
    if (!parsed.ok) {
      throw new OpenImTransportError('OPR_ERR_OPENIM_RESPONSE', route, `unexpected answer: ${parsed.error}`, 200);
    }
    log?.info({ expireTimeSeconds: parsed.value.expireTimeSeconds }, 'obtained an OpenIM admin token');
    return parsed.value.token;
  }

  /** Starts a token fetch unless one is in flight; every concurrent caller shares it. */
  function fetchTokenShared(): Promise<string> {
    tokenFetch ??= fetchToken().then(
      (fresh) => {
        tokenFetch = undefined;
        if (!closed) token = fresh;
        return fresh;
      },
      (error: unknown) => {
        tokenFetch = undefined;
        throw error;
      },
    );
    return tokenFetch;
  }

  function currentToken(): Promise<string> {
    return token !== undefined ? Promise.resolve(token) : fetchTokenShared();
  }

  /** After `stale` was rejected: the token another caller already fetched, the fetch in flight, or a new fetch. */
  function renewToken(stale: string): Promise<string> {
    if (tokenFetch !== undefined) return tokenFetch;
    if (token !== undefined && token !== stale) return Promise.resolve(token);
    token = undefined;
    log?.warn('OpenIM rejected the admin token; fetching a new one');
    return fetchTokenShared();
  }

  /** POST with the admin token; on a token error, renew once and retry exactly once. */
  async function authedPost(route: string, body: unknown, attempts?: AttemptCounter): Promise<unknown> {
    const used = await currentToken();
    try {
      return await post(route, body, used, attempts);
    } catch (error) {
      if (!(error instanceof OpenImApiError) || !isTokenErrorCode(error.errCode)) throw error;
    }
    const fresh = await renewToken(used);
    try {
      return await post(route, body, fresh, attempts);
    } catch (error) {
      if (error instanceof OpenImApiError && isTokenErrorCode(error.errCode)) {
        throw withMessage(
          new OpenImApiError(route, error.errCode, error.errMsg, 'OPR_ERR_OPENIM_TOKEN'),
          `OpenIM ${route} rejected a freshly fetched admin token (errCode ${error.errCode}: ${error.errMsg || 'no errMsg'}); check the clocks of this host and OpenIM agree and that nothing else keeps replacing the token of openim.adminUserID`,
        );
      }
      throw error;
    }
  }

  async function onlineStatusBatch(batch: string[], attempts: AttemptCounter): Promise<BatchOutcome> {
    const route = OPENIM_ROUTES.getUsersOnlineStatus;
    try {
      const data = await authedPost(route, { userIDs: batch }, attempts);
      const parsed = parseOnlineStatusData(data);
      if (!parsed.ok) {
        throw new OpenImTransportError('OPR_ERR_OPENIM_RESPONSE', route, `unexpected answer: ${parsed.error}`, 200);
      }
      const answered = parsed.value.statuses;
      // Usual case: one entry per requested user, in request order.
      let inOrder = answered.length === batch.length;
      for (let i = 0; inOrder && i < batch.length; i++) inOrder = answered[i]!.userID === batch[i];
      if (inOrder) return { ok: true, statuses: answered, form: parsed.value.form };
      const byUser = new Map<string, UserOnlineStatus>();
      for (const status of answered) if (!byUser.has(status.userID)) byUser.set(status.userID, status);
      const statuses: UserOnlineStatus[] = [];
      const missing: string[] = [];
      for (const userID of batch) {
        const status = byUser.get(userID);
        if (status === undefined) missing.push(userID);
        else statuses.push(status);
      }
      if (missing.length > 0) throw new MissingUsersError(route, missing);
      return { ok: true, statuses, form: parsed.value.form };
    } catch (error) {
      if (
        error instanceof OpenImApiError &&
        error.code === 'OPR_ERR_OPENIM_API' &&
        error.errCode === OPENIM_ERR.noPermission
      ) {
        return {
          ok: false,
          error: withMessage(
            new OpenImApiError(route, error.errCode, error.errMsg, 'OPR_ERR_OPENIM_PERMISSION'),
            `OpenIM ${route} answered errCode 1002 (no permission): the token is not an admin token; check openim.adminUserID ${JSON.stringify(adminUserID)} is listed in share.yml imAdminUserID`,
          ),
        };
      }
      return { ok: false, error: asError(error) };
    }
  }

  async function getUsersOnlineStatus(userIDs: readonly string[]): Promise<OnlineStatusResult> {
    if (closed) throw closedError(OPENIM_ROUTES.getUsersOnlineStatus);
    const unique = dedupe(userIDs);
    if (unique.length === 0) return { statuses: [], failed: [], form: undefined, requests: 0 };
    const batches = chunk(unique, options.batchSize);
    try {
      // One token for the whole call: a refused token fails every batch once, not once per batch.
      await currentToken();
    } catch (error) {
      const failed: FailedBatch[] = batches.map((batch) => ({ userIDs: batch, error: asError(error) }));
      return { statuses: [], failed, form: undefined, requests: 0 };
    }
    const attempts: AttemptCounter = { count: 0 };
    const outcomes = await Promise.all(batches.map((batch) => limit(onlineStatusBatch, batch, attempts)));
    // One batch (a poll cycle asks a page at a time): its answer is the result, no copy.
    const only = outcomes.length === 1 ? outcomes[0]! : undefined;
    if (only?.ok === true) return { statuses: only.statuses, failed: [], form: only.form, requests: attempts.count };
    const statuses: UserOnlineStatus[] = [];
    const failed: FailedBatch[] = [];
    let form: StatusForm | undefined;
    outcomes.forEach((outcome, i) => {
      if (outcome.ok) {
        for (const status of outcome.statuses) statuses.push(status);
        form ??= outcome.form;
      } else {
        failed.push({ userIDs: batches[i]!, error: outcome.error });
      }
    });
    return { statuses, failed, form, requests: attempts.count };
  }

  async function usersStatusBatch(batch: string[]): Promise<UserRedisStatus[]> {
    const route = OPENIM_ROUTES.getUsersStatus;
    const data = await authedPost(route, { userID: adminUserID, userIDs: batch });
    const parsed = parseWith(usersStatusDataSchema, data ?? {});
    if (!parsed.ok)
      throw new OpenImTransportError('OPR_ERR_OPENIM_RESPONSE', route, `unexpected answer: ${parsed.error}`, 200);
    return (parsed.value.statusList ?? []).map((entry) => ({
      userID: entry.userID,
      online: entry.status === 1 || entry.status === 'online',
      platformIDs: [...new Set(entry.platformIDs ?? [])].sort((a, b) => a - b),
    }));
  }

  async function getUsersStatus(userIDs: readonly string[]): Promise<UserRedisStatus[]> {
    if (closed) throw closedError(OPENIM_ROUTES.getUsersStatus);
    const unique = dedupe(userIDs);
    if (unique.length === 0) return [];
    const parts = await Promise.all(chunk(unique, options.batchSize).map((batch) => limit(usersStatusBatch, batch)));
    return parts.flat();
  }

  async function* allUserIDs(): AsyncGenerator<string, void, undefined> {
    const route = OPENIM_ROUTES.getAllUsersUid;
    if (closed) throw closedError(route);
    const seen = new Set<string>();
    for (let pageNumber = 1; ; pageNumber++) {
      const data = await authedPost(route, { pagination: { pageNumber, showNumber: pageSize } });
      const parsed = parseWith(allUsersUidDataSchema, data ?? {});
      if (!parsed.ok)
        throw new OpenImTransportError('OPR_ERR_OPENIM_RESPONSE', route, `unexpected answer: ${parsed.error}`, 200);
      const ids = parsed.value.userIDs;
      if (ids === null || ids === undefined || ids.length === 0) return;
      let added = 0;
      for (const id of ids) {
        if (id === '' || seen.has(id)) continue;
        seen.add(id);
        added += 1;
        yield id;
      }
      const total = parsed.value.total;
      if (total !== undefined && pageNumber * pageSize >= total) return;
      // A page with nothing new means the server ignores paging; stop rather than loop forever.
      if (added === 0) return;
    }
  }

  async function probe(): Promise<ProbeResult> {
    const result: ProbeResult = {
      reachable: false,
      tokenObtained: false,
      adminConfirmed: false,
      statusForm: undefined,
      problems: [],
      latencyMs: undefined,
    };
    if (closed) {
      result.problems.push('the OpenIM client is closed; create a new one');
      return result;
    }
    const describeFailure = (error: unknown): void => {
      if (error instanceof OpenImTransportError && error.code === 'OPR_ERR_OPENIM_NETWORK') {
        result.problems.push(error.message);
        return;
      }
      if (error instanceof OpenImTransportError || error instanceof OpenImApiError) result.reachable = true;
      result.problems.push(error instanceof Error ? error.message : String(error));
    };
    try {
      const hadToken = token !== undefined;
      const started = performance.now();
      try {
        await currentToken();
        result.tokenObtained = true;
        if (!hadToken) {
          result.reachable = true;
          result.latencyMs = performance.now() - started;
        }
      } catch (error) {
        describeFailure(error);
        return result;
      }
      const statusStarted = performance.now();
      const answer = await getUsersOnlineStatus([adminUserID]);
      const failure = answer.failed[0];
      if (failure === undefined) {
        result.latencyMs = performance.now() - statusStarted;
        result.reachable = true;
        result.adminConfirmed = true;
        result.statusForm = answer.form;
        if (answer.form === 'string') {
          result.problems.push(
            'OpenIM answered `status` as "online"/"offline", which only v3.8.0 does, and v3.8.0 sends no presence webhooks: upgrade OpenIM to v3.8.2 or later (until then every change is learned by polling)',
          );
        }
      } else if (failure.error instanceof MissingUsersError) {
        result.reachable = true;
        result.adminConfirmed = true;
        result.problems.push(
          `${failure.error.message}: the server left out the admin user itself; is openim.apiUrl an OpenIM 3.8 openim-api?`,
        );
      } else {
        describeFailure(failure.error);
      }
    } catch (error) {
      describeFailure(error);
    }
    return result;
  }

  function close(): void {
    if (closed) return;
    closed = true;
    token = undefined;
    controller.abort();
    httpAgent.destroy();
    httpsAgent.destroy();
  }

  return {
    getUsersOnlineStatus,
    getUsersStatus,
    allUserIDs,
    probe,
    close,
    call: async (path: string, body: unknown) => {
      if (closed) throw closedError(path);
      checkPath(path);
      return authedPost(path, body);
    },
  };
}
