/**
 * `GET /v1/events`: the event stream for subscribers. One route, two forms chosen by the Accept header:
 * - `Accept: text/event-stream` → Server-Sent Events (see event-stream.ts for the wire format), resuming from
 *   `Last-Event-ID` or `?after=` (without either it starts at the head: new events only);
 * - otherwise JSON pages `{ events, next, head }` with `?after=&limit=&wait=` (long poll up to `wait` seconds).
 * Both take `users=` and `types=` filters (comma-separated) and answer 410 for a cursor older than retention.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EventType, PresenceEvent } from '../domain.js';
import { EVENT_TYPES, eventToJson } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import { ApiError } from '../errors.js';
import type { ApiContext, ApiStore } from './api-context.js';
import type { StreamStart } from './event-stream.js';
import { EventStreamHub, wantsEventStream } from './event-stream.js';
import { intParam } from './http-errors.js';

export interface EventsRoutesOptions {
  store: ApiStore;
  bus: EventBus;
  maxPageSize: number;
  maxWaitSeconds: number;
  /** Serves `Accept: text/event-stream` requests; without it every request gets JSON pages. */
  stream?: EventStreamHub;
  /** Aborted when the server closes: pending long polls answer at once. */
  closing?: AbortSignal;
  /** Redis backend: resolves once this replica's copy holds what the shared log holds now (or after `timeoutMs`). */
  caughtUp?: (timeoutMs: number) => Promise<void>;
}

export function parseListParam(value: unknown, name: string, maxItems = 1000): string[] {
  if (value === undefined || value === '') return [];
  if (typeof value !== 'string') throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `${name} must be a comma-separated list`);
  const items = value.split(',').filter((s) => s.length > 0);
  if (items.length > maxItems) throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `${name} lists at most ${maxItems} items, got ${items.length}`);
  return items;
}

export function parseTypes(value: unknown): EventType[] {
  const types = parseListParam(value, 'types');
  for (const t of types) {
    if (!(EVENT_TYPES as readonly string[]).includes(t)) {
      throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `types: unknown type ${JSON.stringify(t).slice(0, 60)}; allowed: ${EVENT_TYPES.join(', ')}`);
    }
  }
  return types as EventType[];
}

/** Throws 410 when `after` points before what retention kept: the client must re-snapshot. */
export function assertCursorRetained(store: ApiStore, after: number): void {
  const pruned = store.prunedThroughSeq();
  if (after < pruned) {
    throw new ApiError(
      'OPR_ERR_CURSOR_EXPIRED',
      410,
      `events after ${after} were removed by retention (kept from seq ${pruned + 1}); take a snapshot with GET /v1/presence and resume from its seq`,
      { oldestSeq: pruned + 1, snapshot: '/v1/presence' },
    );
  }
}

/** Waits until an event after `after` is committed, `ms` passes or `signal` aborts. */
export function waitForEvents(bus: EventBus, store: ApiStore, after: number, ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || store.headSeq() > after || signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const off = bus.on('events:committed', (evs: PresenceEvent[]) => {
      if (evs.some((e) => e.seq > after)) finish();
    });
    const timer = setTimeout(finish, ms);
    signal?.addEventListener('abort', finish, { once: true });
    function finish(): void {
      clearTimeout(timer);
      off();
      signal?.removeEventListener('abort', finish);
      resolve();
    }
  });
}

/**
 * With the Redis backend, how long a replica waits for its copy to reach the shared log's head when a client resumes
 * from a seq it has not applied yet (the client read it from another replica).
 */
const CATCH_UP_WAIT_MS = 3000;

/**
 * Where an event stream starts: `Last-Event-ID` (what an EventSource sends when it reconnects) wins over `?after=`;
 * with neither, the head (new events only). Throws 400 for a malformed or future cursor and 410 for an expired one.
 * With `caughtUp` (Redis backend), a cursor past this replica's head first waits for its copy to catch up.
 */
