import type { Logger } from 'pino';
import type { Retention } from './store.js';

/**
 * Retention (docs/architecture.md, durability): deletes receipts, events, poll runs and observations, and reviewed
 * mismatches older than `store.retentionDays`. While started it prunes once at once, then every tenth of the
 * retention period, at least every hour and at most every second. A failure is logged and the next run tries again.
 */
export class RetentionService {
  private timer: NodeJS.Timeout | undefined;
  readonly periodMs: number;

  constructor(
    private readonly store: Retention,
    private readonly retentionMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.periodMs = Math.min(3_600_000, Math.max(1000, retentionMs / 10));
  }

  /** Prunes now, then periodically; the timer does not keep the process alive. Idempotent. */
  start(): void {
    if (this.timer) return;
    this.prune();
    this.timer = setInterval(() => this.prune(), this.periodMs);
    this.timer.unref();
  }

  /** Stops pruning (a run in progress is synchronous, so none is left behind). Idempotent. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private prune(): void {
    try {
      const r = this.store.prune(this.now() - this.retentionMs);
      if (r.events + r.receipts > 0) this.log.info({ pruned: r }, 'retention applied');
    } catch (err) {
      this.log.error({ err }, 'retention failed');
    }
  }
}
