import type { Logger } from 'pino';
import type { EvidenceItem, KeyState, MismatchKind, NewMismatch, NewPresenceEvent, PresenceEvent } from '../domain.js';
import { keyOf } from '../domain.js';
import { platformName } from '../openim/platforms.js';
import type { PresenceWebhook } from '../openim/webhook-schemas.js';
import { UserFilter } from './user-filter.js';
import type { ReconcileOptions, WebhookDecision } from '../reconciler/reconciler.js';
import { applySettle, applyWebhook, correctedState } from '../reconciler/reconciler.js';
import type { EventLog, MismatchStore, PresenceStateStore, ReceiptLog, Transactions, TrackedUsers } from '../store/store.js';
import type { EventBus } from './event-bus.js';

export interface PresenceEngineOptions extends ReconcileOptions {
  /** shadow: corrections are recorded as mismatches but not published to the stream. */
  mode: 'active' | 'shadow';
}

export interface IngestItem {
  webhook: PresenceWebhook;
  body: string;
  receivedAt: number;
  remoteAddress: string;
}

export type IngestResult = WebhookDecision['effect'] | 'duplicate';

/** Shared by every user without keys; typed readonly (not frozen, so it keeps the map of the other lists). */
const NO_PLATFORMS: readonly number[] = [];

/** True when `b` is `a` with at most `lastVerifiedAt` changed (every field compared, whatever fields KeyState has). */
function differsOnlyInVerification(a: KeyState, b: KeyState): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  let fields = 0;
  for (const k in y) {
    fields++;
    if (k !== 'lastVerifiedAt' && x[k] !== y[k]) return false;
  }
  for (const _ in x) fields--;
  return fields === 0;
}

export interface Correction {
  userID: string;
  platformID: number;
  toOnline: boolean;
  occurredAfter: number | null;
  occurredBefore: number;
  pollAt: number;
  evidence: EvidenceItem[];
  /** Online since before the daemon first started (first-start warm-up): recorded as `initial_sync`, not a miss. */
  initialSync?: boolean;
}

/** The roles of the store the engine writes, as their only writer (docs/architecture.md, writers). */
export type EngineStore = Transactions & ReceiptLog & PresenceStateStore & EventLog & MismatchStore & TrackedUsers;

/**
 * Owns the in-memory presence state and is the only writer of the store's receipts, presence, events, tracked users
 * and recorded mismatches (operators' review status is the incident service's). Every mutation is one store
 * transaction; the in-memory map changes only after its transaction committed.
 */
export class PresenceEngine {
  private readonly keys = new Map<string, KeyState>();
  /** Keys with a held offline (rule 2). */
  private readonly held = new Set<string>();
  private readonly userVersions: Map<string, number>;
  /** Platforms currently online per user (user-level aggregate). */
  private readonly onlinePlatforms = new Map<string, Set<number>>();
  private readonly knownUsers = new Set<string>();

  constructor(
    private readonly store: EngineStore,
    private readonly bus: EventBus,
    private readonly opts: PresenceEngineOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    for (const k of store.loadKeys()) this.setKey(k);
    this.userVersions = store.loadUserVersions();
  }

  /**
   * Loads the state from the store again (with the Redis backend, when this replica becomes the writer: its copy
   * was written by another replica's engine).
   */
  reload(): void {
    this.keys.clear();
    this.held.clear();
    this.onlinePlatforms.clear();
    this.userPlatforms.clear();
    this.keyedUsers = new UserFilter();
    this.userVersions.clear();
    for (const k of this.store.loadKeys()) this.setKey(k);
    for (const [u, v] of this.store.loadUserVersions()) this.userVersions.set(u, v);
  }

  /**
   * Follows writes another replica's engine made (with the Redis backend, on a follower: its copy was just given
   * them), so presence counts and health stay current.
   */
  replicate(keys: readonly KeyState[], versions: readonly (readonly [string, number])[]): void {
    for (const k of keys) this.setKey(k);
    for (const [u, v] of versions) this.userVersions.set(u, v);
  }

  get options(): PresenceEngineOptions {
    return this.opts;
  }

  key(userID: string, platformID: number): KeyState | undefined {
    return this.keys.get(keyOf(userID, platformID));
  }

  keysOfUser(userID: string): KeyState[] {
    const out: KeyState[] = [];
    for (const p of this.platformIDsOf(userID)) {
      const k = this.keys.get(keyOf(userID, p));
      if (k) out.push(k);
    }
    return out;
  }

  /**
   * Platforms with a key for this user (none for users never seen). A poll sweep calls it for every user, most of
   * whom were never seen: the filter answers those without a Map lookup, and nothing is allocated.
   */
  platformIDsOf(userID: string): readonly number[] {
    if (!this.keyedUsers.mayHave(userID)) return NO_PLATFORMS;
    return this.userPlatforms.get(userID) ?? NO_PLATFORMS;
  }

