/**
 * A small client of the daemon's event stream (`GET /v1/events` as Server-Sent Events) for Node.js 20+, built on
 * the global `fetch`; no browser `EventSource` needed.
 *
 * ```ts
 * import { subscribe } from 'openim-presence-reconciler/client';
 * const sub = subscribe({
 *   url: 'http://127.0.0.1:10088',
 *   token: process.env.OPR_TOKEN,
 *   after: savedSeq,                       // omit to start at the head (new events only)
 *   onEvent: (e) => { apply(e); savedSeq = e.seq; },
 *   onError: (err) => { if (err.fatal) console.error(err.message); },
 * });
 * // later: sub.close()
 * ```
 *
 * It reconnects on its own (network errors, a daemon restart, a cut for reading too slowly, silence longer than
 * 2.5 heartbeat periods) with exponential backoff and jitter, resuming after the last event it delivered
 * (`Last-Event-ID` and `?after=`), so `onEvent` sees every event once, in `seq` order. An event whose `onEvent`
 * throws is not counted: the client reconnects and delivers it again. It stops, calling `onError` with
 * `fatal: true`, when resuming is impossible: 410 (the cursor is older than retention: take a snapshot with
 * `GET /v1/presence` and subscribe after its `seq`), 401 (token), 400 (bad filter or cursor), 404 (not the daemon).
 */
import type { EventType, PresenceEventJson } from '../domain.js';
import { backoffDelay } from '../util/backoff.js';
import { SseParser } from './sse-parser.js';

export interface Heartbeat {
  /** The last seq committed by the daemon. */
  head: number;
  /** Every matching event up to this seq has been delivered on this connection. */
  cursor: number;
}

export interface SubscribeOptions {
  /** The daemon's API base URL (`http://127.0.0.1:10088`), or the full `…/v1/events` URL. */
  url: string;
  /** Bearer token (api.tokens), sent in the Authorization header. */
  token?: string;
  /** Deliver events with seq greater than this. Omitted: start at the head (only events committed from now on). */
  after?: number;
  /** Only events of these userIDs. */
  users?: readonly string[];
  /** Only these event types. */
  types?: readonly EventType[];
  onEvent: (event: PresenceEventJson) => void;
  onHeartbeat?: (heartbeat: Heartbeat) => void;
  /** Disconnects (`fatal: false`, the client retries) and the reason it stopped (`fatal: true`). */
  onError?: (error: SubscribeError) => void;
  /** Each time a stream is established, with the cursor it resumed from (undefined: from the head). */
  onOpen?: (info: { after: number | undefined }) => void;
  /** First reconnection delay in ms (doubles per failure, with jitter). Default: the server's `retry:`, else 1000. */
  initialRetryMs?: number;
  /** Longest reconnection delay in ms. Default 30 000. */
  maxRetryMs?: number;
  /** The fetch implementation. Default: global fetch. */
  fetch?: typeof fetch;
}

export interface Subscription {
  /** Stops the subscription; no callback is called afterwards. Safe to call twice. */
  close(): void;
  /**
   * The position to resume from: the seq of the last delivered event, or a heartbeat's cursor when that is later
   * (a filtered stream). Before anything arrived: `after`, or 0 when started at the head.
   */
  lastSeq(): number;
}

export type SubscribeErrorKind = 'network' | 'http' | 'expired' | 'unauthorized' | 'rejected' | 'protocol' | 'handler';

export class SubscribeError extends Error {
  readonly kind: SubscribeErrorKind;
  /** True when the subscription stopped because of this error. */
  readonly fatal: boolean;
  /** The HTTP status, when the daemon answered. */
  readonly status: number | undefined;
  /** The daemon's error code (`OPR_ERR_…`), when it sent one. */
  readonly code: string | undefined;
  /** For 410: the oldest seq the daemon still has. */
  readonly oldestSeq: number | undefined;
  /** When the client will try again (non-fatal errors). */
  readonly retryInMs: number | undefined;

