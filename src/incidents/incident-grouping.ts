/**
 * Which incident a newly recorded mismatch belongs to. Pure: the caller keeps the active incidents and applies the
 * answer. Rules:
 * - a `suspect_poll` (the mass-disagreement guard) opens a `mass_disagreement` incident of its own;
 * - a `missed_offline` detected when such an incident's hold ends or soon after (the corrections that followed the
 *   hold: a crashed gateway's users) joins it;
 * - otherwise missed_online, missed_offline and initial_sync join the active incident of the same kind, cause and
 *   platform whose latest mismatch is at most `gapMs` older and whose first is at most `maxSpanMs` older (a run of
 *   lost webhooks on one platform), or open one;
 * - `transient` (a race, resolved when recorded) and `late_webhook` (a correction already grouped, made late) are
 *   not grouped again.
 */
import type { Mismatch } from '../domain.js';
import type { IncidentCause, NewIncident } from './incident.js';

export interface GroupingOptions {
  /** A run continues while its mismatches are at most this far apart. */
  gapMs: number;
  /** A run longer than this starts a new incident (so an incident always has an end to review). */
  maxSpanMs: number;
  /** The mass-disagreement guard's hold (`reconcile.massGuardHoldMs`). */
  guardHoldMs: number;
  /** After the hold, how long offline corrections still count as following it. */
  guardFollowMs: number;
}

/** What grouping needs to know of an incident that can still take mismatches. */
export interface ActiveIncident {
  id: number;
  cause: IncidentCause;
  kind: Mismatch['kind'];
  platformID: number | null;
  firstAt: number;
  lastAt: number;
}

export type Assignment = { join: number } | { open: NewIncident } | null;

const GROUPED_KINDS: ReadonlySet<Mismatch['kind']> = new Set(['missed_online', 'missed_offline', 'initial_sync', 'suspect_poll']);

function causeOf(kind: Mismatch['kind']): IncidentCause {
  if (kind === 'suspect_poll') return 'mass_disagreement';
  if (kind === 'initial_sync') return 'initial_sync';
  return 'webhook_loss';
}

/** The incident `m` joins, the one it opens, or null when it is not grouped. */
export function groupMismatch(m: Mismatch, active: readonly ActiveIncident[], o: GroupingOptions): Assignment {
  if (!GROUPED_KINDS.has(m.kind)) return null;
  const at = m.detectedAt;
  if (m.kind === 'missed_offline') {
    // The latest guard incident whose hold (plus the follow-up) covers this correction.
    let guard: ActiveIncident | undefined;
    for (const i of active) {
      if (i.cause !== 'mass_disagreement') continue;
      // While the guard holds no whole-user offline is corrected: an offline correction then is a platform of a user
      // still online elsewhere, an ordinary lost webhook. The hold's end releases the crashed gateway's users.
      const from = i.firstAt + o.guardHoldMs;
      if (at >= from && at <= from + o.guardFollowMs && (guard === undefined || i.firstAt > guard.firstAt)) guard = i;
    }
    if (guard) return { join: guard.id };
  }
  const cause = causeOf(m.kind);
  if (cause !== 'mass_disagreement') {
    let run: ActiveIncident | undefined;
    for (const i of active) {
      if (i.cause !== cause || i.kind !== m.kind || i.platformID !== m.platformID) continue;
      if (at - i.lastAt > o.gapMs || at - i.firstAt > o.maxSpanMs || at < i.firstAt - o.gapMs) continue;
      if (run === undefined || i.lastAt > run.lastAt) run = i;
    }
    if (run) return { join: run.id };
  }
  return {
    open: {
      cause,
      kind: m.kind,
      platformID: cause === 'mass_disagreement' ? null : m.platformID,
      platform: cause === 'mass_disagreement' ? '' : m.platform,
      firstAt: at,
      lastAt: at,
      mismatches: 0,
      status: 'open',
      closedReason: null,
      closedAt: null,
      acknowledgedAt: null,
      note: '',
      updatedAt: at,
    },
  };
}

/** Whether an incident may still take mismatches at `now` (older ones are left to close). */
export function stillActive(i: ActiveIncident, now: number, o: GroupingOptions): boolean {
  if (i.cause === 'mass_disagreement') return now <= i.firstAt + o.guardHoldMs + o.guardFollowMs;
  return now - i.lastAt <= o.gapMs && now - i.firstAt <= o.maxSpanMs;
}

/**
 * Whether an incident can be closed as verified: quiet (no mismatch for `gapMs`, and a guard incident past its
 * hold and follow-up), and every key its corrections changed verified by a later poll (`unverified` is 0).
 */
export function closable(i: ActiveIncident, now: number, unverified: number, o: GroupingOptions): boolean {
  return !stillActive(i, now, o) && now - i.lastAt >= o.gapMs && unverified === 0;
}
