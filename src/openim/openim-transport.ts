/**
 * The HTTP side of the OpenIM client (docs/openim-contract.md, the status API, common to every route): one axios
 * instance and one keep-alive agent per client (so per base URL), its own operationID for every HTTP attempt, retries
 * with jittered backoff after network errors, timeouts and 5xx (every route the client calls only reads), and every
 * failure turned into an OprError that says what to fix without repeating a secret.
 */
import http from 'node:http';
import https from 'node:https';
import axios from 'axios';
import type { AxiosError, AxiosRequestConfig, AxiosResponse } from 'axios';
import axiosRetry from 'axios-retry';
import { OpenImApiError, OpenImTransportError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { backoffDelay } from '../util/backoff.js';
import { displayUrl } from '../util/url-redaction.js';
import { describeValue, envelopeSchema, parseWith } from './api-schemas.js';
import type { OpenImClientOptions } from './openim-client.js';

export type OpenImTransportOptions = Pick<
  OpenImClientOptions,
  'apiUrl' | 'operationIDPrefix' | 'timeoutMs' | 'retries' | 'retryBaseDelayMs' | 'logger'
> & {
  /**
   * The texts never to repeat in a message built from something the server said (the secret, the admin token in
   * use), read each time such a message is built. Undefined and empty entries are skipped.
   */
  secrets: () => readonly (string | undefined)[];
};

/** Counts the HTTP requests, retries included, of every POST it is passed to. */
export interface AttemptCounter {
  count: number;
}

export interface OpenImTransport {
  /**
   * POSTs `body` as JSON to `route` (a path under `apiUrl`) with `token` in the `token` header when given, retrying
   * as configured. Returns the envelope's `data` (undefined when absent) or throws an OprError: an OpenImApiError for
   * errCode != 0, an OpenImTransportError for everything else. Adds the requests made to `attempts`, if given.
   */
  post(route: string, body: unknown, token: string | undefined, attempts?: AttemptCounter): Promise<unknown>;
  /** Throws OPR_ERR_OPENIM_URL unless `path` starts with "/" and so stays under `apiUrl`. */
  checkPath(path: string): void;
  /** Throws the closed-client error for `route` once {@link close} was called. */
  assertOpen(route: string): void;
  isClosed(): boolean;
  /** Ends the requests in flight with the closed-client error, refuses new ones and frees the sockets. Idempotent. */
  close(): void;
}

const DEFAULT_RETRY_BASE_DELAY_MS = 200;

/** The error of every call on a closed client, and of the requests it ends when it is closed. */
export function closedClientError(route: string): OpenImTransportError {
  return new OpenImTransportError('OPR_ERR_OPENIM_NETWORK', route, 'the OpenIM client is closed; no request was sent');
}

/** OpenIM answered 200 with an envelope whose `data` has the wrong shape; `problem` names the place and the value. */
export function unexpectedAnswerError(route: string, problem: string): OpenImTransportError {
  return new OpenImTransportError('OPR_ERR_OPENIM_RESPONSE', route, `unexpected answer: ${problem}`, 200);
}

/** `error` under another stable code and with a message that says what to fix; errCode and errMsg are kept. */
export function reclassifiedApiError(error: OpenImApiError, code: ErrorCode, message: string): OpenImApiError {
  const reclassified = new OpenImApiError(error.route, error.errCode, error.errMsg, code);
  reclassified.message = message;
  return reclassified;
}

export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/** True for `http://x`, `mailto:x`, `//host/x`: anything that would leave the configured base URL. */
function isAbsoluteUrl(path: string): boolean {
  return /^[a-z][a-z\d+.-]*:/i.test(path) || path.startsWith('//') || path.startsWith('\\\\');
}

/** How many times axios-retry retried the request of `config`. */
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

/** What an HTTP status other than 200 most likely means, as a parenthesised hint (empty when nothing useful). */
function httpStatusHint(status: number): string {
  if (status === 400) return ' (OpenIM answers 400 when it cannot decode the request JSON)';
  if (status === 404)
    return ' (no such route: is openim.apiUrl the openim-api address, default port 10002, and is OpenIM v3.8.1 or later?)';
  if (status === 401 || status === 403)
    return ' (refused by something in front of openim-api, which itself answers 200)';
  if (status >= 300 && status < 400) return ' (redirects are not followed: set openim.apiUrl to the final address)';
  if (status >= 500) return ' (OpenIM or a proxy in front of it failed)';
  return '';
}

/** Creates the transport; throws OPR_ERR_OPENIM_URL when `apiUrl` is not an http(s) URL. */
export function createOpenImTransport(options: OpenImTransportOptions): OpenImTransport {
  let baseUrl: URL;
  try {
    baseUrl = new URL(options.apiUrl);
  } catch {
    throw new OpenImTransportError(
      'OPR_ERR_OPENIM_URL',
      '(client)',
      `openim.apiUrl ${describeValue(options.apiUrl)} is not a URL; expected e.g. http://127.0.0.1:10002`,
    );
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
    throw new OpenImTransportError(
      'OPR_ERR_OPENIM_URL',
      '(client)',
      `openim.apiUrl must be http:// or https://, got ${baseUrl.protocol}`,
    );
  }
  // The base URL without credentials, query or trailing slash: safe to show in messages.
  const shownUrl = displayUrl(baseUrl, { trimTrailingSlash: true });
  const retryBaseDelayMs = options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
  const logger = options.logger;
  const controller = new AbortController();
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true });
  let closed = false;
  let operationCounter = 0;

  const axiosInstance = axios.create({
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
  axiosInstance.interceptors.request.use((config) => {
    operationCounter += 1;
    config.headers.set('operationID', `${options.operationIDPrefix}_${process.pid}_${operationCounter}`);
    return config;
  });

  axiosRetry(axiosInstance, {
    retries: options.retries,
    shouldResetTimeout: true,
    retryCondition: (error: AxiosError) => {
      if (closed || error.code === 'ERR_CANCELED') return false;
      const status = error.response?.status;
      return status === undefined || (status >= 500 && status <= 599);
    },
    retryDelay: (retryNumber: number) => backoffDelay(retryNumber, retryBaseDelayMs),
    onRetry: (retryNumber: number, error: AxiosError, config: AxiosRequestConfig) => {
      logger?.debug(
        { route: config.url, retry: retryNumber, code: error.code, status: error.response?.status },
        'retrying OpenIM request',
      );
    },
  });

  /** `text` with every secret replaced by `[REDACTED]`. */
  function redactSecrets(text: string): string {
    let out = text;
    for (const secret of options.secrets())
      if (secret !== undefined && secret !== '' && out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    return out;
  }

  function toTransportError(route: string, error: unknown): Error {
    if (closed || axios.isCancel(error)) return closedClientError(route);
    if (!axios.isAxiosError(error)) return asError(error);
    const attempts = 1 + retryCountOf(error.config);
    const attemptsText = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const response = error.response;
    if (response !== undefined) {
      return new OpenImTransportError(
        'OPR_ERR_OPENIM_HTTP',
        route,
        `HTTP ${response.status}, expected 200${httpStatusHint(response.status)}; ${redactSecrets(bodyHint(bodyText(response.data)))} (${attemptsText})`,
        response.status,
      );
    }
    if (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT') {
      return new OpenImTransportError(
        'OPR_ERR_OPENIM_NETWORK',
        route,
        `no answer from ${shownUrl} within ${options.timeoutMs} ms (${attemptsText}); check openim.apiUrl or raise openim.timeoutMs`,
      );
    }
    return new OpenImTransportError(
      'OPR_ERR_OPENIM_NETWORK',
      route,
      `cannot reach ${shownUrl}: ${redactSecrets(error.code ?? 'network error')} ${redactSecrets(error.message)} (${attemptsText}); check openim.apiUrl and that openim-api is running`,
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

  function assertOpen(route: string): void {
    if (closed) throw closedClientError(route);
  }

  async function post(
    route: string,
    body: unknown,
    token: string | undefined,
    attempts?: AttemptCounter,
  ): Promise<unknown> {
    assertOpen(route);
    checkPath(route);
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.token = token;
    let response: AxiosResponse<unknown>;
    try {
      response = await axiosInstance.post<unknown>(route, JSON.stringify(body), { headers, signal: controller.signal });
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
        `HTTP ${response.status}, expected 200; ${redactSecrets(bodyHint(text))}`,
        response.status,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new OpenImTransportError('OPR_ERR_OPENIM_RESPONSE', route, redactSecrets(describeUnparsable(text, error)), 200);
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
      throw new OpenImApiError(route, envelope.value.errCode, redactSecrets(envelope.value.errMsg));
    }
    return envelope.value.data;
  }

  function close(): void {
    if (closed) return;
    closed = true;
    controller.abort();
    httpAgent.destroy();
    httpsAgent.destroy();
  }

  return { post, checkPath, assertOpen, isClosed: () => closed, close };
}