  constructor(
    kind: SubscribeErrorKind,
    message: string,
    details: { fatal: boolean; status?: number; code?: string; oldestSeq?: number; retryInMs?: number; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SubscribeError';
    this.kind = kind;
    this.fatal = details.fatal;
    this.status = details.status;
    this.code = details.code;
    this.oldestSeq = details.oldestSeq;
    this.retryInMs = details.retryInMs;
  }

  withRetry(retryInMs: number): SubscribeError {
    return new SubscribeError(this.kind, `${this.message}; reconnecting in ${formatDelay(retryInMs)}`, {
      fatal: false,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.code === undefined ? {} : { code: this.code }),
      retryInMs,
      cause: this.cause,
    });
  }
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The `/v1/events` URL for a base URL or an events URL. */
export function eventsUrl(url: string): URL {
  const u = new URL(url);
  if (!/\/v1\/events\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/events`;
  return u;
}

function networkReason(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; oldestSeq?: unknown };
}

async function refusal(res: Response, base: string): Promise<SubscribeError> {
  let body: ErrorBody | undefined;
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    body = undefined;
  }
  const code = typeof body?.error?.code === 'string' ? body.error.code : undefined;
  const serverMessage = typeof body?.error?.message === 'string' ? body.error.message : undefined;
  const oldestSeq = typeof body?.error?.oldestSeq === 'number' ? body.error.oldestSeq : undefined;
  const info = { status: res.status, ...(code === undefined ? {} : { code }) };
  if (res.status === 410) {
    return new SubscribeError(
      'expired',
      `the stream cannot resume: ${serverMessage ?? 'the cursor is older than the retention'} (HTTP 410)`,
      { fatal: true, ...info, ...(oldestSeq === undefined ? {} : { oldestSeq }) },
    );
  }
  if (res.status === 401 || res.status === 403) {
    return new SubscribeError('unauthorized', `the daemon at ${base} refused the request (HTTP ${res.status}): pass a valid API token (api.tokens)`, {
      fatal: true,
      ...info,
    });
  }
  if (res.status === 400 || res.status === 404) {
    return new SubscribeError(
      'rejected',
      res.status === 404 ? `${base} has no /v1/events (HTTP 404): is it the daemon's API address?` : `the daemon rejected the subscription: ${serverMessage ?? 'bad request'} (HTTP 400)`,
      { fatal: true, ...info },
    );
  }
  return new SubscribeError('http', `the daemon answered HTTP ${res.status}${serverMessage === undefined ? '' : `: ${serverMessage}`}`, { fatal: false, ...info });
}