  private readonly userPlatforms = new Map<string, number[]>();
  /** The users of `userPlatforms` (a user never loses its last key, so the filter never needs a removal). */
  private keyedUsers = new UserFilter();

  /** Users with at least one published-online platform. */
  onlineUsers(): IterableIterator<string> {
    return this.onlinePlatforms.keys();
  }

  isUserOnline(userID: string): boolean {
    return this.onlinePlatforms.has(userID);
  }

  onlineUserCount(): number {
    return this.onlinePlatforms.size;
  }

  keyCount(): number {
    return this.keys.size;
  }

  heldCount(): number {
    return this.held.size;
  }

  /** The earliest due time of a held offline, or undefined. */
  nextSettleDue(): number | undefined {
    let min: number | undefined;
    for (const id of this.held) {
      const due = this.keys.get(id)?.pendingOffline?.dueAt;
      if (due !== undefined && (min === undefined || due < min)) min = due;
    }
    return min;
  }

  private addKeyedUser(userID: string, platformID: number): void {
    this.userPlatforms.set(userID, [platformID]);
    this.keyedUsers.add(userID);
    if (this.keyedUsers.crowded) this.keyedUsers = UserFilter.of(this.userPlatforms.keys(), 2 * this.userPlatforms.size);
  }

  private setKey(k: KeyState): void {
    const id = keyOf(k.userID, k.platformID);
    if (!this.keys.has(id)) {
      const list = this.userPlatforms.get(k.userID);
      if (list) list.push(k.platformID);
      else this.addKeyedUser(k.userID, k.platformID);
    }
    this.keys.set(id, k);
    if (k.pendingOffline) this.held.add(id);
    else this.held.delete(id);
    let set = this.onlinePlatforms.get(k.userID);
    if (k.online) {
      if (!set) this.onlinePlatforms.set(k.userID, (set = new Set()));
      set.add(k.platformID);
    } else if (set) {
      set.delete(k.platformID);
      if (set.size === 0) this.onlinePlatforms.delete(k.userID);
    }
  }

  /** Runs `fn` in one transaction; staged key states are applied to memory only after the commit. */
  private unitOfWork<T>(
    fn: (stage: (k: KeyState) => void, publish: (e: NewPresenceEvent) => PresenceEvent) => T,
    beforeCommit?: () => void,
  ): T {
    const staged = new Map<string, KeyState>();
    const published: PresenceEvent[] = [];
    // Versions assigned inside the transaction; applied to memory after commit.
    const versions = new Map<string, number>();
    const onlineAfter = new Map<string, Set<number>>();
    const platformsOf = (userID: string): Set<number> => {
      let s = onlineAfter.get(userID);
      if (!s) onlineAfter.set(userID, (s = new Set(this.onlinePlatforms.get(userID) ?? [])));
      return s;
    };
    const stage = (k: KeyState): void => {
      staged.set(keyOf(k.userID, k.platformID), k);
      this.store.upsertKey(k);
    };
    const publish = (e: NewPresenceEvent): PresenceEvent => {
      const set = platformsOf(e.userID);
      if (e.type === 'presence.online') set.add(e.platformID);
      else set.delete(e.platformID);
      const version = (versions.get(e.userID) ?? this.userVersions.get(e.userID) ?? 0) + 1;
      versions.set(e.userID, version);
      const full = { ...e, userOnline: set.size > 0, userVersion: version };
      const seq = this.store.appendEvent(full);
      this.store.setUserVersion(e.userID, version, full.userOnline, e.recordedAt);
      const ev = { ...full, seq };
      published.push(ev);
      return ev;
    };
    const result = this.store.transaction(() => {
      const r = fn(stage, publish);
      beforeCommit?.();
      return r;
    });
    for (const k of staged.values()) this.setKey(k);
    for (const [u, v] of versions) this.userVersions.set(u, v);
    // Subscribers see events only once they are on disk (in commit order; at once when they already are).
    if (published.length > 0) {
      this.store.whenDurable(
        () => this.bus.emit('events:committed', published),
        (err) => this.log.error({ err, seqs: [published[0]!.seq, published[published.length - 1]!.seq] }, 'committed events never became durable; they are not published'),
      );
    }
    return result;
  }

