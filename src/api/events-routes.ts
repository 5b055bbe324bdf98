import type { FastifyInstance } from 'fastify';
import type { EventType, PresenceEvent } from '../domain.js';
import { EVENT_TYPES, eventToJson } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import { ApiError } from '../errors.js';
import type { Store } from '../store/store.js';
import { intParam } from './http-errors.js';

export interface EventsRoutesOptions {
  store: Store;
  bus: EventBus;
  maxPageSize: number;
  maxWaitSeconds: number;
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
export function assertCursorRetained(store: Store, after: number): void {
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

/** Waits until an event after `after` is committed, or `ms` passes. */
export function waitForEvents(bus: EventBus, store: Store, after: number, ms: number): Promise<void> {
  if (ms <= 0 || store.headSeq() > after) return Promise.resolve();
  return new Promise((resolve) => {
    const off = bus.on('events:committed', (evs: PresenceEvent[]) => {
      if (evs.some((e) => e.seq > after)) finish();
    });
    const timer = setTimeout(finish, ms);
    function finish(): void {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
}

/** `GET /v1/events?after=&limit=&wait=&users=&types=` as JSON pages (long poll up to `wait` seconds). */
export function registerEventPageRoute(app: FastifyInstance, opts: EventsRoutesOptions): void {
  app.get('/v1/events', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const after = intParam(q.after, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(q.limit, 'limit', 100, 1, opts.maxPageSize);
    const wait = intParam(q.wait, 'wait', 0, 0, opts.maxWaitSeconds);
    const users = parseListParam(q.users, 'users');
    const types = parseTypes(q.types);
    assertCursorRetained(opts.store, after);
    const filter = { users, types };
    let page = opts.store.scanEvents(after, limit, filter);
    const deadline = Date.now() + wait * 1000;
    while (page.events.length === 0 && Date.now() < deadline && !req.raw.destroyed) {
      await waitForEvents(opts.bus, opts.store, page.scannedTo, deadline - Date.now());
      page = opts.store.scanEvents(page.scannedTo, limit, filter);
    }
    const head = opts.store.headSeq();
    const next = page.scannedTo;
    const events = page.events;
    return reply.send({ events: events.map(eventToJson), next, head });
  });
}
