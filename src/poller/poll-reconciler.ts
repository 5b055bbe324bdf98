import type { Logger } from 'pino';
import type { EvidenceItem, KeyState } from '../domain.js';
import { keyOf } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import type { Correction, PresenceEngine } from '../engine/presence-engine.js';
import type { OpenImApi, PlatformConnections, UserOnlineStatus } from '../openim/types.js';
import { platformName } from '../openim/platforms.js';
import { UserFilter } from '../engine/user-filter.js';
import type { OpenDisagreement, ReconcileOptions } from '../reconciler/reconciler.js';
import { judgeConfirm, judgePoll } from '../reconciler/reconciler.js';
import type { PollJournal, PollObservation, Transactions } from '../store/store.js';
import type { GuardState } from './mass-guard.js';
import { MassGuard } from './mass-guard.js';
import { pagesOf, pumpPages, yieldToEventLoop } from './page-pump.js';
import { startedPollRun } from './poll-run.js';

export type { GuardState } from './mass-guard.js';

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
  /**
   * First-start warm-up: until this time (epoch ms), a user with no key at all who is read online, and whom no
   * earlier poll read offline, is taken to have been online before the daemon first started: its correction is
   * recorded as `initial_sync`, not as a missed webhook. 0 (the default) has no warm-up.
   */
  initialSyncUntil?: number;
}

/** Runs `fn` after `ms`; answers a function that cancels it. Injectable so tests drive confirm polls on their clock. */
export type ScheduleFn = (fn: () => void, ms: number) => () => void;

/** What the reconciler works with. */
export interface PollReconcilerDeps {
  engine: PresenceEngine;
  /** Its own journal: poll runs and observations (docs/architecture.md, writers). */
  store: Pick<Transactions, 'transaction'> & PollJournal;
  api: OpenImApi;
  bus: EventBus;
  log: Logger;
  now?: () => number;
  /** Timers for confirm polls (tests pass a fake clock's). */
  schedule?: ScheduleFn;
}

const realSchedule: ScheduleFn = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

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
  /** Users (cycles) or keys (confirm polls) the mass-disagreement guard held. */
  guarded: number;
}

/** A disagreement seen by a poll and waiting for its confirm poll (rule 4). */
interface PendingDisagreement {
  userID: string;
  platformID: number;
  disagreement: OpenDisagreement;
  evidence: EvidenceItem[];
  /** Seen during the first-start warm-up for a user with no key at all: online since before the daemon started. */
  initialSync: boolean;
  /**
   * First seen as a whole-user offline by a cycle that ended with the mass-disagreement guard holding: that read is
   * suspect (a slow gateway reads its users offline), so it never leads to a correction. A confirm poll drops it; a
   * later cycle that sees the disagreement again opens a fresh one.
   */
  suspectRead: boolean;
}

/** A status read by one page of a cycle, with the time that page's request was sent. */
interface TimedStatus {
  status: UserOnlineStatus;
  pollAt: number;
}

/** One cycle in progress: what its pages have shown so far. */
interface Sweep {
  /** When the cycle started (the guard's clock). Each page judges with its own send time. */
  startedAt: number;
  runID: number;
  stats: CycleStats;
  /** Polled users a poll has verified online (rule 6's denominator). */
  believedOnline: number;
  /** Verified-online users read wholly offline with nothing to explain it: judged once the whole cycle is in. */
  suspects: TimedStatus[];
  confirmUsers: Set<string>;
  ambiguous: { userID: string; platformID: number }[];
  /** Disagreements this cycle opened for users read wholly offline: suspect reads if the guard holds at its end. */
  openedWholeOffline: PendingDisagreement[];
  /** Ambiguous held offlines of users read wholly offline: applied at the end of the cycle unless the guard holds. */
  wholeOfflinePairs: { userID: string; platformID: number; pollAt: number }[];
  /** Set once the guard has judged the whole cycle and does not hold: what is judged from then on applies at once. */
  guardCleared: boolean;
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

function startSweep(startedAt: number, runID: number): Sweep {
  return { startedAt, runID, stats: emptyStats(), believedOnline: 0, suspects: [], confirmUsers: new Set(), ambiguous: [], openedWholeOffline: [], wholeOfflinePairs: [], guardCleared: false };
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

function listsPlatform(platforms: readonly PlatformConnections[], platformID: number): boolean {
  for (const p of platforms) if (p.platformID === platformID) return true;
  return false;
}

function describeStatus(s: UserOnlineStatus): string {
  if (!s.online) return 'offline';
  return 'online on ' + s.platforms.map((p) => `${platformName(p.platformID) || p.platformID}×${p.connections}`).join(', ');
}

function platformsRecord(s: UserOnlineStatus): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of s.platforms) out[String(p.platformID)] = p.connections;
  return out;
}

