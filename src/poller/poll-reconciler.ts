import type { Logger } from 'pino';
import type { EvidenceItem, KeyState } from '../domain.js';
import { keyOf } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import type { Correction, PresenceEngine } from '../engine/presence-engine.js';
import type { OpenImApi, UserOnlineStatus } from '../openim/types.js';
import { platformName } from '../openim/platforms.js';
import type { OpenDisagreement, ReconcileOptions } from '../reconciler/reconciler.js';
import { isMassDisagreement, judgeConfirm, judgePoll } from '../reconciler/reconciler.js';
import type { Store } from '../store/store.js';
import { startedPollRun } from './poll-run.js';

export interface PollReconcilerOptions extends ReconcileOptions {
  confirmDelayMs: number;
  massGuardShare: number;
  massGuardMinUsers: number;
  massGuardHoldMs: number;
  mode: 'active' | 'shadow';
}

export interface CycleStats {
  usersPolled: number;
  requests: number;
  errors: number;
  disagreements: number;
  confirmations: number;
  corrections: number;
  transients: number;
  guarded: number;
}

interface Open {
  userID: string;
  platformID: number;
  d: OpenDisagreement;
  evidence: EvidenceItem[];
}

export interface GuardState {
  since: number;
  mismatchID: number;
  readOffline: number;
  believedOnline: number;
}

function describe(s: UserOnlineStatus): string {
  if (!s.online) return 'offline';
  return 'online on ' + s.platforms.map((p) => `${platformName(p.platformID) || p.platformID}×${p.connections}`).join(', ');
}

function platformsRecord(s: UserOnlineStatus): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of s.platforms) out[String(p.platformID)] = p.connections;
  return out;
}

/**
 * Applies poll answers to the presence state (design §3 rules 3, 4, 6, 7): agreeing polls verify keys,
 * disagreements are confirmed by a targeted re-poll after the confirm delay, and only confirmed disagreements with
 * no webhook in between become corrections. A mass disagreement (a slow gateway read as offline) is held.
 */
export class PollReconciler {
  private readonly open = new Map<string, Open>();
  /** Shadow mode: keys already reported, so one missed change is recorded once. */
  private readonly shadowNoted = new Map<string, boolean>();
  private guardState: GuardState | null = null;
  private readonly confirmTimers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly engine: PresenceEngine,
    private readonly store: Store,
    private readonly api: OpenImApi,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly opts: PollReconcilerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get guard(): GuardState | null {
    return this.guardState;
  }

  openDisagreements(): number {
    return this.open.size;
  }

  /** Polls `userIDs` once and applies the answer. Confirm polls are scheduled, not awaited. */
  async pollCycle(userIDs: readonly string[], runID: number): Promise<CycleStats> {
    const pollAt = this.now();
    const result = await this.api.getUsersOnlineStatus(userIDs);
    const stats: CycleStats = {
      usersPolled: result.statuses.length,
      requests: result.requests,
      errors: result.failed.length,
      disagreements: 0,
      confirmations: 0,
      corrections: 0,
      transients: 0,
      guarded: 0,
    };
    if (this.closed) return stats;
    const { confirmUsers, ambiguous } = this.applyCycle(result.statuses, pollAt, runID, stats);
    if (confirmUsers.length > 0) this.scheduleConfirm(confirmUsers);
    if (ambiguous.length > 0) await this.decideAmbiguous(ambiguous);
    return stats;
  }

  /**
   * Ambiguous held offlines of users the live view shows online on other platforms: that view may hold another
   * gateway's connections only, so OpenIM's Redis view (per platform, across gateways) decides. Unreadable: wait.
   */
  private async decideAmbiguous(keys: { userID: string; platformID: number }[]): Promise<void> {
    let redis;
    try {
      redis = await this.api.getUsersStatus([...new Set(keys.map((k) => k.userID))]);
    } catch (err) {
      this.log.debug({ err }, 'Redis status view unavailable: ambiguous offlines wait');
      return;
    }
    if (this.closed) return;
    const byUser = new Map(redis.map((r) => [r.userID, new Set(r.platformIDs)]));
    const apply: { userID: string; platformID: number }[] = [];
    const cancel: KeyState[] = [];
    for (const k of keys) {
      const platforms = byUser.get(k.userID);
      const cur = this.engine.key(k.userID, k.platformID);
      if (platforms === undefined || cur?.pendingOffline?.ambiguous !== true) continue;
      if (platforms.has(k.platformID)) cancel.push({ ...cur, pendingOffline: null });
      else apply.push(k);
    }
    this.engine.saveKeyStates(cancel);
    this.engine.applyHeldOfflines(apply);
  }