/** Follows the daemon's event stream; see the module comment. */
export function subscribe(options: SubscribeOptions): Subscription {
  const fetchImpl = options.fetch ?? fetch;
  const target = eventsUrl(options.url);
  const base = target.origin;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  let serverRetryMs: number | undefined;
  let cursor: number | undefined = options.after;
  let closed = false;
  let current: AbortController | undefined;
  let wakeSleep: (() => void) | undefined;

  const report = (err: SubscribeError): void => {
    if (closed) return;
    try {
      options.onError?.(err);
    } catch {
      // The error callback's own failures are not the stream's business.
    }
  };

  const requestUrl = (): string => {
    const u = new URL(target);
    if (cursor !== undefined) u.searchParams.set('after', String(cursor));
    if (options.users && options.users.length > 0) u.searchParams.set('users', options.users.join(','));
    if (options.types && options.types.length > 0) u.searchParams.set('types', options.types.join(','));
    return u.toString();
  };

  /** Reads one connection until it ends; sets `conn.received` once data arrived (the connection was healthy). */
  async function readStream(res: Response, ctrl: AbortController, conn: { received: boolean }): Promise<void> {
    const body = res.body;
    if (!body) throw new SubscribeError('protocol', 'the daemon sent an empty stream', { fatal: false });
    let idleMs = 60_000;
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => ctrl.abort(new SubscribeError('network', `no data for ${formatDelay(idleMs)} (heartbeats stopped)`, { fatal: false })), idleMs);
    };
    const parser = new SseParser(
      (m) => {
        if (m.event === 'heartbeat') {
          const hb = JSON.parse(m.data) as { head?: unknown; cursor?: unknown; intervalSeconds?: unknown };
          if (typeof hb.intervalSeconds === 'number' && hb.intervalSeconds > 0) idleMs = Math.ceil(hb.intervalSeconds * 2500) + 5000;
          const head = typeof hb.head === 'number' ? hb.head : 0;
          const hbCursor = typeof hb.cursor === 'number' ? hb.cursor : Number(m.id ?? NaN);
          if (Number.isSafeInteger(hbCursor) && (cursor === undefined || hbCursor > cursor)) cursor = hbCursor;
          if (!closed) options.onHeartbeat?.({ head, cursor: cursor ?? hbCursor });
          return;
        }
        if (m.event !== 'message') return;
        const event = JSON.parse(m.data) as PresenceEventJson;
        if (typeof event.seq !== 'number') throw new SubscribeError('protocol', 'an event without a seq', { fatal: false });
        if (cursor !== undefined && event.seq <= cursor) return;
        if (closed) return;
        try {
          options.onEvent(event);
        } catch (err) {
          throw new SubscribeError('handler', `onEvent failed for event #${event.seq}: ${err instanceof Error ? err.message : String(err)}`, {
            fatal: false,
            cause: err,
          });
        }
        cursor = event.seq;
      },
      (ms) => (serverRetryMs = ms),
    );
    const decoder = new TextDecoder('utf-8');
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    armIdle();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        armIdle();
        conn.received = true;
        parser.push(decoder.decode(value, { stream: true }));
        if (closed) break;
      }
    } finally {
      clearTimeout(idleTimer);
      reader.releaseLock();
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!closed) {
      const ctrl = new AbortController();
      current = ctrl;
      let failure: SubscribeError;
      const conn = { received: false };
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
        if (options.token !== undefined && options.token !== '') headers.authorization = `Bearer ${options.token}`;
        if (cursor !== undefined) headers['last-event-id'] = String(cursor);
        const res = await fetchImpl(requestUrl(), { headers, signal: ctrl.signal });
        const type = res.headers.get('content-type') ?? '';
        if (res.status !== 200 || !type.toLowerCase().startsWith('text/event-stream')) {
          const err =
            res.status === 200
              ? new SubscribeError('rejected', `${base} answered with ${type || 'no content type'}, not an event stream: is it the daemon's API address?`, {
                  fatal: true,
                  status: 200,
                })
              : await refusal(res, base);
          if (err.fatal) {
            report(err);
            closed = true;
            return;
          }
          failure = err;
        } else {
          if (!closed) options.onOpen?.({ after: cursor });
          await readStream(res, ctrl, conn);
          failure = new SubscribeError('network', 'the stream ended', { fatal: false });
        }
      } catch (err) {
        if (closed) return;
        const reason: unknown = ctrl.signal.aborted ? ctrl.signal.reason : err;
        failure =
          reason instanceof SubscribeError
            ? reason
            : new SubscribeError('network', `disconnected from ${base}: ${networkReason(reason)}`, { fatal: false, cause: reason });
      } finally {
        ctrl.abort();
      }
      if (closed) return;
      failures = conn.received ? 1 : failures + 1;
      const baseDelay = options.initialRetryMs ?? serverRetryMs ?? 1000;
      const delay = backoffDelay(failures, baseDelay, maxRetryMs);
      report(failure.withRetry(delay));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wakeSleep = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeSleep = undefined;
    }
  }

  void run().catch((err: unknown) => {
    report(new SubscribeError('protocol', `the subscription stopped: ${err instanceof Error ? err.message : String(err)}`, { fatal: true, cause: err }));
    closed = true;
  });

  return {
    close() {
      if (closed) return;
      closed = true;
      current?.abort();
      wakeSleep?.();
    },
    lastSeq() {
      return cursor ?? 0;
    },
  };
}
