/**
 * Every error this project raises on purpose is an {@link OprError} with a stable string `code`.
 * Codes never change meaning; the README lists them all (see `ERROR_CODES`).
 */
export const ERROR_CODES = {
  OPR_ERR_CONFIG_INVALID: 'The configuration failed validation; every problem names its key path.',
  OPR_ERR_CONFIG_FILE: 'A configuration file or a *_FILE secret file could not be read or parsed.',
  OPR_ERR_OPENIM_URL: 'A request path given to the OpenIM client was an absolute URL; only paths under the configured base URL are allowed.',
  OPR_ERR_OPENIM_NETWORK: 'OpenIM could not be reached (connection refused, DNS, timeout) after the configured retries.',
  OPR_ERR_OPENIM_HTTP: 'OpenIM answered with an HTTP status other than 200 (e.g. 400 for malformed JSON, 5xx).',
  OPR_ERR_OPENIM_RESPONSE: 'OpenIM answered 200 with a body that is not JSON or does not have the documented shape.',
  OPR_ERR_OPENIM_API: 'OpenIM answered with errCode != 0; the error carries errCode and errMsg.',
  OPR_ERR_OPENIM_TOKEN: 'The admin token could not be obtained (wrong secret 1002, unknown admin userID 1001/1004).',
  OPR_ERR_OPENIM_PERMISSION: 'The token is not an admin token (errCode 1002 on an admin-only route).',
  OPR_ERR_OPENIM_MISSING_USER: 'A user that was asked about is missing from the answer; the batch is treated as failed, never as offline.',
  OPR_ERR_WEBHOOK_INVALID: 'A webhook request was rejected (malformed JSON, wrong shape, a userID with control characters, an unknown platformID, wrong content type, too large).',
  OPR_ERR_INGEST_OVERLOADED: 'The ingest queue is full; the webhook was answered 503 and nothing was stored.',
  OPR_ERR_INGEST_CLOSED: 'The daemon is shutting down and accepts no more webhooks.',
  OPR_ERR_STORE_VERSION: 'The database was written by a newer version of this daemon (its schema version is unknown).',
  OPR_ERR_STORE_OPEN: 'The database file could not be opened or created.',
  OPR_ERR_STORE_SYNC: 'An fsync of the database failed: nothing more is acknowledged (webhooks get HTTP 500) until the daemon is restarted.',
  OPR_ERR_REDIS_UNAVAILABLE: 'Redis (store.backend redis) could not be reached or did not answer in store.redis.commandTimeoutMs: webhooks are answered 503 and nothing is half-written; replicas reconnect by themselves.',
  OPR_ERR_NOT_LEADER: 'A write reached a replica that does not hold the writer lease; it is refused and nothing is stored (the replica that holds it does the writing).',
  OPR_ERR_LEASE_LOST: 'This replica lost the writer lease (another replica took over, or Redis was unreachable longer than store.redis.leaseTtlMs): it stops, and restarts as a follower.',
  OPR_ERR_REPLICA_DIVERGED: "This replica's local copy no longer matches the shared log in Redis: it is rebuilt from Redis at the next start.",
  OPR_ERR_CURSOR_EXPIRED: 'A stream cursor points before the retention horizon; the client must re-snapshot (HTTP 410).',
  OPR_ERR_BAD_REQUEST: 'An API request had an invalid parameter; the message names it and what is allowed (HTTP 400).',
  OPR_ERR_UNAUTHORIZED: 'An API request lacked a valid bearer token (HTTP 401).',
  OPR_ERR_NOT_FOUND: 'The requested API resource does not exist (HTTP 404).',
  OPR_ERR_TOO_MANY_CONNECTIONS: 'The cap on concurrent stream connections (`api.maxSseConnections`), or on connections to the API with every one busy (`api.maxConnections`), was reached (HTTP 503 with `Retry-After`).',
  OPR_ERR_SIMULATOR: 'The built-in OpenIM simulator was given an invalid option or control command.',
  OPR_ERR_POLL_FAILED: 'A poll cycle failed as a whole: no status batch was answered (each cause is logged); no decisions were made and the next cycles back off.',
  OPR_ERR_INTERNAL: 'An API request failed on an unexpected error (HTTP 500); the error is logged with the request, the client gets no details.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class OprError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details };
  }
}

export interface ConfigIssue {
  /** Dotted key path, e.g. `openim.apiUrl`. */
  path: string;
  /** The offending value, already redacted when the key is a secret. */
  value: unknown;
  /** What was wrong and what is allowed. */
  message: string;
}

export class ConfigError extends OprError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      'OPR_ERR_CONFIG_INVALID',
      `invalid configuration:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
      { issues },
    );
    this.issues = issues;
  }
}

export class ConfigFileError extends OprError {
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('OPR_ERR_CONFIG_FILE', `cannot read ${path}: ${reason}`, { path }, options);
  }
}

/** OpenIM answered HTTP 200 with errCode != 0. */
export class OpenImApiError extends OprError {
  readonly errCode: number;
  readonly errMsg: string;
  readonly route: string;
  constructor(route: string, errCode: number, errMsg: string, code: ErrorCode = 'OPR_ERR_OPENIM_API') {
    super(code, `OpenIM ${route} failed with errCode ${errCode}: ${errMsg || '(no errMsg)'}`, { route, errCode, errMsg });
    this.errCode = errCode;
    this.errMsg = errMsg;
    this.route = route;
  }
}

/** Transport-level failures talking to OpenIM: network, HTTP status, unreadable bodies. */
export class OpenImTransportError extends OprError {
  readonly route: string;
  readonly status: number | undefined;
  constructor(
    code: 'OPR_ERR_OPENIM_NETWORK' | 'OPR_ERR_OPENIM_HTTP' | 'OPR_ERR_OPENIM_RESPONSE' | 'OPR_ERR_OPENIM_URL',
    route: string,
    message: string,
    status?: number,
    options?: { cause?: unknown },
  ) {
    super(code, `OpenIM ${route}: ${message}`, { route, status }, options);
    this.route = route;
    this.status = status;
  }
}

export class MissingUsersError extends OprError {
  readonly missing: string[];
  constructor(route: string, missing: string[]) {
    super(
      'OPR_ERR_OPENIM_MISSING_USER',
      `OpenIM ${route} left out ${missing.length} requested user(s) (e.g. ${JSON.stringify(missing.slice(0, 3))}); the batch is treated as failed`,
      { route, missing: missing.slice(0, 20), missingCount: missing.length },
    );
    this.missing = missing;
  }
}

export class WebhookInvalidError extends OprError {
  readonly reason: string;
  readonly status: number;
  constructor(reason: string, message: string, status = 400) {
    super('OPR_ERR_WEBHOOK_INVALID', message, { reason, status });
    this.reason = reason;
    this.status = status;
  }
}

/** Errors of the /v1 API, carrying their HTTP status. */
export class ApiError extends OprError {
  readonly status: number;
  constructor(
    code: 'OPR_ERR_BAD_REQUEST' | 'OPR_ERR_UNAUTHORIZED' | 'OPR_ERR_NOT_FOUND' | 'OPR_ERR_CURSOR_EXPIRED' | 'OPR_ERR_TOO_MANY_CONNECTIONS',
    status: number,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
    this.status = status;
  }
}

export function isOprError(e: unknown): e is OprError {
  return e instanceof OprError;
}