  private noOfflineToMatch(userID: string, pollAt: number): boolean {
    for (const k of this.engine.keysOfUser(userID)) {
      if (k.pendingOffline !== null) return false;
      if (k.lastWebhookAt !== null && k.lastWebhookAt >= pollAt - this.opts.graceMs) return false;
    }
    return true;
  }

  private applyCycle(
    statuses: readonly UserOnlineStatus[],
    pollAt: number,
    runID: number,
    stats: CycleStats,
  ): { confirmUsers: string[]; ambiguous: { userID: string; platformID: number }[] } {
    // Rule 6: the mass-disagreement guard.
    let believedOnline = 0;
    const suspects = new Set<string>();
    for (const s of statuses) {
      if (!this.engine.isUserOnline(s.userID)) continue;
      believedOnline++;
      if (!s.online && this.noOfflineToMatch(s.userID, pollAt)) suspects.add(s.userID);
    }
    const mass = isMassDisagreement(believedOnline, suspects.size, { share: this.opts.massGuardShare, minUsers: this.opts.massGuardMinUsers });
    let hold = false;
    if (mass) {
      if (this.guardState === null) this.raiseGuard(pollAt, suspects, believedOnline, runID);
      hold = pollAt - this.guardState!.since < this.opts.massGuardHoldMs;
      if (!hold) this.log.warn({ readOffline: suspects.size, since: this.guardState!.since }, 'mass disagreement persisted past the hold: correcting');
    } else if (this.guardState !== null) {
      this.clearGuard(pollAt);
    }

    const verified: KeyState[] = [];
    const changed: KeyState[] = [];
    const confirmedOfflines: { userID: string; platformID: number }[] = [];
    const ambiguous: { userID: string; platformID: number }[] = [];
    const confirmUsers = new Set<string>();
    for (const s of statuses) {
      if (hold && suspects.has(s.userID)) {
        stats.guarded++;
        continue;
      }
      // Read offline and never seen: nothing to judge (most users of a large sweep); skip the allocations below.
      const known = this.engine.keysOfUser(s.userID);
      if (s.platforms.length === 0 && known.length === 0) continue;
      const observed = new Set(s.platforms.map((p) => p.platformID));
      const platformIDs = new Set<number>(observed);
      for (const k of known) platformIDs.add(k.platformID);
      for (const platformID of platformIDs) {
        const id = keyOf(s.userID, platformID);
        const prev = this.engine.key(s.userID, platformID);
        const observedOnline = observed.has(platformID);
        const v = judgePoll(prev, observedOnline, pollAt, this.opts, s.online);
        switch (v.verdict) {
          case 'agree':
            verified.push(v.state);
            this.shadowNoted.delete(id);
            if (this.open.has(id)) {
              this.closeTransient(this.open.get(id)!, pollAt, 'a later poll agreed');
              this.open.delete(id);
              stats.transients++;
            }
            break;
          case 'cancel-held-offline':
            changed.push(v.state);
            break;
          case 'apply-held-offline':
            confirmedOfflines.push({ userID: s.userID, platformID });
            break;
          case 'disagree': {
            if (this.shadowNoted.get(id) === v.observedOnline) break;
            stats.disagreements++;
            if (!this.open.has(id)) {
              this.open.set(id, {
                userID: s.userID,
                platformID,
                d: { observedOnline: v.observedOnline, firstSeenAt: pollAt, lastAgreeAt: v.lastAgreeAt },
                evidence: [
                  { at: pollAt, what: 'poll', ref: runID, detail: `live status read ${describe(s)}; the stream said ${prev?.online ? 'online' : 'offline'}` },
                ],
              });
              this.store.insertPollObservation({ userID: s.userID, at: pollAt, runID, platforms: platformsRecord(s), purpose: 'disagreement' });
            }
            confirmUsers.add(s.userID);
            break;
          }
          case 'race':
            if (prev?.pendingOffline?.ambiguous === true && !observedOnline && pollAt > prev.pendingOffline.receivedAt) {
              ambiguous.push({ userID: s.userID, platformID });
            }
            break;
          case 'none':
            break;
        }
      }
    }
    this.engine.markVerified(verified);
    this.engine.saveKeyStates(changed);
    this.engine.applyHeldOfflines(confirmedOfflines);
    return { confirmUsers: [...confirmUsers], ambiguous };
  }