export async function streamStart(
  req: FastifyRequest,
  store: ApiStore,
  caughtUp?: (timeoutMs: number) => Promise<void>,
): Promise<StreamStart> {
  const q = req.query as Record<string, unknown>;
  const users = parseListParam(q.users, 'users');
  const types = parseTypes(q.types);
  const header = req.headers['last-event-id'];
  const lastEventID = typeof header === 'string' ? header.trim() : '';
  let requested: number | undefined;
  if (lastEventID !== '') requested = intParam(lastEventID, 'Last-Event-ID', 0, 0, Number.MAX_SAFE_INTEGER);
  else if (q.after !== undefined && q.after !== '') requested = intParam(q.after, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
  if (caughtUp && requested !== undefined && requested > store.headSeq()) await caughtUp(CATCH_UP_WAIT_MS);
  const head = store.headSeq();
  const cursor = requested ?? head;
  if (cursor > head) {
    throw new ApiError(
      'OPR_ERR_BAD_REQUEST',
      400,
      `cursor ${cursor} is ahead of the stream head ${head}: it belongs to another or a reset event log; take a snapshot with GET /v1/presence and resume from its seq`,
      { head },
    );
  }
  assertCursorRetained(store, cursor);
  return { cursor, filter: { users, types } };
}

/** Registers `GET /v1/events` (JSON pages and SSE) with what the API context provides. */
export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const api = ctx.config.api;
  const stream = new EventStreamHub({
    store: ctx.store,
    bus: ctx.bus,
    log: ctx.log.child({ component: 'sse' }),
    heartbeatMs: api.sseHeartbeatSeconds * 1000,
    maxConnections: api.maxSseConnections,
    maxBufferedBytes: api.sseMaxBufferedBytes,
    gauge: ctx.metrics.sseConnections,
    registry: ctx.metrics.registry,
  });
  const closing = new AbortController();
  ctx.onClose(() => {
    closing.abort();
    stream.closeAll();
  });
  registerEventPageRoute(app, {
    store: ctx.store,
    bus: ctx.bus,
    maxPageSize: api.maxPageSize,
    maxWaitSeconds: api.maxWaitSeconds,
    stream,
    closing: closing.signal,
    ...(ctx.cluster ? { caughtUp: (ms: number) => ctx.cluster!.caughtUp(ms) } : {}),
  });
}

/** `GET /v1/events?after=&limit=&wait=&users=&types=` as JSON pages (long poll up to `wait` seconds). */
export function registerEventPageRoute(app: FastifyInstance, opts: EventsRoutesOptions): void {
  app.get('/v1/events', async (req, reply) => {
    if (opts.stream && req.method === 'GET' && wantsEventStream(req.headers.accept)) {
      opts.stream.open(req, reply, await streamStart(req, opts.store, opts.caughtUp));
      return reply;
    }
    const q = req.query as Record<string, unknown>;
    const after = intParam(q.after, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(q.limit, 'limit', 100, 1, opts.maxPageSize);
    const wait = intParam(q.wait, 'wait', 0, 0, opts.maxWaitSeconds);
    const users = parseListParam(q.users, 'users');
    const types = parseTypes(q.types);
    if (opts.caughtUp && after > opts.store.headSeq()) await opts.caughtUp(CATCH_UP_WAIT_MS);
    assertCursorRetained(opts.store, after);
    const filter = { users, types };
    let page = opts.store.scanEvents(after, limit, filter);
    const deadline = Date.now() + wait * 1000;
    while (page.events.length === 0 && Date.now() < deadline && !req.raw.destroyed && opts.closing?.aborted !== true) {
      await waitForEvents(opts.bus, opts.store, page.scannedTo, deadline - Date.now(), opts.closing);
      page = opts.store.scanEvents(page.scannedTo, limit, filter);
    }
    const head = opts.store.headSeq();
    const next = page.scannedTo;
    const events = page.events;
    return reply.send({ events: events.map(eventToJson), next, head });
  });
}
