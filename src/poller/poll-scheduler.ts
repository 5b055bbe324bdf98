import cron from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { pollIntervalIssue } from '../config/semantic-checks.js';
import type { EventBus } from '../engine/event-bus.js';
import { ConfigError, OprError } from '../errors.js';
import type { PresenceEngine } from '../engine/presence-engine.js';
import type { OpenImApi } from '../openim/types.js';
import type { PollJournal, TrackedUsers } from '../store/store.js';
import { upperHalfJitter } from '../util/backoff.js';
import { cronForInterval } from './cron-expression.js';
import type { PollPlanner } from './poll-planner.js';
import { startedPollRun } from './poll-run.js';
import type { PollReconciler } from './poll-reconciler.js';

export interface PollSchedulerOptions {
  intervalSeconds: number;
  requestsPerSecond: number;
  batchSize: number;
  discoveryEnabled: boolean;
  discoveryIntervalSeconds: number;
  configuredUsers: readonly string[];
}

export interface PollerStatus {
  lastCycleAt: number | null;
  lastSuccessAt: number | null;
  lastError: string | null;
  consecutiveFailures: number;
  backoffUntil: number | null;
  cycles: number;
  running: boolean;
  lastDiscoveryAt: number | null;
  trackedUsers: number;
}

/** What the scheduler works with. */
export interface PollSchedulerDeps {
  engine: PresenceEngine;
  /** Its own journal (poll runs) and the tracked-user count (docs/architecture.md, writers). */
  store: PollJournal & Pick<TrackedUsers, 'countTrackedUsers'>;
  api: OpenImApi;
  planner: PollPlanner;
  reconciler: PollReconciler;
  bus: EventBus;
  log: Logger;
  now?: () => number;
}

/**
 * Runs poll cycles on a node-cron schedule (no overlapping runs; a first cycle right after start), backs off with
 * jitter after failed cycles, and discovers users through get_all_users_uid on its own schedule.
 */
export class PollScheduler {
  private task: ScheduledTask | undefined;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private discovering: Promise<void> | undefined;
  private closed = false;
  private readonly st: PollerStatus = {
    lastCycleAt: null,
    lastSuccessAt: null,
    lastError: null,
    consecutiveFailures: 0,
    backoffUntil: null,
    cycles: 0,
    running: false,
    lastDiscoveryAt: null,
    trackedUsers: 0,
  };

  private readonly engine: PresenceEngine;
  private readonly store: PollSchedulerDeps['store'];
  private readonly api: OpenImApi;
  private readonly planner: PollPlanner;
  private readonly reconciler: PollReconciler;
  private readonly bus: EventBus;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(
    deps: PollSchedulerDeps,
    private readonly opts: PollSchedulerOptions,
  ) {
    ({ engine: this.engine, store: this.store, api: this.api, planner: this.planner, reconciler: this.reconciler, bus: this.bus, log: this.log } = deps);
    this.now = deps.now ?? Date.now;
  }

  status(): PollerStatus {
    return { ...this.st, running: this.running !== undefined, trackedUsers: this.store.countTrackedUsers() };
  }

  start(): void {
    if (this.opts.configuredUsers.length > 0) this.engine.trackUsers(this.opts.configuredUsers, 'config', this.now());
    const expr = cronForInterval(this.opts.intervalSeconds);
    if (expr === undefined) throw new ConfigError([pollIntervalIssue(this.opts.intervalSeconds) ?? { path: 'poll.intervalSeconds', value: this.opts.intervalSeconds, message: 'cannot be scheduled evenly' }]);
    this.task = cron.schedule(expr, () => this.runCycle(), { noOverlap: true, name: 'poll-cycle' });
    void this.runCycle();
    if (this.opts.discoveryEnabled) {
      const loop = (): void => {
        this.discovering = this.discover().then((ok) => {
          this.discovering = undefined;
          // A failed sweep is retried sooner than the regular schedule.
          const next = ok ? this.opts.discoveryIntervalSeconds : Math.min(this.opts.discoveryIntervalSeconds, 30);
          if (!this.closed) this.discoveryTimer = setTimeout(loop, next * 1000);
        });
      };
      loop();
    }
  }

