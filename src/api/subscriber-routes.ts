/**
 * Operator endpoints of push delivery (the `subscribers` CLI talks to these):
 * - `GET /v1/subscribers` → `{ head, subscribers: [...] }`
 * - `GET /v1/subscribers/:name` → one subscriber
 * - `POST /v1/subscribers/:name/retry` → leaves the dead-letter state (or a backoff) and tries the pending batch now
 * - `POST /v1/subscribers/:name/replay` with `{"fromSeq": N}` → delivers again every event from seq N on (0 or 1:
 *   everything retained); 410 when retention removed events after N−1, 400 beyond the head.
 * Times are ISO-8601 (null when unset).
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { SubscriberState, SubscriberStatus } from '../push/push-dispatcher.js';
import type { ApiContext } from './api-context.js';
import { assertCursorRetained } from './events-routes.js';

export interface SubscriberJson extends Omit<SubscriberStatus, 'nextAttemptAt' | 'lastDeliveredAt' | 'state'> {
  state: SubscriberState;
  nextAttemptAt: string | null;
  lastDeliveredAt: string | null;
}

export interface SubscriberList {
  head: number;
  subscribers: SubscriberJson[];
}

const isoOrNull = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

export function subscriberToJson(s: SubscriberStatus): SubscriberJson {
  return { ...s, nextAttemptAt: isoOrNull(s.nextAttemptAt), lastDeliveredAt: isoOrNull(s.lastDeliveredAt) };
}

function unknown(name: string): ApiError {
  return new ApiError('OPR_ERR_NOT_FOUND', 404, `no push subscriber named ${JSON.stringify(name).slice(0, 80)} (see GET /v1/subscribers)`);
}

function fromSeqBody(body: unknown): number {
  const value = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).fromSeq : undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `the body must be a JSON object such as {"fromSeq": 1200} with an integer fromSeq >= 0, got ${JSON.stringify(body)?.slice(0, 60) ?? 'nothing'}`);
  }
  return value;
}

export function registerSubscriberRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;

  app.get('/v1/subscribers', (): SubscriberList => ({
    head: store.headSeq(),
    subscribers: (ctx.push?.list() ?? []).map(subscriberToJson),
  }));

  app.get<{ Params: { name: string } }>('/v1/subscribers/:name', (req): SubscriberJson => {
    const s = ctx.push?.get(req.params.name);
    if (!s) throw unknown(req.params.name);
    return subscriberToJson(s);
  });

  app.post<{ Params: { name: string } }>('/v1/subscribers/:name/retry', (req): SubscriberJson => {
    const s = ctx.push?.retry(req.params.name);
    if (!s) throw unknown(req.params.name);
    return subscriberToJson(s);
  });

  app.post<{ Params: { name: string } }>('/v1/subscribers/:name/replay', (req): SubscriberJson => {
    const name = req.params.name;
    if (!ctx.push?.get(name)) throw unknown(name);
    const fromSeq = fromSeqBody(req.body);
    const cursor = Math.max(0, fromSeq - 1);
    const head = store.headSeq();
    if (cursor > head) {
      throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `fromSeq ${fromSeq} is beyond the stream head ${head}; replay from ${head + 1} or less`, { head });
    }
    assertCursorRetained(store, cursor);
    const s = ctx.push.replay(name, fromSeq);
    if (!s) throw unknown(name);
    return subscriberToJson(s);
  });
}
