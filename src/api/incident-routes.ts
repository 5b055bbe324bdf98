/**
 * Incidents: GET /v1/incidents (newest first), GET /v1/incidents/:id (with its latest mismatches),
 * POST /v1/incidents/:id/ack. The mismatches of one incident page through GET /v1/mismatches?incident=<id>.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { Incident, IncidentStatus } from '../incidents/incident.js';
import { INCIDENT_STATUSES } from '../incidents/incident.js';
import type { IncidentJson } from '../incidents/incident-json.js';
import { incidentToJson } from '../incidents/incident-json.js';
import type { ApiContext, ApiStore } from './api-context.js';
import { parseListParam } from './events-routes.js';
import { intParam } from './http-errors.js';
import { mismatchToJson } from './mismatch-json.js';
import { idParam, noteBody, timeParam } from './ops-params.js';

const DEFAULT_PAGE = 50;
/** Mismatches shown with one incident; the rest page through /v1/mismatches?incident=. */
const SHOWN_MISMATCHES = 20;

export interface IncidentPage {
  incidents: IncidentJson[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  next: number | null;
  /** Every retained incident, counted by status. */
  counts: Record<IncidentStatus, number>;
}

export function incidentStatusesParam(value: unknown): IncidentStatus[] {
  const items = parseListParam(value, 'status', INCIDENT_STATUSES.length * 4);
  for (const item of items) {
    if (!(INCIDENT_STATUSES as readonly string[]).includes(item)) {
      throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `status: unknown value ${JSON.stringify(item).slice(0, 60)}; allowed (comma-separated): ${INCIDENT_STATUSES.join(', ')}`);
    }
  }
  return [...new Set(items)] as IncidentStatus[];
}

/** The incidents as JSON, with their counts by kind read in one query. */
export function incidentsToJson(store: ApiStore, list: readonly Incident[]): IncidentJson[] {
  const counts = store.incidentKindCounts(list.map((i) => i.id));
  return list.map((i) => incidentToJson(i, counts));
}

export function incidentCounts(store: ApiStore): Record<IncidentStatus, number> {
  const counts: Record<IncidentStatus, number> = { open: 0, acknowledged: 0, closed: 0 };
  for (const c of store.incidentStatusCounts()) counts[c.status] = c.count;
  return counts;
}

function notFound(id: number): ApiError {
  return new ApiError('OPR_ERR_NOT_FOUND', 404, `no incident with id ${id}`);
}

export function registerIncidentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;
  const maxPage = ctx.config.api.maxPageSize;

  app.get('/v1/incidents', (req): IncidentPage => {
    const q = req.query as Record<string, unknown>;
    ctx.incidents.flush();
    const statuses = incidentStatusesParam(q.status);
    const since = timeParam(q.since, 'since', ctx.now(), undefined);
    const limit = intParam(q.limit, 'limit', Math.min(DEFAULT_PAGE, maxPage), 1, maxPage);
    const before = q.before === undefined || q.before === '' ? undefined : intParam(q.before, 'before', 0, 1, Number.MAX_SAFE_INTEGER);
    const rows = store.listIncidents({
      ...(statuses.length > 0 ? { statuses } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(before !== undefined ? { beforeID: before } : {}),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return { incidents: incidentsToJson(store, page), next: rows.length > limit ? page[page.length - 1]!.id : null, counts: incidentCounts(store) };
  });

  app.get<{ Params: { id: string } }>('/v1/incidents/:id', (req) => {
    const id = idParam(req.params.id, 'id');
    ctx.incidents.flush();
    const inc = store.getIncident(id);
    if (!inc) throw notFound(id);
    const mismatches = store.listMismatches({ incidentID: id, limit: SHOWN_MISMATCHES });
    return { ...incidentsToJson(store, [inc])[0]!, latestMismatches: mismatches.map(mismatchToJson) };
  });

  app.post<{ Params: { id: string } }>('/v1/incidents/:id/ack', (req) => {
    const id = idParam(req.params.id, 'id');
    const inc = ctx.incidents.acknowledge(id, noteBody(req.body));
    if (!inc) throw notFound(id);
    return incidentsToJson(store, [inc])[0]!;
  });
}