  /** Rule 1, 2, 5: records a batch of accepted webhooks in one transaction. */
  ingest(items: readonly IngestItem[]): IngestResult[] {
    const started = performance.now();
    const newUsers = new Set<string>();
    const lateIDs: number[] = [];
    const results = this.unitOfWork((stage, publish) => {
      // Within the batch, later items must see earlier items' staged state.
      const local = new Map<string, KeyState>();
      return items.map((item): IngestResult => {
        const w = item.webhook;
        const receiptID = this.store.insertReceipt({
          receivedAt: item.receivedAt,
          command: w.callbackCommand,
          userID: w.userID,
          platformID: w.platformID,
          seq: w.seq,
          operationID: w.operationID,
          dedupeKey: `${w.callbackCommand}|${w.userID}|${w.platformID}|${w.seq}|${w.operationID}`,
          body: item.body,
          remoteAddress: item.remoteAddress,
        });
        if (receiptID === null) return 'duplicate';
        if (!this.knownUsers.has(w.userID)) newUsers.add(w.userID);
        const id = keyOf(w.userID, w.platformID);
        const prev = local.get(id) ?? this.keys.get(id);
        const d = applyWebhook(
          prev,
          {
            kind: w.callbackCommand === 'callbackAfterUserOnlineCommand' ? 'online' : 'offline',
            userID: w.userID,
            platformID: w.platformID,
            seq: w.seq,
            receivedAt: item.receivedAt,
            receiptID,
          },
          this.opts,
        );
        local.set(id, d.state);
        stage(d.state);
        if (d.effect === 'online') {
          publish({
            type: 'presence.online',
            userID: w.userID,
            platformID: w.platformID,
            platform: platformName(w.platformID),
            userOnline: true,
            userVersion: 0,
            source: 'webhook',
            occurredAt: d.occurredAt,
            occurredAfter: null,
            occurredBefore: null,
            recordedAt: item.receivedAt,
            mismatchID: null,
          });
        } else if (d.effect === 'late' && this.markLate(d.mismatchID, d.lateByMs, item.receivedAt, receiptID)) {
          lateIDs.push(d.mismatchID);
        }
        this.store.setReceiptEffect(receiptID, d.effect);
        return d.effect;
      });
    }, () => {
      // Tracked users are written in the same transaction; remembered only once it committed.
      if (newUsers.size > 0) this.store.trackUsers([...newUsers], 'webhook', this.now());
    });
    for (const u of newUsers) this.knownUsers.add(u);
    for (const id of lateIDs) {
      const m = this.store.getMismatch(id);
      if (m) this.bus.emit('mismatch:recorded', m);
    }
    this.bus.emit('commit:batch', { size: items.length, durationMs: performance.now() - started });
    return results;
  }

  /** Rule 5, inside the ingest transaction: the mismatch of a correction becomes late. */
  private markLate(mismatchID: number, lateByMs: number, at: number, receiptID: number): boolean {
    const m = this.store.getMismatch(mismatchID);
    // A key learned at first start was never missed: its first webhook (a renewal) is not late.
    if (!m || m.kind === 'initial_sync') return false;
    const evidence: EvidenceItem[] = [
      ...m.evidence,
      { at, what: 'receipt', ref: receiptID, detail: `the webhook arrived ${Math.round(lateByMs / 1000)} s after the first poll that saw the change` },
    ];
    this.store.updateMismatch(mismatchID, { kind: 'late_webhook', lateByMs, lateAt: at, evidence, updatedAt: this.now() });
    return true;
  }

  /** Rule 2: applies every held offline whose settle window has passed. Returns the number of keys settled. */
  settleDue(now = this.now()): number {
    const due: KeyState[] = [];
    for (const id of this.held) {
      const k = this.keys.get(id);
      if (k?.pendingOffline && k.pendingOffline.dueAt <= now) due.push(k);
    }
    return this.settle(due, now, false);
  }

  /** Applies held offlines now, because a poll confirmed them (ambiguous pairs). */
  applyHeldOfflines(keys: readonly { userID: string; platformID: number }[], now = this.now()): number {
    const list = keys.map((k) => this.key(k.userID, k.platformID)).filter((k): k is KeyState => k?.pendingOffline != null);
    return this.settle(list, now, true);
  }

  private settle(keys: KeyState[], now: number, force: boolean): number {
    if (keys.length === 0) return 0;
    this.unitOfWork((stage, publish) => {
      for (const k of keys) {
        const d = applySettle(k, now, force);
        if (d.effect === 'none') continue;
        stage(d.state);
        if (d.effect === 'expired') {
          this.store.setReceiptEffect(d.receiptID, 'cancelled');
          continue;
        }
        publish({
          type: 'presence.offline',
          userID: k.userID,
          platformID: k.platformID,
          platform: platformName(k.platformID),
          userOnline: false,
          userVersion: 0,
          source: 'webhook',
          occurredAt: d.occurredAt,
          occurredAfter: null,
          occurredBefore: null,
          recordedAt: now,
          mismatchID: null,
        });
        this.store.setReceiptEffect(d.receiptID, 'offline');
      }
    });
    return keys.length;
  }