  private raiseGuard(pollAt: number, suspects: Set<string>, believedOnline: number, runID: number): void {
    const sample = [...suspects].slice(0, 10);
    const mismatchID = this.engine.recordMismatch({
      kind: 'suspect_poll',
      userID: sample[0] ?? '',
      platformID: null,
      platform: '',
      detectedAt: pollAt,
      occurredAfter: null,
      occurredBefore: pollAt,
      eventSeq: null,
      lateByMs: null,
      lateAt: null,
      status: 'open',
      shadow: this.opts.mode === 'shadow',
      evidence: [
        {
          at: pollAt,
          what: 'poll',
          ref: runID,
          detail: `${suspects.size} of ${believedOnline} believed-online users read offline with no offline webhooks (e.g. ${sample.join(', ')})`,
        },
      ],
      note: `mass disagreement: ${suspects.size} of ${believedOnline} believed-online users read offline at once; likely a slow or failed gateway whose error OpenIM swallowed. Nothing is corrected unless it persists for ${Math.round(this.opts.massGuardHoldMs / 1000)} s.`,
      updatedAt: pollAt,
    });
    this.guardState = { since: pollAt, mismatchID, readOffline: suspects.size, believedOnline };
    this.bus.emit('guard:raised', { readOffline: suspects.size, believedOnline });
    this.log.warn({ readOffline: suspects.size, believedOnline, mismatchID }, 'mass disagreement: holding corrections');
  }

  private clearGuard(at: number): void {
    const g = this.guardState!;
    this.guardState = null;
    const m = this.store.getMismatch(g.mismatchID);
    if (m) {
      this.store.updateMismatch(g.mismatchID, {
        status: 'resolved',
        updatedAt: at,
        evidence: [...m.evidence, { at, what: 'note', detail: `the disagreement cleared after ${Math.round((at - g.since) / 1000)} s` }],
      });
    }
    this.log.info({ mismatchID: g.mismatchID }, 'mass disagreement cleared');
  }

  private closeTransient(o: Open, at: number, why: string): void {
    this.engine.recordMismatch({
      kind: 'transient',
      userID: o.userID,
      platformID: o.platformID,
      platform: platformName(o.platformID),
      detectedAt: at,
      occurredAfter: o.d.lastAgreeAt,
      occurredBefore: o.d.firstSeenAt,
      eventSeq: null,
      lateByMs: null,
      lateAt: null,
      status: 'resolved',
      shadow: this.opts.mode === 'shadow',
      evidence: [...o.evidence, { at, what: 'note', detail: why }],
      note: `a poll disagreed, then ${why}: a race, nothing corrected`,
      updatedAt: at,
    });
  }

