import type { Logger } from 'pino';
import type { EvidenceItem, KeyState } from '../domain.js';
import { keyOf } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import type { Correction, PresenceEngine } from '../engine/presence-engine.js';
import type { OpenImApi, PlatformConnections, UserOnlineStatus } from '../openim/types.js';
import { platformName } from '../openim/platforms.js';
import type { OpenDisagreement, ReconcileOptions } from '../reconciler/reconciler.js';
import { isMassDisagreement, judgeConfirm, judgePoll } from '../reconciler/reconciler.js';
import type { PollObservation, Store } from '../store/store.js';
import { pagesOf, pumpPages, yieldToEventLoop } from './page-pump.js';
import { startedPollRun } from './poll-run.js';

export interface PollReconcilerOptions extends ReconcileOptions {
  confirmDelayMs: number;
  massGuardShare: number;
  massGuardMinUsers: number;
  massGuardHoldMs: number;
  mode: 'active' | 'shadow';
  /**
   * Status pages (requests) a cycle keeps in flight; each answer is applied as it arrives. Set it to the OpenIM
   * client's concurrency (`openim.concurrency`): fewer leaves connections idle, more only queues pages inside the
   * client, where they live long enough to be promoted to the old generation. Default 4 (that setting's default).
   */
  pagesInFlight?: number;
}

/** userIDs per status page of a cycle when the caller does not say (OpenIM's batch size default). */
export const DEFAULT_PAGE_SIZE = 500;
const DEFAULT_PAGES_IN_FLIGHT = 4;
/** Statuses judged in one synchronous pass when a cycle's held-back users are judged at its end. */
const JUDGE_CHUNK = 2000;

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

/** One cycle in progress: what its pages have shown so far. */
interface Sweep {
  pollAt: number;
  runID: number;
  stats: CycleStats;
  /** Polled users the stream believes online (rule 6's denominator). */
  believedOnline: number;
  /** Believed-online users read offline with no offline to match: judged once the whole cycle is in (rule 6). */
  suspects: UserOnlineStatus[];
  confirmUsers: Set<string>;
  ambiguous: { userID: string; platformID: number }[];
}

/** What judging one page decided, applied to the engine in one step per kind. */
interface PageDecisions {
  verified: KeyState[];
  changed: KeyState[];
  confirmedOfflines: { userID: string; platformID: number }[];
  /** Poll observations to record, written in one transaction (one commit) before the page's decisions. */
  observations: PollObservation[];
}

function emptyStats(): CycleStats {
  return { usersPolled: 0, requests: 0, errors: 0, disagreements: 0, confirmations: 0, corrections: 0, transients: 0, guarded: 0 };
}

function startSweep(pollAt: number, runID: number): Sweep {
  return { pollAt, runID, stats: emptyStats(), believedOnline: 0, suspects: [], confirmUsers: new Set(), ambiguous: [] };
}

function emptyDecisions(): PageDecisions {
  return { verified: [], changed: [], confirmedOfflines: [], observations: [] };
}

/** True when `platforms[i]` repeats an earlier entry's platform (answers group connections, but do not rely on it). */
function repeatsEarlier(platforms: readonly PlatformConnections[], i: number): boolean {
  const id = platforms[i]!.platformID;
  for (let j = 0; j < i; j++) if (platforms[j]!.platformID === id) return true;
  return false;
}

