import type { Logger } from 'pino';
import type { PruneResult, Retention } from './store.js';

/** Rows of each table one step deletes: about 13 ms of the event loop with the rollup triggers (seconds for a large backlog in one transaction). */
const ROWS_PER_STEP = 1000;

/**
 * Retention (docs/architecture.md, durability): deletes receipts, events, poll runs and observations, and reviewed
 * mismatches older than `store.retentionDays`. While started it prunes at once, then every tenth of the retention
 * period, at least every hour and at most every second. A run deletes in short steps (`ROWS_PER_STEP` rows of each
 * table, one transaction each) with the event loop free between them, so webhooks keep being answered while a large
 * backlog goes. A failure is logged and the next run tries again.
 */
export class RetentionService {
  private timer: NodeJS.Timeout | undefined;
  /** The run in progress, if any (a run started while one is going is skipped). */
  private running: Promise<void> | undefined;
  private stopped = false;
  readonly periodMs: number;

  constructor(
    private readonly store: Retention,
    private readonly retentionMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly rowsPerStep = ROWS_PER_STEP,
  ) {
    this.periodMs = Math.min(3_600_000, Math.max(1000, retentionMs / 10));
  }

  /** Prunes now, then periodically; the timer does not keep the process alive. Idempotent. */
  start(): void {
    if (this.timer) return;
    this.stopped = false;
    void this.run();
    this.timer = setInterval(() => void this.run(), this.periodMs);
    this.timer.unref();
  }

  /** Stops pruning; a run in progress ends after its current step (resolved when it has). Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One run: steps until nothing older than the horizon is left. Resolves when it ends; never rejects. */
  run(): Promise<void> {
    this.running ??= this.steps().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async steps(): Promise<void> {
    const horizon = this.now() - this.retentionMs;
    const total: PruneResult = { events: 0, receipts: 0, mismatches: 0, pollRuns: 0, observations: 0 };
    let steps = 0;
    try {
      for (;;) {
        const r = this.store.pruneStep(horizon, this.rowsPerStep);
        steps++;
        total.events += r.events;
        total.receipts += r.receipts;
        total.mismatches += r.mismatches;
        total.pollRuns += r.pollRuns;
        total.observations += r.observations;
        if (!r.more) break;
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.stopped) break;
      }
      if (total.events + total.receipts > 0) this.log.info({ pruned: total, steps }, 'retention applied');
    } catch (err) {
      this.log.error({ err }, 'retention failed');
    }
  }
}
