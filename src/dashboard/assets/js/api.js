// @ts-check
// API access with the optional bearer token (kept for the browser tab in sessionStorage), and the errors it throws.

const TOKEN_KEY = 'openim-presence.api-token';

/** @type {string | null} */
let token = sessionStorage.getItem(TOKEN_KEY);

/** The token sent with every request, if any. */
export function currentToken() {
  return token;
}

/** @param {string} value */
export function setToken(value) {
  token = value;
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

/** @type {(reason: string) => void} */
let tokenRefused = () => {};

/**
 * What to do when the daemon refuses the current token (or asks for one): `reason` is empty when none was sent.
 * @param {(reason: string) => void} handler
 */
export function onTokenRefused(handler) {
  tokenRefused = handler;
}

/** The daemon asks for a token (401): what shows it is already under way. */
export class AuthRequired extends Error {}

/** @typedef {{ error?: { message?: unknown, oldestSeq?: unknown } } | null} ErrorBody */

/** The daemon could not be reached (`status` 0) or answered with an error. */
export class ApiFailure extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {ErrorBody} body
   */
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/**
 * Whether `err` is the abort of a request (an AbortController's signal), which is not a failure.
 * @param {unknown} err
 */
export function isAbort(err) {
  return typeof err === 'object' && err !== null && 'name' in err && err.name === 'AbortError';
}

/**
 * The JSON answer of a /v1 route; the caller says what shape it has.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<unknown>}
 */
export async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  const used = token;
  if (used) headers.set('authorization', `Bearer ${used}`);
  let res;
  try {
    res = await fetch(path, { ...init, headers });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiFailure(0, 'cannot reach the daemon', null);
  }
  if (res.status === 401) {
    // A refusal of a token already replaced (an answer still in flight) says nothing about the current one.
    if (used === token) tokenRefused(used ? 'That token was not accepted.' : '');
    throw new AuthRequired('an API token is required');
  }
  /** @type {any} */
  let body;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const message = body && body.error && typeof body.error.message === 'string' ? body.error.message : `HTTP ${res.status}`;
    throw new ApiFailure(res.status, message, body);
  }
  return body;
}

/**
 * What went wrong, in a sentence for an error line.
 * @param {unknown} err
 */
export function errorText(err) {
  if (err instanceof AuthRequired) return 'An API token is required.';
  if (err instanceof ApiFailure) return err.status ? `${err.message} (HTTP ${err.status})` : err.message;
  const message = typeof err === 'object' && err !== null && 'message' in err ? err.message : undefined;
  return String(err && message ? message : err);
}
