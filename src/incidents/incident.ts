/**
 * Incidents: mismatches grouped by kind, likely cause and overlapping time, so operators review a handful of
 * incidents ("gateway crash at 10:02, 412 users corrected offline") instead of thousands of mismatches one by one.
 */
import type { MismatchKind } from '../domain.js';

export const INCIDENT_CAUSES = ['webhook_loss', 'mass_disagreement', 'initial_sync'] as const;
/**
 * webhook_loss: a run of missed_online or missed_offline corrections on one platform (lost webhooks);
 * mass_disagreement: a suspect_poll raised by the mass-disagreement guard and the offline corrections that followed
 * its hold (a crashed gateway), or none (a slow gateway that came back); initial_sync: users online before the first
 * start.
 */
export type IncidentCause = (typeof INCIDENT_CAUSES)[number];

export const INCIDENT_STATUSES = ['open', 'acknowledged', 'closed'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/** Why an incident closed: every key a later poll verified, or older than the retention policy allows open. */
export type IncidentCloseReason = 'verified' | 'expired';

export interface Incident {
  id: number;
  cause: IncidentCause;
  /** The mismatch kind that opened it (suspect_poll for a mass disagreement). */
  kind: MismatchKind;
  /** The platform of a webhook_loss run; null when it spans platforms. */
  platformID: number | null;
  platform: string;
  /** Detection time of its first and latest mismatch. */
  firstAt: number;
  lastAt: number;
  /** Mismatches assigned to it. */
  mismatches: number;
  status: IncidentStatus;
  closedReason: IncidentCloseReason | null;
  closedAt: number | null;
  acknowledgedAt: number | null;
  note: string;
  updatedAt: number;
}

export type NewIncident = Omit<Incident, 'id'>;

/** Mismatches of one incident counted by kind (and distinct users), read when it is shown. */
export interface IncidentKindCount {
  incidentID: number;
  kind: MismatchKind;
  count: number;
  users: number;
}

export interface IncidentFilter {
  statuses?: readonly IncidentStatus[];
  /** Incidents whose latest mismatch is at or after this time. */
  since?: number;
  /** Page: incidents with id < beforeID (newest first). */
  beforeID?: number;
  limit: number;
}