function lists(platforms: readonly PlatformConnections[], platformID: number): boolean {
  for (const p of platforms) if (p.platformID === platformID) return true;
  return false;
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

  /** Polls `userIDs` once, in pages of `pageSize` users: see {@link pollPages}. */
  pollCycle(userIDs: Iterable<string>, runID: number, pageSize = DEFAULT_PAGE_SIZE): Promise<CycleStats> {
    return this.pollPages(pagesOf(userIDs, pageSize), runID);
  }

  /**
   * Polls every user of `pages` once, one status request per page (each user in one page only), and applies each
   * page's answer as it arrives, so a sweep of any size never holds its whole answer and never blocks the event loop
   * for long. Pages are taken only as requests can be sent. Users the mass-disagreement guard may hold (rule 6) are
   * judged once the whole cycle is in. Confirm polls are scheduled, not awaited.
   */
  async pollPages(pages: Iterable<readonly string[]>, runID: number): Promise<CycleStats> {
    const sweep = startSweep(this.now(), runID);
    await pumpPages(pages[Symbol.iterator](), this.opts.pagesInFlight ?? DEFAULT_PAGES_IN_FLIGHT, async (page) => {
      const result = await this.api.getUsersOnlineStatus(page);
      sweep.stats.usersPolled += result.statuses.length;
      sweep.stats.requests += result.requests;
      sweep.stats.errors += result.failed.length;
      if (this.closed) return false;
      this.screenPage(result.statuses, sweep);
      // No request could even be sent (no admin token): the remaining pages would fail the same way.
      return result.requests > 0 || result.failed.length === 0;
    });
    if (this.closed) return sweep.stats;
    await this.judgeSuspects(sweep);
    if (this.closed) return sweep.stats;
    if (sweep.confirmUsers.size > 0) this.scheduleConfirm([...sweep.confirmUsers]);
    if (sweep.ambiguous.length > 0) await this.decideAmbiguous(sweep.ambiguous);
    return sweep.stats;
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

  /** Judges one page of a cycle, except the users rule 6 may hold, which wait for the end of the cycle. */
  private screenPage(statuses: readonly UserOnlineStatus[], sweep: Sweep): void {
    const d = emptyDecisions();
    for (const s of statuses) {
      // A user with no key is neither believed online nor has anything to verify: one lookup for most of a sweep.
      if (this.engine.platformIDsOf(s.userID).length === 0) {
        if (s.platforms.length > 0) this.judgeStatus(s, sweep, d);
        continue;
      }
      if (this.engine.isUserOnline(s.userID)) {
        sweep.believedOnline++;
        if (!s.online && this.noOfflineToMatch(s.userID, sweep.pollAt)) {
          sweep.suspects.push(s);
          continue;
        }
      }
      this.judgeStatus(s, sweep, d);
    }
    this.applyDecisions(d);
  }

  /**
   * Rule 6, once every page is in: if a large share of the believed-online users read offline with no offline
   * webhooks to match, hold them (correct nothing) until it has persisted for the hold period; otherwise judge them
   * like any other user, a chunk at a time.
   */
  private async judgeSuspects(sweep: Sweep): Promise<void> {
    const { suspects, pollAt } = sweep;
    const mass = isMassDisagreement(sweep.believedOnline, suspects.length, { share: this.opts.massGuardShare, minUsers: this.opts.massGuardMinUsers });
    let hold = false;
    if (mass) {
      if (this.guardState === null) this.raiseGuard(pollAt, suspects, sweep.believedOnline, sweep.runID);
      hold = pollAt - this.guardState!.since < this.opts.massGuardHoldMs;
      if (!hold) this.log.warn({ readOffline: suspects.length, since: this.guardState!.since }, 'mass disagreement persisted past the hold: correcting');
    } else if (this.guardState !== null) {
      this.clearGuard(pollAt);
    }
    if (hold) {
      sweep.stats.guarded += suspects.length;
      return;
    }
    for (let i = 0; i < suspects.length; i += JUDGE_CHUNK) {
      if (i > 0) await yieldToEventLoop();
      if (this.closed) return;
      const d = emptyDecisions();
      const end = Math.min(suspects.length, i + JUDGE_CHUNK);
      for (let j = i; j < end; j++) this.judgeStatus(suspects[j]!, sweep, d);
      this.applyDecisions(d);
    }
  }

  /** Records poll observations in one transaction: one commit for all of them, not one each. */
  private recordObservations(observations: readonly PollObservation[]): void {
    if (observations.length === 0) return;
    this.store.transaction(() => {
      for (const o of observations) this.store.insertPollObservation(o);
    });
  }

  private applyDecisions(d: PageDecisions): void {
    this.recordObservations(d.observations);
    if (d.verified.length > 0) this.engine.markVerified(d.verified);
    if (d.changed.length > 0) this.engine.saveKeyStates(d.changed);
    if (d.confirmedOfflines.length > 0) this.engine.applyHeldOfflines(d.confirmedOfflines);
  }

  /** Judges every key of one polled user: the platforms the answer lists, then the user's other known keys. */
  private judgeStatus(s: UserOnlineStatus, sweep: Sweep, d: PageDecisions): void {
    const observed = s.platforms;
    const known = this.engine.platformIDsOf(s.userID);
    for (let i = 0; i < observed.length; i++) {
      if (!repeatsEarlier(observed, i)) this.judgeKey(s, observed[i]!.platformID, true, sweep, d);
    }
    for (const platformID of known) {
      if (!lists(observed, platformID)) this.judgeKey(s, platformID, false, sweep, d);
    }
  }

  private judgeKey(s: UserOnlineStatus, platformID: number, observedOnline: boolean, sweep: Sweep, d: PageDecisions): void {
    const { pollAt, runID, stats } = sweep;
    const prev = this.engine.key(s.userID, platformID);
    const v = judgePoll(prev, observedOnline, pollAt, this.opts, s.online);
    switch (v.verdict) {
      case 'agree': {
        d.verified.push(v.state);
        if (this.shadowNoted.size === 0 && this.open.size === 0) break;
        const id = keyOf(s.userID, platformID);
        this.shadowNoted.delete(id);
        const o = this.open.get(id);
        if (o !== undefined) {
          this.closeTransient(o, pollAt, 'a later poll agreed');
          this.open.delete(id);
          stats.transients++;
        }
        break;
      }
      case 'cancel-held-offline':
        d.changed.push(v.state);
        break;
      case 'apply-held-offline':
        d.confirmedOfflines.push({ userID: s.userID, platformID });
        break;
      case 'disagree': {
        const id = keyOf(s.userID, platformID);
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
          d.observations.push({ userID: s.userID, at: pollAt, runID, platforms: platformsRecord(s), purpose: 'disagreement' });
        }
        sweep.confirmUsers.add(s.userID);
        break;
      }
      case 'race':
        if (prev?.pendingOffline?.ambiguous === true && !observedOnline && pollAt > prev.pendingOffline.receivedAt) {
          sweep.ambiguous.push({ userID: s.userID, platformID });
        }
        break;
      case 'none':
        break;
    }
  }

  private raiseGuard(pollAt: number, suspects: readonly UserOnlineStatus[], believedOnline: number, runID: number): void {
    const sample = suspects.slice(0, 10).map((s) => s.userID);
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
          detail: `${suspects.length} of ${believedOnline} believed-online users read offline with no offline webhooks (e.g. ${sample.join(', ')})`,
        },
      ],
      note: `mass disagreement: ${suspects.length} of ${believedOnline} believed-online users read offline at once; likely a slow or failed gateway whose error OpenIM swallowed. Nothing is corrected unless it persists for ${Math.round(this.opts.massGuardHoldMs / 1000)} s.`,
      updatedAt: pollAt,
    });
    this.guardState = { since: pollAt, mismatchID, readOffline: suspects.length, believedOnline };
    this.bus.emit('guard:raised', { readOffline: suspects.length, believedOnline });
    this.log.warn({ readOffline: suspects.length, believedOnline, mismatchID }, 'mass disagreement: holding corrections');
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

  /**
   * Rule 4: the targeted re-poll, a page at a time like a cycle (a mass correction can confirm many users), each
   * page's corrections published as its answer arrives. Returns the cycle's counts.
   */
  async confirm(userIDs: readonly string[]): Promise<CycleStats> {
    const startedAt = this.now();
    const runID = this.store.insertPollRun(startedPollRun('confirm', startedAt));
    const stats = emptyStats();
    const openByUser = this.openOf(userIDs);
    const answered = new Set<string>();
    try {
      await pumpPages(pagesOf(userIDs, DEFAULT_PAGE_SIZE), this.opts.pagesInFlight ?? DEFAULT_PAGES_IN_FLIGHT, async (page) => {
        const result = await this.api.getUsersOnlineStatus(page);
        if (this.closed) return false;
        stats.usersPolled += result.statuses.length;
        stats.requests += result.requests;
        stats.errors += result.failed.length;
        for (const s of result.statuses) answered.add(s.userID);
        await this.confirmPage(result.statuses, openByUser, startedAt, runID, stats);
        return result.requests > 0 || result.failed.length === 0;
      });
    } catch (err) {
      this.dropUnanswered(openByUser, answered);
      stats.errors++;
      this.store.updatePollRun(runID, { endedAt: this.now(), errors: stats.errors, note: `failed: ${(err as Error).message}` });
      throw err;
    }
    if (this.closed) return stats;
    // Rule 7: no decisions for users whose poll failed (or was never sent); they are re-checked next cycle.
    this.dropUnanswered(openByUser, answered);
    if (stats.confirmations > 0) {
      this.log.info({ corrections: stats.confirmations, published: stats.corrections, mode: this.opts.mode }, 'corrections confirmed');
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

  /** Judges the open disagreements of one confirm page and publishes its corrections. */
  private async confirmPage(
    statuses: readonly UserOnlineStatus[],
    openByUser: ReadonlyMap<string, [string, Open][]>,
    pollAt: number,
    runID: number,
    stats: CycleStats,
  ): Promise<void> {
    const corrections: Correction[] = [];
    const observations: PollObservation[] = [];
    for (const s of statuses) {
      const entries = openByUser.get(s.userID);
      if (entries === undefined) continue;
      const observed = new Set(s.platforms.map((p) => p.platformID));
      for (const [id, o] of entries) {
        // Closed (or replaced) meanwhile, by a cycle that agreed.
        if (this.open.get(id) !== o) continue;
        this.open.delete(id);
        const prev = this.engine.key(o.userID, o.platformID);
        const observedOnline = observed.has(o.platformID);
        const evidence: EvidenceItem[] = [...o.evidence, { at: pollAt, what: 'poll', ref: runID, detail: `confirm poll read ${describe(s)}` }];
        const v = judgeConfirm(prev, o.d, observedOnline, pollAt, this.opts);
        observations.push({ userID: s.userID, at: pollAt, runID, platforms: platformsRecord(s), purpose: 'confirm' });
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
    this.recordObservations(observations);
    if (corrections.length === 0) return;
    const confirmed = await this.secondOpinion(corrections, statuses, pollAt, runID);
    stats.corrections += this.engine.correct(confirmed).events;
  }

  /** The open disagreements of `userIDs`, grouped by user, so confirm answers are matched in one pass. */
  private openOf(userIDs: readonly string[]): Map<string, [string, Open][]> {
    const wanted = new Set(userIDs);
    const out = new Map<string, [string, Open][]>();
    for (const entry of this.open) {
      if (!wanted.has(entry[1].userID)) continue;
      const list = out.get(entry[1].userID);
      if (list === undefined) out.set(entry[1].userID, [entry]);
      else list.push(entry);
    }
    return out;
  }

  /** Drops the disagreements of `openByUser` whose user got no answer (and that nothing replaced meanwhile). */
  private dropUnanswered(openByUser: ReadonlyMap<string, [string, Open][]>, answered: ReadonlySet<string>): void {
    for (const [userID, entries] of openByUser) {
      if (answered.has(userID)) continue;
      for (const [id, o] of entries) if (this.open.get(id) === o) this.open.delete(id);
    }
  }

  /**
   * The live view shows only the first gateway's connections of a user connected to two gateways (contract §2.2),
   * so a platform missing from an otherwise-online user proves nothing. Such offline corrections go ahead only if
   * OpenIM's Redis view (per platform, across gateways) also lacks the platform; if it cannot be read, no decision.
   */
  private async secondOpinion(corrections: Correction[], statuses: readonly UserOnlineStatus[], pollAt: number, runID: number): Promise<Correction[]> {
    const onlineUsers = new Set(statuses.filter((s) => s.online).map((s) => s.userID));
    const partial = new Set(corrections.filter((c) => !c.toOnline && onlineUsers.has(c.userID)));
    if (partial.size === 0) return corrections;
    const users = [...new Set([...partial].map((c) => c.userID))];
    let redis: Map<string, Set<number>>;
    try {
      const list = await this.api.getUsersStatus(users);
      redis = new Map(list.map((r) => [r.userID, new Set(r.platformIDs)]));
    } catch (err) {
      this.log.warn({ err, users: users.length }, 'Redis status view unavailable: offline corrections of users online elsewhere deferred');
      return corrections.filter((c) => !partial.has(c));
    }
    return corrections.filter((c) => {
      if (!partial.has(c)) return true;
      const platforms = redis.get(c.userID);
      if (platforms === undefined || platforms.has(c.platformID)) {
        this.log.debug({ userID: c.userID, platformID: c.platformID }, 'platform missing from the live view but present in the Redis view: no correction');
        return false;
      }
      c.evidence.push({ at: pollAt, what: 'poll', ref: runID, detail: `Redis status view lists platforms [${[...platforms].join(', ')}]: ${platformName(c.platformID) || c.platformID} is gone there too` });
      return true;
    });
  }

  /** Cancels scheduled confirm polls and waits for running ones. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.confirmTimers) clearTimeout(t);
    this.confirmTimers.clear();
    await Promise.allSettled([...this.inflight]);
  }
}
