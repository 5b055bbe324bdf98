import type { Logger } from 'pino';
import type { EventBus } from '../engine/event-bus.js';
import type { PresenceEngine } from '../engine/presence-engine.js';
import { isMassDisagreement } from '../reconciler/reconciler.js';

export interface MassGuardOptions {
  /** Share of the poll-verified believed-online users read offline that raises the guard. */
  share: number;
  /** The guard is raised only when more users than this read offline. */
  minUsers: number;
  /** How long a mass disagreement must persist before it is corrected. */
  holdMs: number;
  mode: 'active' | 'shadow';
}

export interface GuardState {
  /** When the guard was raised (the start of the cycle that first saw the mass disagreement). */
  since: number;
  /** The `suspect_poll` mismatch that records it. */
  mismatchID: number;
  readOffline: number;
  believedOnline: number;
  /** When the hold ends: from then on, the disagreement counts as real and is corrected. */
  holdUntil: number;
}

/**
 * The mass-disagreement guard (docs/architecture.md, rule 6). OpenIM swallows a gateway's error and reads its
 * users as offline, so one poll that shows a large share of the believed-online users offline, with no offline
 * webhooks to explain them, is suspected to be OpenIM's fault: nothing is corrected until the disagreement has
 * persisted for the hold period (a crashed gateway's users stay gone; a slow gateway's come back). While the guard
 * holds, no whole-user offline is corrected by any path: cycles hold their suspects and confirm polls wait.
 */
export class MassGuard {
  private state: GuardState | null = null;

  constructor(
    private readonly engine: PresenceEngine,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly opts: MassGuardOptions,
  ) {}

  get current(): GuardState | null {
    return this.state;
  }

  /** True while the guard is raised and its hold has not ended: whole-user offlines must wait. */
  holds(at: number): boolean {
    return this.state !== null && at < this.state.holdUntil;
  }

  /**
   * Judges one whole cycle: `suspects` of its `believedOnline` poll-verified online users read wholly offline with
   * nothing to explain it. Raises the guard on a mass disagreement and clears it once a cycle shows none. Answers
   * whether the suspects must be held (the guard is raised and its hold has not ended).
   */
  judgeCycle(cycleAt: number, believedOnline: number, suspects: readonly string[], runID: number): boolean {
    const mass = isMassDisagreement(believedOnline, suspects.length, { share: this.opts.share, minUsers: this.opts.minUsers });
    if (!mass) {
      if (this.state !== null) this.clear(cycleAt);
      return false;
    }
    if (this.state === null) this.raise(cycleAt, believedOnline, suspects, runID);
    if (this.holds(cycleAt)) return true;
    this.log.warn({ readOffline: suspects.length, since: this.state!.since }, 'mass disagreement persisted past the hold: correcting');
    return false;
  }

  private raise(at: number, believedOnline: number, suspects: readonly string[], runID: number): void {
    const sample = suspects.slice(0, 10);
    const holdSeconds = Math.round(this.opts.holdMs / 1000);
    const mismatchID = this.engine.recordMismatch({
      kind: 'suspect_poll',
      userID: sample[0] ?? '',
      platformID: null,
      platform: '',
      detectedAt: at,
      occurredAfter: null,
      occurredBefore: at,
      eventSeq: null,
      lateByMs: null,
      lateAt: null,
      status: 'open',
      shadow: this.opts.mode === 'shadow',
      evidence: [
        {
          at,
          what: 'poll',
          ref: runID,
          detail: `${suspects.length} of ${believedOnline} believed-online users read offline with no offline webhooks (e.g. ${sample.join(', ')})`,
        },
      ],
      note: `mass disagreement: ${suspects.length} of ${believedOnline} believed-online users read offline at once; likely a slow or failed gateway whose error OpenIM swallowed. Nothing is corrected unless it persists for ${holdSeconds} s.`,
      updatedAt: at,
    });
    this.state = { since: at, mismatchID, readOffline: suspects.length, believedOnline, holdUntil: at + this.opts.holdMs };
    this.bus.emit('guard:raised', { readOffline: suspects.length, believedOnline });
    this.log.warn({ readOffline: suspects.length, believedOnline, mismatchID }, 'mass disagreement: holding corrections');
  }

  private clear(at: number): void {
    const g = this.state!;
    this.state = null;
    this.engine.resolveMismatch(g.mismatchID, `the disagreement cleared after ${Math.round((at - g.since) / 1000)} s`, at);
    this.log.info({ mismatchID: g.mismatchID }, 'mass disagreement cleared');
  }
}
