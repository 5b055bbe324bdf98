import type { Logger } from 'pino';
import type { PresenceEngine } from './presence-engine.js';

/**
 * Rule 2's clock (docs/architecture.md, reconciliation rules): held offlines take effect when their settle window
 * ends. While started, applies the due ones (`PresenceEngine.settleDue`) every quarter of `reconcile.settleMs`,
 * at least every 100 ms and at most every 10 ms. A failure is logged and the next tick tries again.
 */
export class SettleTicker {
  private timer: NodeJS.Timeout | undefined;
  readonly periodMs: number;

  constructor(
    private readonly engine: Pick<PresenceEngine, 'settleDue'>,
    settleMs: number,
    private readonly log: Logger,
  ) {
    this.periodMs = Math.max(10, Math.min(100, Math.floor(settleMs / 4)));
  }

  /** Starts ticking; the timer does not keep the process alive. Idempotent. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.timer.unref();
  }

  /** Stops ticking (offlines still held stay in the store and are applied after the next start). Idempotent. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    try {
      this.engine.settleDue();
    } catch (err) {
      this.log.error({ err }, 'applying held offlines failed');
    }
  }
}