/**
 * Applies poll answers to the presence state (docs/architecture.md, rules 3, 4, 6, 7): agreeing polls verify keys,
 * disagreements are confirmed by a targeted re-poll once they are at least the confirm delay old, and only confirmed
 * disagreements with no webhook since the grace window before them become corrections. A mass disagreement (a slow
 * gateway read as offline) is held by the {@link MassGuard}.
 */
export class PollReconciler {
  private readonly open = new Map<string, PendingDisagreement>();
  /** Users with a confirm poll scheduled, and the latest time one is due. */
  private readonly confirmDue = new Map<string, number>();
  /** Shadow mode: keys already reported, so one missed change is recorded once. */
  private readonly shadowNoted = new Map<string, boolean>();
  private readonly massGuard: MassGuard;
  /**
   * During the first-start warm-up: users with no key that a poll read offline. Read online later, they came online
   * while the daemon was running, so a correction is a missed webhook, not initial sync. A bitmap (2 MiB): a false
   * "seen" only files an initial sync as a miss. Dropped when the warm-up ends.
   */
  private seenOfflineInWarmUp: UserFilter | undefined;
  private readonly cancelTimers = new Set<() => void>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  private readonly engine: PresenceEngine;
  private readonly store: PollReconcilerDeps['store'];
  private readonly api: OpenImApi;
  private readonly bus: EventBus;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly schedule: ScheduleFn;

  constructor(
    deps: PollReconcilerDeps,
    private readonly opts: PollReconcilerOptions,
  ) {
    ({ engine: this.engine, store: this.store, api: this.api, bus: this.bus, log: this.log } = deps);
    this.now = deps.now ?? Date.now;
    this.schedule = deps.schedule ?? realSchedule;
    if ((opts.initialSyncUntil ?? 0) > 0) this.seenOfflineInWarmUp = new UserFilter(1 << 20);
    this.massGuard = new MassGuard(this.engine, this.bus, this.log, {
      share: opts.massGuardShare,
      minUsers: opts.massGuardMinUsers,
      holdMs: opts.massGuardHoldMs,
      mode: opts.mode,
    });
  }