  /**
   * Records that polls verified these keys. Kept in memory only: `lastVerifiedAt` is persisted with the key's next
   * write, and after a crash an older value is still a true lower bound for a correction's `occurredAfter`.
   */
  markVerified(states: readonly KeyState[]): void {
    for (const s of states) {
      const id = keyOf(s.userID, s.platformID);
      const cur = this.keys.get(id);
      // Usually the very state the poll judged, one field newer: update that field in place, so a sweep does not
      // replace (and promote to the old generation) one object per online key.
      if (cur !== undefined && differsOnlyInVerification(cur, s)) cur.lastVerifiedAt = s.lastVerifiedAt;
      else this.keys.set(id, s);
    }
  }

  /** Stores changed key states from a poll (no events). */
  saveKeyStates(states: readonly KeyState[]): void {
    if (states.length === 0) return;
    this.unitOfWork((stage) => {
      for (const s of states) stage(s);
    });
  }

  /**
   * Rule 4: publishes confirmed corrections (one transaction for all): mismatch record, corrective event
   * (unless shadow mode), and key state.
   */
  correct(corrections: readonly Correction[]): { mismatchIDs: number[]; events: number } {
    if (corrections.length === 0) return { mismatchIDs: [], events: 0 };
    const now = this.now();
    const shadow = this.opts.mode === 'shadow';
    const ids: number[] = [];
    let events = 0;
    this.unitOfWork((stage, publish) => {
      for (const c of corrections) {
        // The confirm poll was judged before an await (the Redis second opinion): a webhook may have brought the key
        // to that state since. A correction that no longer changes anything is dropped, so the stream never repeats a
        // state for a key.
        if ((this.key(c.userID, c.platformID)?.online ?? false) === c.toOnline) continue;
        const kind: MismatchKind = c.initialSync === true ? 'initial_sync' : c.toOnline ? 'missed_online' : 'missed_offline';
        const name = platformName(c.platformID);
        const mismatch: NewMismatch = {
          kind,
          userID: c.userID,
          platformID: c.platformID,
          platform: name,
          detectedAt: now,
          occurredAfter: c.occurredAfter,
          occurredBefore: c.occurredBefore,
          eventSeq: null,
          lateByMs: null,
          lateAt: null,
          status: 'open',
          shadow,
          evidence: c.evidence,
          note: [
            kind === 'initial_sync' ? 'online before the daemon first started: learned by the first polls, not a lost webhook' : '',
            shadow ? 'shadow mode: recorded, not published' : '',
          ]
            .filter(Boolean)
            .join('; '),
          updatedAt: now,
        };
        const mismatchID = this.store.insertMismatch(mismatch);
        ids.push(mismatchID);
        if (shadow) continue;
        const prev = this.key(c.userID, c.platformID);
        stage(correctedState(prev, c.userID, c.platformID, c.toOnline, c.occurredBefore, now, c.pollAt, mismatchID));
        const ev = publish({
          type: c.toOnline ? 'presence.online' : 'presence.offline',
          userID: c.userID,
          platformID: c.platformID,
          platform: name,
          userOnline: c.toOnline,
          userVersion: 0,
          source: 'poll',
          occurredAt: null,
          occurredAfter: c.occurredAfter,
          occurredBefore: c.occurredBefore,
          recordedAt: now,
          mismatchID,
        });
        this.store.updateMismatch(mismatchID, { eventSeq: ev.seq });
        events++;
      }
    });
    for (const id of ids) {
      const m = this.store.getMismatch(id);
      if (m) this.bus.emit('mismatch:recorded', m);
    }
    return { mismatchIDs: ids, events };
  }

  /** Adds users to the poller's rotation (configured or discovered); returns how many were new. */
  trackUsers(userIDs: readonly string[], source: 'config' | 'discovery', now = this.now()): number {
    return this.store.trackUsers(userIDs, source, now);
  }

  /** Resolves a mismatch recorded earlier (a mass disagreement that cleared), with a note of why. */
  resolveMismatch(id: number, detail: string, at = this.now()): void {
    const m = this.store.getMismatch(id);
    if (!m) return;
    this.store.updateMismatch(id, { status: 'resolved', updatedAt: at, evidence: [...m.evidence, { at, what: 'note', detail }] });
  }

  /** Records a mismatch that publishes nothing (transient, suspect_poll). */
  recordMismatch(m: NewMismatch): number {
    const id = this.store.insertMismatch(m);
    const saved = this.store.getMismatch(id);
    if (saved) this.bus.emit('mismatch:recorded', saved);
    this.log.debug({ mismatchID: id, kind: m.kind, userID: m.userID }, 'mismatch recorded');
    return id;
  }
}
