/**
 * Groups mismatches into incidents as they are recorded, closes incidents whose corrections a later poll verified,
 * and applies the retention policy. Subscribes to `mismatch:recorded`: the engine's transaction is not touched;
 * assignments are batched and written in one transaction after the current tick.
 */
import type { Logger } from 'pino';
import type { Mismatch } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import type { IncidentStore, MismatchStore, Transactions } from '../store/store.js';
import type { Incident } from './incident.js';
import type { ActiveIncident, GroupingOptions } from './incident-grouping.js';
import { closable, groupMismatch, stillActive } from './incident-grouping.js';

/** Read access to when the engine last verified a key (kept in memory between writes). */
export interface KeyVerification {
  key(userID: string, platformID: number): { lastVerifiedAt: number | null; changedAt: number } | undefined;
}

/**
 * The roles the incident service uses: it is the only writer of incidents and of the review status operators give
 * mismatches (docs/architecture.md, writers); it reads the mismatches the engine recorded.
 */
export type IncidentServiceStore = Pick<Transactions, 'transaction'> & IncidentStore & Pick<MismatchStore, 'listMismatches' | 'getMismatch' | 'updateMismatch'>;

export interface IncidentServiceOptions extends GroupingOptions {
  /** Closed incidents are deleted this long after they closed. */
  retentionMs: number;
  /** Mismatches left open or acknowledged this long are resolved as expired, and their incidents closed. */
  openMaxAgeMs: number;
  /** How often quiet incidents are checked for closing (and retention applied, at most hourly). */
  checkEveryMs: number;
}

const DAY_MS = 86_400_000;
/** Ungrouped mismatches grouped at start, at most. */
const RECOVER_LIMIT = 10_000;
const GROUPED_KINDS = ['missed_online', 'missed_offline', 'initial_sync', 'suspect_poll'] as const;

export class IncidentService {
  private readonly active = new Map<number, ActiveIncident>();
  /** Active incidents an operator acknowledged: mismatches that join them are acknowledged too. */
  private readonly acknowledged = new Set<number>();
  /** Incidents left to close once verified: id → when it was last checked. */
  private readonly closing = new Map<number, number>();
  private pending: Mismatch[] = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRetentionAt = 0;
  private readonly off: () => void;
  private closed = false;

  constructor(
    private readonly store: IncidentServiceStore,
    bus: EventBus,
    private readonly keys: KeyVerification,
    private readonly log: Logger,
    private readonly o: IncidentServiceOptions,
    private readonly now: () => number = Date.now,
  ) {
    for (const i of store.listIncidents({ statuses: ['open', 'acknowledged'], limit: 10_000 })) {
      if (i.status === 'acknowledged') this.acknowledged.add(i.id);
      if (stillActive(i, now(), o)) this.active.set(i.id, i);
      else this.closing.set(i.id, 0);
    }
    this.off = bus.on('mismatch:recorded', (m) => this.enqueue(m));
    // Mismatches recorded before a crash (or before this version) whose grouping was never written: grouped now,
    // oldest first, as far back as an incident can reach.
    const missed = store.listMismatches({ incidentID: null, kinds: GROUPED_KINDS, since: now() - o.maxSpanMs, limit: RECOVER_LIMIT });
    for (const m of missed.reverse()) this.pending.push(m);
    this.flush();
  }