  get guard(): GuardState | null {
    return this.massGuard.current;
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
    if (this.seenOfflineInWarmUp !== undefined && sweep.startedAt >= (this.opts.initialSyncUntil ?? 0)) this.seenOfflineInWarmUp = undefined;
    await pumpPages(pages[Symbol.iterator](), this.opts.pagesInFlight ?? DEFAULT_PAGES_IN_FLIGHT, async (page) => {
      const pollAt = this.now();
      const result = await this.api.getUsersOnlineStatus(page);
      sweep.stats.usersPolled += result.statuses.length;
      sweep.stats.requests += result.requests;
      sweep.stats.errors += result.failed.length;
      if (this.closed) return false;
      this.screenPage(result.statuses, pollAt, sweep);
      // No request could even be sent (no admin token): the remaining pages would fail the same way.
      return result.requests > 0 || result.failed.length === 0;
    });
    if (this.closed) return sweep.stats;
    await this.judgeSuspects(sweep);
    if (this.closed) return sweep.stats;
    if (sweep.confirmUsers.size > 0) this.scheduleConfirm([...sweep.confirmUsers], this.opts.confirmDelayMs);
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

  /**
   * Rule 6's denominator: the user is published online on a key a poll has verified. Users online only by webhook
   * (never confirmed by the live view) do not count, so webhooks alone cannot raise the guard.
   */
  private verifiedOnline(userID: string): boolean {
    for (const platformID of this.engine.platformIDsOf(userID)) {
      const k = this.engine.key(userID, platformID);
      if (k !== undefined && k.online && k.lastVerifiedAt !== null) return true;
    }
    return false;
  }

  /**
   * An offline webhook explains why a believed-online user reads wholly offline: every online key of the user has a
   * held offline, or an offline webhook within the grace window. A recent online webhook explains nothing, nor does
   * an ambiguous online+offline pair (the poll is what decides that one, and a slow gateway's read must not).
   */
  private offlineExplained(userID: string, pollAt: number): boolean {
    for (const platformID of this.engine.platformIDsOf(userID)) {
      const k = this.engine.key(userID, platformID);
      if (k === undefined || !k.online || (k.pendingOffline !== null && k.pendingOffline.ambiguous !== true)) continue;
      const recentOffline = k.lastWebhookAt !== null && k.lastWebhookAt >= pollAt - this.opts.graceMs && k.lastWebhookAt !== k.lastOnlineWebhookAt;
      if (!recentOffline) return false;
    }
    return true;
  }

  /** Judges one page of a cycle, except the users rule 6 may hold, which wait for the end of the cycle. */
  private screenPage(statuses: readonly UserOnlineStatus[], pollAt: number, sweep: Sweep): void {
    const decisions = emptyDecisions();
    for (const s of statuses) {
      // A user with no key is neither believed online nor has anything to verify: one lookup for most of a sweep.
      if (this.engine.platformIDsOf(s.userID).length === 0) {
        if (s.platforms.length > 0) this.judgeStatus(s, pollAt, sweep, decisions);
        else this.seenOfflineInWarmUp?.add(s.userID);
        continue;
      }
      if (this.engine.isUserOnline(s.userID) && this.verifiedOnline(s.userID)) {
        sweep.believedOnline++;
        if (!s.online && !this.offlineExplained(s.userID, pollAt)) {
          sweep.suspects.push({ status: s, pollAt });
          continue;
        }
      }
      this.judgeStatus(s, pollAt, sweep, decisions);
    }
    this.applyDecisions(decisions);
  }

  /**
   * Rule 6, once every page is in: if a large share of the believed-online users read offline with no offline
   * webhooks to match, hold them (correct nothing) until it has persisted for the hold period; otherwise judge them
   * like any other user, a chunk at a time.
   */
  private async judgeSuspects(sweep: Sweep): Promise<void> {
    const { suspects } = sweep;
    const hold = this.massGuard.judgeCycle(
      sweep.startedAt,
      sweep.believedOnline,
      suspects.map((s) => s.status.userID),
      sweep.runID,
    );
    if (hold) {
      sweep.stats.guarded += suspects.length;
      for (const pending of sweep.openedWholeOffline) pending.suspectRead = true;
      this.extendAmbiguousHolds([...suspects.map((s) => ({ userID: s.status.userID, pollAt: s.pollAt })), ...sweep.wholeOfflinePairs]);
      return;
    }
    sweep.guardCleared = true;
    this.engine.applyHeldOfflines(sweep.wholeOfflinePairs);
    for (let i = 0; i < suspects.length; i += JUDGE_CHUNK) {
      if (i > 0) await yieldToEventLoop();
      if (this.closed) return;
      const decisions = emptyDecisions();
      const end = Math.min(suspects.length, i + JUDGE_CHUNK);
      for (let j = i; j < end; j++) this.judgeStatus(suspects[j]!.status, suspects[j]!.pollAt, sweep, decisions);
      this.applyDecisions(decisions);
    }
  }

  /**
   * Ambiguous online+offline pairs of held users wait for a poll the guard trusts: their hold is extended past this
   * read, so it does not run out (leaving the key online) while the live view cannot be believed.
   */
  private extendAmbiguousHolds(users: readonly { userID: string; pollAt: number }[]): void {
    const extended: KeyState[] = [];
    for (const { userID, pollAt } of users) {
      for (const k of this.engine.keysOfUser(userID)) {
        const held = k.pendingOffline;
        const dueAt = pollAt + this.opts.ambiguousHoldMs;
        if (held?.ambiguous === true && held.dueAt < dueAt) extended.push({ ...k, pendingOffline: { ...held, dueAt } });
      }
    }
    this.engine.saveKeyStates(extended);
  }

  /** Records poll observations in one transaction: one commit for all of them, not one each. */
  private recordObservations(observations: readonly PollObservation[]): void {
    if (observations.length === 0) return;
    this.store.transaction(() => {
      for (const o of observations) this.store.insertPollObservation(o);
    });
  }

  private applyDecisions(decisions: PageDecisions): void {
    this.recordObservations(decisions.observations);
    if (decisions.verified.length > 0) this.engine.markVerified(decisions.verified);
    if (decisions.changed.length > 0) this.engine.saveKeyStates(decisions.changed);
    if (decisions.confirmedOfflines.length > 0) this.engine.applyHeldOfflines(decisions.confirmedOfflines);
  }

  /** Judges every key of one polled user: the platforms the answer lists, then the user's other known keys. */
  private judgeStatus(s: UserOnlineStatus, pollAt: number, sweep: Sweep, decisions: PageDecisions): void {
    const observed = s.platforms;
    const known = this.engine.platformIDsOf(s.userID);
    // Decided before any key of this user is judged: a user online on two platforms at first start has none yet.
    const initialSync =
      known.length === 0 && pollAt < (this.opts.initialSyncUntil ?? 0) && this.seenOfflineInWarmUp?.mayHave(s.userID) === false;
    for (let i = 0; i < observed.length; i++) {
      if (!repeatsEarlier(observed, i)) this.judgeKey(s, observed[i]!.platformID, true, pollAt, initialSync, sweep, decisions);
    }
    for (const platformID of known) {
      if (!listsPlatform(observed, platformID)) this.judgeKey(s, platformID, false, pollAt, false, sweep, decisions);
    }
  }

  private judgeKey(
    s: UserOnlineStatus,
    platformID: number,
    observedOnline: boolean,
    pollAt: number,
    initialSync: boolean,
    sweep: Sweep,
    decisions: PageDecisions,
  ): void {
    const { runID, stats } = sweep;
    const prev = this.engine.key(s.userID, platformID);
    const v = judgePoll(prev, observedOnline, pollAt, this.opts, s.online);
    switch (v.verdict) {
      case 'agree': {
        decisions.verified.push(v.state);
        if (this.shadowNoted.size === 0 && this.open.size === 0) break;
        const id = keyOf(s.userID, platformID);
        this.shadowNoted.delete(id);
        const pending = this.open.get(id);
        if (pending !== undefined) {
          this.closeTransient(pending, pollAt, 'a later poll agreed');
          this.open.delete(id);
          stats.transients++;
        }
        break;
      }
      case 'cancel-held-offline':
        decisions.changed.push(v.state);
        break;
      case 'apply-held-offline':
        // The user reads wholly offline: that read may be a slow gateway's, so the guard has its say first.
        if (!s.online && !sweep.guardCleared) sweep.wholeOfflinePairs.push({ userID: s.userID, platformID, pollAt });
        else decisions.confirmedOfflines.push({ userID: s.userID, platformID });
        break;
      case 'disagree': {
        const id = keyOf(s.userID, platformID);
        if (this.shadowNoted.get(id) === v.observedOnline) break;
        stats.disagreements++;
        // An older disagreement of the same key keeps its first observation: the confirm delay counts from there,
        // unless that observation was a suspect read.
        const older = this.open.get(id);
        if (older === undefined || older.suspectRead) {
          const pending: PendingDisagreement = {
            userID: s.userID,
            platformID,
            disagreement: { observedOnline: v.observedOnline, firstSeenAt: pollAt, lastAgreeAt: v.lastAgreeAt },
            evidence: [
              {
                at: pollAt,
                what: 'poll',
                ref: runID,
                detail: `live status read ${describeStatus(s)}; the stream said ${prev?.online ? 'online' : 'offline'}`,
              },
            ],
            initialSync: initialSync && v.observedOnline,
            suspectRead: false,
          };
          this.open.set(id, pending);
          if (!s.online) sweep.openedWholeOffline.push(pending);
          decisions.observations.push({ userID: s.userID, at: pollAt, runID, platforms: platformsRecord(s), purpose: 'disagreement' });
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

  private closeTransient(pending: PendingDisagreement, at: number, why: string): void {
    this.engine.recordMismatch({
      kind: 'transient',
      userID: pending.userID,
      platformID: pending.platformID,
      platform: platformName(pending.platformID),
      detectedAt: at,
      occurredAfter: pending.disagreement.lastAgreeAt,
      occurredBefore: pending.disagreement.firstSeenAt,
      eventSeq: null,
      lateByMs: null,
      lateAt: null,
      status: 'resolved',
      shadow: this.opts.mode === 'shadow',
      evidence: [...pending.evidence, { at, what: 'note', detail: why }],
      note: `a poll disagreed, then ${why}: a race, nothing corrected`,
      updatedAt: at,
    });
  }

  /** Schedules a confirm poll of `userIDs` after `delayMs`, for those without a confirm already due by then. */
  private scheduleConfirm(userIDs: readonly string[], delayMs: number): void {
    if (this.closed) return;
    const due = this.now() + delayMs;
    const users: string[] = [];
    for (const u of userIDs) {
      const already = this.confirmDue.get(u);
      if (already !== undefined && already >= due) continue;
      this.confirmDue.set(u, due);
      users.push(u);
    }
    if (users.length === 0) return;
    const cancel = this.schedule(() => {
      this.cancelTimers.delete(cancel);
      const p = this.confirm(users, due).catch((err: unknown) => this.log.error({ err }, 'confirm poll failed'));
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
    }, delayMs);
    this.cancelTimers.add(cancel);
  }

  /**
   * Rule 4: the targeted re-poll, a page at a time like a cycle (a mass correction can confirm many users), each
   * page's corrections published as its answer arrives. It decides only disagreements at least the confirm delay
   * old; younger ones stay open for a later confirm. `dueAt`: when the timer that runs it was due. Returns the
   * cycle's counts.
   */
  async confirm(userIDs: readonly string[], dueAt?: number): Promise<CycleStats> {
    const startedAt = this.now();
    // This confirm is the one due for these users (a timer may fire a little before the clock says it is due).
    for (const u of userIDs) {
      const due = this.confirmDue.get(u);
      if (due !== undefined && (due <= startedAt || due === dueAt)) this.confirmDue.delete(u);
    }
    const runID = this.store.insertPollRun(startedPollRun('confirm', startedAt));
    const stats = emptyStats();
    const openByUser = this.openOf(userIDs);
    const answered = new Set<string>();
    const young: PendingDisagreement[] = [];
    try {
      await pumpPages(pagesOf(userIDs, DEFAULT_PAGE_SIZE), this.opts.pagesInFlight ?? DEFAULT_PAGES_IN_FLIGHT, async (page) => {
        const pollAt = this.now();
        const result = await this.api.getUsersOnlineStatus(page);
        if (this.closed) return false;
        stats.usersPolled += result.statuses.length;
        stats.requests += result.requests;
        stats.errors += result.failed.length;
        for (const s of result.statuses) answered.add(s.userID);
        await this.confirmPage(result.statuses, openByUser, pollAt, runID, stats, young);
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
    this.confirmLater(young);
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
      note: stats.guarded > 0 ? `mass-disagreement guard held ${stats.guarded} keys` : '',
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

  /** Makes sure every still-open disagreement a confirm found too young has a confirm of its own when it is due. */
  private confirmLater(young: readonly PendingDisagreement[]): void {
    const now = this.now();
    const byDelay = new Map<number, string[]>();
    for (const pending of young) {
      if (this.open.get(keyOf(pending.userID, pending.platformID)) !== pending) continue;
      const delay = Math.max(1, pending.disagreement.firstSeenAt + this.opts.confirmDelayMs - now);
      const list = byDelay.get(delay);
      if (list === undefined) byDelay.set(delay, [pending.userID]);
      else list.push(pending.userID);
    }
    for (const [delay, users] of byDelay) this.scheduleConfirm([...new Set(users)], delay);
  }

  /** Judges the open disagreements of one confirm page and publishes its corrections. */
  private async confirmPage(
    statuses: readonly UserOnlineStatus[],
    openByUser: ReadonlyMap<string, PendingDisagreement[]>,
    pollAt: number,
    runID: number,
    stats: CycleStats,
    young: PendingDisagreement[],
  ): Promise<void> {
    const corrections: Correction[] = [];
    const observations: PollObservation[] = [];
    const guardHolds = this.massGuard.holds(pollAt);
    for (const s of statuses) {
      const entries = openByUser.get(s.userID);
      if (entries === undefined) continue;
      let observed: Set<number> | undefined;
      for (const pending of entries) {
        const id = keyOf(pending.userID, pending.platformID);
        // Closed (or replaced) meanwhile, by a cycle that agreed.
        if (this.open.get(id) !== pending) continue;
        // Too young: the confirm delay counts from the poll that first saw this disagreement, whatever else is due.
        if (pollAt - pending.disagreement.firstSeenAt < this.opts.confirmDelayMs) {
          young.push(pending);
          continue;
        }
        observed ??= new Set(s.platforms.map((p) => p.platformID));
        const prev = this.engine.key(pending.userID, pending.platformID);
        const observedOnline = observed.has(pending.platformID);
        const v = judgeConfirm(prev, pending.disagreement, observedOnline, pollAt, this.opts);
        // Rule 6 binds confirm polls too: while the guard holds, a user read wholly offline waits like the rest.
        if (v.verdict === 'correct' && !v.toOnline && !s.online && guardHolds) {
          stats.guarded++;
          continue;
        }
        // First seen by a read the guard suspected: it proves nothing, whatever the confirm reads; cycles look again.
        if (pending.suspectRead) {
          this.open.delete(id);
          continue;
        }
        this.open.delete(id);
        const evidence: EvidenceItem[] = [...pending.evidence, { at: pollAt, what: 'poll', ref: runID, detail: `confirm poll read ${describeStatus(s)}` }];
        observations.push({ userID: s.userID, at: pollAt, runID, platforms: platformsRecord(s), purpose: 'confirm' });
        if (v.verdict === 'transient') {
          stats.transients++;
          this.closeTransient({ ...pending, evidence }, pollAt, v.reason === 'webhook' ? 'a webhook for the key arrived' : 'the confirm poll agreed');
          continue;
        }
        if (prev?.lastWebhookAt != null) {
          evidence.unshift({ at: prev.lastWebhookAt, what: 'receipt', detail: 'last webhook for this key before the disagreement' });
        }
        stats.confirmations++;
        corrections.push({
          userID: pending.userID,
          platformID: pending.platformID,
          toOnline: v.toOnline,
          occurredAfter: v.occurredAfter,
          occurredBefore: v.occurredBefore,
          pollAt,
          evidence,
          initialSync: pending.initialSync && v.toOnline,
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
  private openOf(userIDs: readonly string[]): Map<string, PendingDisagreement[]> {
    const wanted = new Set(userIDs);
    const out = new Map<string, PendingDisagreement[]>();
    for (const pending of this.open.values()) {
      if (!wanted.has(pending.userID)) continue;
      const list = out.get(pending.userID);
      if (list === undefined) out.set(pending.userID, [pending]);
      else list.push(pending);
    }
    return out;
  }

  /** Drops the disagreements of `openByUser` whose user got no answer (and that nothing replaced meanwhile). */
  private dropUnanswered(openByUser: ReadonlyMap<string, PendingDisagreement[]>, answered: ReadonlySet<string>): void {
    for (const [userID, entries] of openByUser) {
      if (answered.has(userID)) continue;
      for (const pending of entries) {
        const id = keyOf(pending.userID, pending.platformID);
        if (this.open.get(id) === pending) this.open.delete(id);
      }
    }
  }

  /**
   * The live view shows only the first gateway's connections of a user connected to two gateways (docs/openim-contract.md),
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
    for (const cancel of this.cancelTimers) cancel();
    this.cancelTimers.clear();
    await Promise.allSettled([...this.inflight]);
  }
}
