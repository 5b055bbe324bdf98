/** Incidents as the operator API serves them: ISO-8601 times, counts by kind, and a one-line title. */
import type { MismatchKind } from '../domain.js';
import type { Incident, IncidentCause, IncidentCloseReason, IncidentKindCount, IncidentStatus } from './incident.js';

export interface IncidentJson {
  id: number;
  cause: IncidentCause;
  kind: MismatchKind;
  status: IncidentStatus;
  title: string;
  platformID: number | null;
  platform: string;
  firstAt: string;
  lastAt: string;
  /** Mismatches in it, and of them by kind (with distinct users). */
  mismatches: number;
  users: number;
  byKind: { kind: MismatchKind; count: number; users: number }[];
  closedReason: IncidentCloseReason | null;
  closedAt: string | null;
  acknowledgedAt: string | null;
  note: string;
  updatedAt: string;
}

const iso = (t: number): string => new Date(t).toISOString();
const isoOrNull = (t: number | null): string | null => (t === null ? null : iso(t));
/** HH:MM UTC, as the titles say it. */
const clock = (t: number): string => `${iso(t).slice(11, 16)} UTC`;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** "gateway crash or slow gateway at 10:02 UTC: 412 users corrected offline after the guard's hold". */
export function incidentTitle(i: Incident, counts: readonly IncidentKindCount[]): string {
  const of = (k: MismatchKind): IncidentKindCount | undefined => counts.find((c) => c.kind === k);
  const span = i.lastAt - i.firstAt >= 60_000 ? `${clock(i.firstAt)}–${clock(i.lastAt).slice(0, 5)}` : clock(i.firstAt);
  const offline = (of('missed_offline')?.users ?? 0) + (of('late_webhook')?.users ?? 0);
  switch (i.cause) {
    case 'mass_disagreement':
      return offline > 0
        ? `gateway crash at ${clock(i.firstAt)}: the guard held, then ${plural(offline, 'user')} corrected offline`
        : `mass disagreement at ${clock(i.firstAt)}: guard raised, nothing corrected yet (still holding, or a slow gateway that came back)`;
    case 'initial_sync':
      return `first-start sync ${span}: ${plural(of('initial_sync')?.users ?? 0, 'user')} already online`;
    case 'webhook_loss': {
      const corrected = i.kind === 'missed_online' ? 'online' : 'offline';
      const late = of('late_webhook')?.count ?? 0;
      const users = counts.reduce((n, c) => n + c.users, 0);
      return (
        `lost ${corrected} webhooks on ${i.platform || `platform ${i.platformID ?? '?'}`} ${span}: ${plural(users, 'user')} corrected ${corrected}` +
        (late > 0 ? ` (${late} webhook${late === 1 ? '' : 's'} came late)` : '')
      );
    }
  }
}

export function incidentToJson(i: Incident, counts: readonly IncidentKindCount[]): IncidentJson {
  const mine = counts.filter((c) => c.incidentID === i.id);
  return {
    id: i.id,
    cause: i.cause,
    kind: i.kind,
    status: i.status,
    title: incidentTitle(i, mine),
    platformID: i.platformID,
    platform: i.platform,
    firstAt: iso(i.firstAt),
    lastAt: iso(i.lastAt),
    mismatches: i.mismatches,
    users: mine.reduce((n, c) => n + c.users, 0),
    byKind: mine.map((c) => ({ kind: c.kind, count: c.count, users: c.users })),
    closedReason: i.closedReason,
    closedAt: isoOrNull(i.closedAt),
    acknowledgedAt: isoOrNull(i.acknowledgedAt),
    note: i.note,
    updatedAt: iso(i.updatedAt),
  };
}