  /** Starts the periodic close and retention check. */
  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.checkEveryMs);
    this.timer.unref();
  }

  private enqueue(m: Mismatch): void {
    if (this.closed) return;
    this.pending.push(m);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Assigns the queued mismatches (one transaction). */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.store.transaction(() => {
        const byIncident = new Map<number, number[]>();
        for (const m of batch) {
          const a = groupMismatch(m, [...this.active.values()], this.o);
          if (a === null) continue;
          let id: number;
          if ('join' in a) {
            id = a.join;
            const i = this.active.get(id)!;
            i.lastAt = Math.max(i.lastAt, m.detectedAt);
          } else {
            id = this.store.insertIncident(a.open);
            this.active.set(id, { id, cause: a.open.cause, kind: a.open.kind, platformID: a.open.platformID, firstAt: a.open.firstAt, lastAt: a.open.lastAt });
          }
          const list = byIncident.get(id) ?? [];
          list.push(m.id);
          byIncident.set(id, list);
        }
        const at = this.now();
        for (const [id, ids] of byIncident) {
          this.store.assignMismatches(id, ids, at);
          if (this.acknowledged.has(id)) this.store.setIncidentMismatchStatus(id, ['open'], 'acknowledged', `joined acknowledged incident #${id}`, at);
        }
      });
    } catch (err) {
      this.log.error({ err }, 'grouping mismatches into incidents failed');
    }
  }

  /** Retires incidents that can no longer grow, closes the verified ones, applies retention. */
  tick(): void {
    if (this.closed) return;
    const now = this.now();
    try {
      this.flush();
      for (const [id, i] of this.active) {
        if (!stillActive(i, now, this.o)) {
          this.active.delete(id);
          this.acknowledged.delete(id);
          this.closing.set(id, 0);
        }
      }
      for (const [id, checkedAt] of this.closing) {
        if (now - checkedAt < this.o.checkEveryMs) continue;
        this.closing.set(id, now);
        this.tryClose(id, now);
      }
      if (now - this.lastRetentionAt >= Math.min(3_600_000, this.o.openMaxAgeMs / 10)) {
        this.lastRetentionAt = now;
        this.applyRetention(now);
      }
    } catch (err) {
      this.log.error({ err }, 'incident upkeep failed');
    }
  }

  private tryClose(id: number, now: number): void {
    const inc = this.store.getIncident(id);
    if (!inc || inc.status === 'closed') {
      this.closing.delete(id);
      return;
    }
    // A guard still holding keeps its incident open.
    if (this.store.listMismatches({ incidentID: id, kinds: ['suspect_poll'], statuses: ['open'], limit: 1 }).length > 0) return;
    let unverified = 0;
    for (const k of this.store.incidentKeys(id)) {
      const s = this.keys.key(k.userID, k.platformID);
      // Verified by a later poll, or changed again since (a later webhook or correction knew better).
      if (s !== undefined && (s.lastVerifiedAt ?? 0) <= k.detectedAt && s.changedAt <= k.detectedAt) unverified++;
    }
    if (!closable(inc, now, unverified, this.o)) return;
    this.store.transaction(() => {
      this.store.updateIncident(id, { status: 'closed', closedReason: 'verified', closedAt: now, updatedAt: now });
      this.store.setIncidentMismatchStatus(id, ['open', 'acknowledged'], 'resolved', `incident #${id} closed: a later poll agreed with every correction`, now);
    });
    this.closing.delete(id);
    this.log.info({ incidentID: id }, 'incident closed: every correction verified by a later poll');
  }

  private applyRetention(now: number): void {
    const days = Math.round(this.o.openMaxAgeMs / DAY_MS);
    const expired = this.store.expireUnreviewed(now - this.o.openMaxAgeMs, now, `expired: unreviewed for over ${days} days (store.openMismatchMaxAgeDays)`);
    const pruned = this.store.pruneIncidents(now - this.o.retentionMs);
    if (expired.mismatches + expired.incidents + pruned > 0) this.log.info({ expired, prunedIncidents: pruned }, 'incident retention applied');
  }

  /** Acknowledges an incident and its open mismatches. Returns the incident, or undefined when unknown. */
  acknowledge(id: number, note: string | undefined): Incident | undefined {
    this.flush();
    const inc = this.store.getIncident(id);
    if (!inc) return undefined;
    const now = this.now();
    this.store.transaction(() => {
      if (inc.status === 'open') this.store.updateIncident(id, { status: 'acknowledged', acknowledgedAt: now, updatedAt: now, ...(note === undefined ? {} : { note }) });
      else if (note !== undefined) this.store.updateIncident(id, { note, updatedAt: now });
      this.store.setIncidentMismatchStatus(id, ['open'], 'acknowledged', note === undefined ? `incident #${id} acknowledged` : `incident #${id} acknowledged: ${note}`, now);
    });
    this.acknowledged.add(id);
    return this.store.getIncident(id);
  }

  /**
   * An operator's review of one mismatch: sets its status, notes it in the evidence (and as its note when given).
   * Returns the mismatch as updated, or undefined when unknown.
   */
  reviewMismatch(id: number, status: 'acknowledged' | 'resolved', note: string | undefined): Mismatch | undefined {
    const m = this.store.getMismatch(id);
    if (!m) return undefined;
    const at = this.now();
    this.store.updateMismatch(id, {
      status,
      updatedAt: at,
      evidence: [...m.evidence, { at, what: 'note', detail: note === undefined ? `marked ${status}` : `marked ${status}: ${note}` }],
      ...(note === undefined ? {} : { note }),
    });
    return this.store.getMismatch(id);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.off();
    if (this.timer) clearInterval(this.timer);
  }
}