  private scheduleConfirm(userIDs: string[]): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.confirmTimers.delete(timer);
      const p = this.confirm(userIDs).catch((err: unknown) => this.log.error({ err }, 'confirm poll failed'));
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
    }, this.opts.confirmDelayMs);
    this.confirmTimers.add(timer);
  }

  /** Rule 4: the targeted re-poll. Returns the number of corrections published. */
  async confirm(userIDs: readonly string[]): Promise<CycleStats> {
    const startedAt = this.now();
    const runID = this.store.insertPollRun(startedPollRun('confirm', startedAt));
    const stats: CycleStats = { usersPolled: 0, requests: 0, errors: 0, disagreements: 0, confirmations: 0, corrections: 0, transients: 0, guarded: 0 };
    let result;
    try {
      result = await this.api.getUsersOnlineStatus(userIDs);
    } catch (err) {
      this.dropOpen(userIDs);
      stats.errors = 1;
      this.store.updatePollRun(runID, { endedAt: this.now(), errors: 1, note: `failed: ${(err as Error).message}` });
      throw err;
    }
    if (this.closed) return stats;
    const pollAt = startedAt;
    stats.usersPolled = result.statuses.length;
    stats.requests = result.requests;
    stats.errors = result.failed.length;
    // Rule 7: no decisions for users whose poll failed; they are re-checked next cycle.
    for (const f of result.failed) this.dropOpen(f.userIDs);

    const corrections: Correction[] = [];
    for (const s of result.statuses) {
      const observed = new Set(s.platforms.map((p) => p.platformID));
      for (const [id, o] of this.open) {
        if (o.userID !== s.userID) continue;
        this.open.delete(id);
        const prev = this.engine.key(o.userID, o.platformID);
        const observedOnline = observed.has(o.platformID);
        const evidence: EvidenceItem[] = [...o.evidence, { at: pollAt, what: 'poll', ref: runID, detail: `confirm poll read ${describe(s)}` }];
        const v = judgeConfirm(prev, o.d, observedOnline, pollAt, this.opts);
        this.store.insertPollObservation({ userID: s.userID, at: pollAt, runID, platforms: platformsRecord(s), purpose: 'confirm' });
        if (v.verdict === 'transient') {
          stats.transients++;
          this.closeTransient({ ...o, evidence }, pollAt, v.reason === 'webhook' ? 'a webhook for the key arrived' : 'the confirm poll agreed');
          continue;
        }
        if (prev?.lastWebhookAt != null) {
          evidence.unshift({ at: prev.lastWebhookAt, what: 'receipt', detail: 'last webhook for this key before the disagreement' });
        }
        stats.confirmations++;
        corrections.push({
          userID: o.userID,
          platformID: o.platformID,
          toOnline: v.toOnline,
          occurredAfter: v.occurredAfter,
          occurredBefore: v.occurredBefore,
          pollAt,
          evidence,
        });
        if (this.opts.mode === 'shadow') this.shadowNoted.set(id, v.toOnline);
      }
    }
    const res = this.engine.correct(await this.secondOpinion(corrections, result.statuses, pollAt, runID));
    stats.corrections = res.events;
    if (corrections.length > 0) {
      this.log.info({ corrections: corrections.length, published: res.events, mode: this.opts.mode }, 'corrections confirmed');
    }
    this.store.updatePollRun(runID, {
      endedAt: this.now(),
      usersPolled: stats.usersPolled,
      requests: stats.requests,
      errors: stats.errors,
      confirmations: stats.confirmations,
      corrections: stats.corrections,
    });
    this.bus.emit('poll:cycle', {
      kind: 'confirm',
      durationMs: this.now() - startedAt,
      usersPolled: stats.usersPolled,
      requests: stats.requests,
      errors: stats.errors,
      disagreements: 0,
      corrections: stats.corrections,
    });
    return stats;
  }

  /**
   * The live view shows only the first gateway's connections of a user connected to two gateways (contract §2.2),
   * so a platform missing from an otherwise-online user proves nothing. Such offline corrections go ahead only if
   * OpenIM's Redis view (per platform, across gateways) also lacks the platform; if it cannot be read, no decision.
   */
  private async secondOpinion(corrections: Correction[], statuses: readonly UserOnlineStatus[], pollAt: number, runID: number): Promise<Correction[]> {
    const onlineUsers = new Set(statuses.filter((s) => s.online).map((s) => s.userID));
    const partial = corrections.filter((c) => !c.toOnline && onlineUsers.has(c.userID));
    if (partial.length === 0) return corrections;
    const users = [...new Set(partial.map((c) => c.userID))];
    let redis: Map<string, Set<number>>;
    try {
      const list = await this.api.getUsersStatus(users);
      redis = new Map(list.map((r) => [r.userID, new Set(r.platformIDs)]));
    } catch (err) {
      this.log.warn({ err, users: users.length }, 'Redis status view unavailable: offline corrections of users online elsewhere deferred');
      return corrections.filter((c) => !partial.includes(c));
    }
    return corrections.filter((c) => {
      if (!partial.includes(c)) return true;
      const platforms = redis.get(c.userID);
      if (platforms === undefined || platforms.has(c.platformID)) {
        this.log.debug({ userID: c.userID, platformID: c.platformID }, 'platform missing from the live view but present in the Redis view: no correction');
        return false;
      }
      c.evidence.push({ at: pollAt, what: 'poll', ref: runID, detail: `Redis status view lists platforms [${[...platforms].join(', ')}]: ${platformName(c.platformID) || c.platformID} is gone there too` });
      return true;
    });
  }

  private dropOpen(userIDs: readonly string[]): void {
    const set = new Set(userIDs);
    for (const [id, o] of this.open) if (set.has(o.userID)) this.open.delete(id);
  }

  /** Cancels scheduled confirm polls and waits for running ones. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.confirmTimers) clearTimeout(t);
    this.confirmTimers.clear();
    await Promise.allSettled([...this.inflight]);
  }
}
