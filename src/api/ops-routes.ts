/**
 * The operator API: mismatches (list, one, acknowledge, resolve), the report and a user's timeline.
 * Times in answers are ISO-8601; time parameters accept ISO, epoch milliseconds or a duration back from now.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { ApiContext } from './api-context.js';
import { intParam } from './http-errors.js';
import type { MismatchPage } from './mismatch-json.js';
import { mismatchToJson } from './mismatch-json.js';
import {
  idParam,
  kindsParam,
  noteBody,
  optionalUserParam,
  platformParam,
  statusesParam,
  timeParam,
  userParam,
} from './ops-params.js';
import { buildReport } from './ops-report.js';
import { buildTimeline } from './ops-timeline.js';

const DAY_MS = 86_400_000;
const DEFAULT_MISMATCH_PAGE = 100;
const DEFAULT_TIMELINE_LIMIT = 500;
const DEFAULT_TOP_USERS = 10;

function notFound(id: number): ApiError {
  return new ApiError('OPR_ERR_NOT_FOUND', 404, `no mismatch with id ${id}`);
}

/** Sets a mismatch's review status through the incident service, its writer, and answers the mismatch. */
function reviewed(ctx: ApiContext, id: number, status: 'acknowledged' | 'resolved', note: string | undefined) {
  const m = ctx.incidents.reviewMismatch(id, status, note);
  if (!m) throw notFound(id);
  return mismatchToJson(m);
}

export function registerOpsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;
  const maxPage = ctx.config.api.maxPageSize;

  app.get('/v1/mismatches', (req): MismatchPage => {
    const q = req.query as Record<string, unknown>;
    const now = ctx.now();
    const kinds = kindsParam(q.kind);
    const statuses = statusesParam(q.status);
    const userID = optionalUserParam(q.user, 'user');
    const platformID = platformParam(q.platform);
    const since = timeParam(q.since, 'since', now, undefined);
    const until = timeParam(q.until, 'until', now, undefined);
    if (since !== undefined && until !== undefined && since > until) {
      throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `since (${new Date(since).toISOString()}) must not be after until (${new Date(until).toISOString()})`);
    }
    const limit = intParam(q.limit, 'limit', Math.min(DEFAULT_MISMATCH_PAGE, maxPage), 1, maxPage);
    const before = q.before === undefined || q.before === '' ? undefined : intParam(q.before, 'before', 0, 1, Number.MAX_SAFE_INTEGER);
    const incident = q.incident === undefined || q.incident === '' ? undefined : intParam(q.incident, 'incident', 0, 1, Number.MAX_SAFE_INTEGER);
    if (incident !== undefined) ctx.incidents.flush();
    // One more than asked tells whether an older page exists.
    const rows = store.listMismatches({
      ...(kinds.length > 0 ? { kinds } : {}),
      ...(statuses.length > 0 ? { statuses } : {}),
      ...(userID !== undefined ? { userID } : {}),
      ...(platformID !== undefined ? { platformID } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(before !== undefined ? { beforeID: before } : {}),
      ...(incident !== undefined ? { incidentID: incident } : {}),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return { mismatches: page.map(mismatchToJson), next: rows.length > limit ? page[page.length - 1]!.id : null };
  });

  app.get<{ Params: { id: string } }>('/v1/mismatches/:id', (req) => {
    const id = idParam(req.params.id, 'id');
    const m = store.getMismatch(id);
    if (!m) throw notFound(id);
    return mismatchToJson(m);
  });

  app.post<{ Params: { id: string } }>('/v1/mismatches/:id/ack', (req) =>
    reviewed(ctx, idParam(req.params.id, 'id'), 'acknowledged', noteBody(req.body)),
  );

  app.post<{ Params: { id: string } }>('/v1/mismatches/:id/resolve', (req) =>
    reviewed(ctx, idParam(req.params.id, 'id'), 'resolved', noteBody(req.body)),
  );

  app.get('/v1/report', (req) => {
    const q = req.query as Record<string, unknown>;
    const now = ctx.now();
    const since = timeParam(q.since, 'since', now, now - DAY_MS) ?? now - DAY_MS;
    const top = intParam(q.top, 'top', DEFAULT_TOP_USERS, 1, 100);
    return buildReport(
      { store, webhookHealth: () => ctx.health.webhookHealth(), healthWindowMinutes: ctx.config.reconcile.healthWindowMinutes },
      since,
      now,
      top,
    );
  });

  app.get<{ Params: { userID: string } }>('/v1/users/:userID/timeline', (req) => {
    const q = req.query as Record<string, unknown>;
    const now = ctx.now();
    const userID = userParam(req.params.userID, 'userID');
    const since = timeParam(q.since, 'since', now, now - DAY_MS) ?? now - DAY_MS;
    const limit = intParam(q.limit, 'limit', Math.min(DEFAULT_TIMELINE_LIMIT, maxPage), 1, maxPage);
    return buildTimeline(store, userID, since, limit);
  });
}