  /** One cycle: plan, poll, reconcile, record. Skipped while a cycle runs or while backing off. */
  runCycle(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) return this.running;
    if (this.st.backoffUntil !== null && this.now() < this.st.backoffUntil) return Promise.resolve();
    this.running = this.cycle().finally(() => (this.running = undefined));
    return this.running;
  }

  private async cycle(): Promise<void> {
    const startedAt = this.now();
    this.st.lastCycleAt = startedAt;
    const plan = this.planner.plan(this.engine.onlineUsers());
    const note = plan.overBudget
      ? `over budget: ${plan.requests} requests needed, budget ${plan.budget} per interval; ${plan.cut} users of the rotation deferred`
      : '';
    if (plan.overBudget) this.log.warn({ requests: plan.requests, budget: plan.budget, deferred: plan.cut }, 'poll cycle does not fit its request budget');
    const runID = this.store.insertPollRun(startedPollRun('cycle', startedAt, plan.overBudget, note));
    try {
      const stats = await this.reconciler.pollPages(plan.pages, runID);
      const failedAll = stats.usersPolled === 0 && stats.errors > 0;
      const endedAt = this.now();
      this.store.updatePollRun(runID, {
        endedAt,
        usersPolled: stats.usersPolled,
        requests: stats.requests,
        errors: stats.errors,
        disagreements: stats.disagreements,
        note: [note, stats.guarded > 0 ? `mass-disagreement guard held ${stats.guarded} users` : '', failedAll ? 'every batch failed' : '']
          .filter(Boolean)
          .join('; '),
      });
      this.st.cycles++;
      if (failedAll) this.fail(new OprError('OPR_ERR_POLL_FAILED', 'every poll batch failed', { runID, errors: stats.errors }));
      else {
        this.st.lastSuccessAt = endedAt;
        this.st.consecutiveFailures = 0;
        this.st.backoffUntil = null;
        if (stats.errors === 0) this.st.lastError = null;
      }
      this.bus.emit('poll:cycle', {
        kind: 'cycle',
        durationMs: endedAt - startedAt,
        usersPolled: stats.usersPolled,
        requests: stats.requests,
        errors: stats.errors,
        disagreements: stats.disagreements,
        corrections: 0,
      });
      this.log.debug({ runID, ...stats, durationMs: endedAt - startedAt }, 'poll cycle done');
    } catch (err) {
      this.store.updatePollRun(runID, { endedAt: this.now(), errors: 1, note: `failed: ${(err as Error).message}` });
      this.fail(err as Error);
    }
  }

  private fail(err: Error): void {
    this.st.consecutiveFailures++;
    this.st.lastError = err.message;
    // Jittered exponential backoff, counted in intervals: skip 0, 1, 3, 7… cycles, at most 5 minutes.
    const intervalMs = this.opts.intervalSeconds * 1000;
    const base = Math.min(300_000, intervalMs * (2 ** (this.st.consecutiveFailures - 1) - 1));
    this.st.backoffUntil = base > 0 ? this.now() + upperHalfJitter(base) : null;
    this.bus.emit('poll:failed', { error: err });
    this.log.warn({ err, consecutiveFailures: this.st.consecutiveFailures, backoffUntil: this.st.backoffUntil }, 'poll cycle failed: no decisions made');
  }

  /** Adds every userID OpenIM knows to the tracked set. */
  async discover(): Promise<boolean> {
    const started = this.now();
    let seen = 0;
    let added = 0;
    let chunk: string[] = [];
    try {
      for await (const id of this.api.allUserIDs()) {
        if (this.closed) return false;
        chunk.push(id);
        seen++;
        if (chunk.length >= 5000) {
          added += this.engine.trackUsers(chunk, 'discovery', this.now());
          chunk = [];
        }
      }
      added += this.engine.trackUsers(chunk, 'discovery', this.now());
      this.st.lastDiscoveryAt = this.now();
      this.log.info({ seen, added, durationMs: this.now() - started }, 'user discovery done');
      return true;
    } catch (err) {
      if (chunk.length > 0) added += this.engine.trackUsers(chunk, 'discovery', this.now());
      this.log.warn({ err, seen, added }, 'user discovery failed; will retry');
      return false;
    }
  }

  /** Stops the schedule and waits for a running cycle. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.task) await this.task.destroy();
    this.task = undefined;
    if (this.discoveryTimer) clearTimeout(this.discoveryTimer);
    await Promise.allSettled([this.running, this.discovering]);
    await this.reconciler.close();
  }
}
