/**
 * The composition of the daemon's services (docs/architecture.md, the data path): the one place that constructs the
 * store, the engine and its settle ticker, group commit, retention, the OpenIM client, the poll planner, reconciler
 * and scheduler, health, incidents and push delivery from a Config, and wires them together. The daemon
 * (daemon.ts) adds the HTTP listeners and runs the lifecycle; the sweep benchmark (bench/sweep-bench.ts) measures
 * the same parts.
 *
 * Constructing starts nothing (no timer, no schedule, no delivery): each part has its own start, called by the
 * daemon in order. `closeServices` stops them in order.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { EventBus } from '../engine/event-bus.js';
import type { IngestItem, IngestResult } from '../engine/presence-engine.js';
import { PresenceEngine } from '../engine/presence-engine.js';
import { SettleTicker } from '../engine/settle-ticker.js';
import { HealthService } from '../health/health-service.js';
import { IncidentService } from '../incidents/incident-service.js';
import { GroupCommitter } from '../ingest/group-commit.js';
import { createOpenImClient } from '../openim/openim-client.js';
import { knownPlatformIDs } from '../openim/platforms.js';
import type { OpenImApi } from '../openim/types.js';
import { PollPlanner } from '../poller/poll-planner.js';
import { PollReconciler } from '../poller/poll-reconciler.js';
import { PollScheduler } from '../poller/poll-scheduler.js';
import type { PushTuning } from '../push/push-dispatcher.js';
import { PushDispatcher } from '../push/push-dispatcher.js';
import type { ReconcileOptions } from '../reconciler/reconciler.js';
import { RetentionService } from '../store/retention-service.js';
import type { SqliteStoreOptions } from '../store/sqlite-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';

/** A run of mismatches of one kind and platform continues while they are at most this far apart. */
const INCIDENT_GAP_MS = 5 * 60_000;
/** A run longer than this starts a new incident. */
const INCIDENT_MAX_SPAN_MS = 60 * 60_000;

export interface ServiceDeps {
  logger: Logger;
  now?: () => number;
  /**
   * The store; by default a SqliteStore at `config.store.path`. A store given here is the services' from then on:
   * closed by `closeServices`, or when composing fails.
   */
  store?: Store;
  /** OpenIM's API; by default the axios client built from `config.openim`. Closed like the store. */
  openim?: OpenImApi;
  /** Push delivery timing (retry backoff); defaults suit production. */
  push?: PushTuning;
}

/** The live status API side, present when `poll.enabled`. */
export interface Polling {
  readonly openim: OpenImApi;
  readonly planner: PollPlanner;
  readonly reconciler: PollReconciler;
  readonly scheduler: PollScheduler;
}

export interface Services {
  readonly config: Config;
  readonly store: Store;
  readonly bus: EventBus;
  readonly engine: PresenceEngine;
  /** Applies held offlines when their settle window ends. */
  readonly settle: SettleTicker;
  /** Webhooks in, batched into one engine transaction each, answered once durable. */
  readonly committer: GroupCommitter<IngestItem, IngestResult>;
  readonly retention: RetentionService;
  readonly polling: Polling | undefined;
  readonly health: HealthService;
  readonly incidents: IncidentService;
  readonly push: PushDispatcher;
  /** OpenIM's platform IDs plus `webhook.extraPlatforms`: the webhooks accepted, the health kept. */
  readonly platformIDs: ReadonlySet<number>;
}

/**
 * The end of the first-start warm-up: long enough for the rotation to poll every tracked user once (the coverage
 * period), plus the cycle and confirm poll that decide what the last of them showed. 0 when the store is not new.
 */
function initialSyncUntil(firstStartedAt: number, config: Config): number {
  if (firstStartedAt === 0) return 0;
  const intervalMs = config.poll.intervalSeconds * 1000;
  return firstStartedAt + Math.max(config.poll.coverageSeconds * 1000, intervalMs) + 2 * intervalMs + config.reconcile.confirmDelayMs;
}

/** The reconciliation windows the engine and the poll reconciler share. */
function reconcileOptionsOf(config: Config): ReconcileOptions {
  return {
    settleMs: config.reconcile.settleMs,
    graceMs: config.reconcile.graceMs,
    lateWindowMs: config.reconcile.lateWindowMs,
    // An ambiguous online+offline pair waits for a poll cycle sent after it to decide (without polling: stays
    // online). The hold outlasts a skipped cycle (a cycle longer than the interval) and a slow answer, so a pair is
    // decided by the live view, not by the clock, whenever polling works.
    ambiguousHoldMs: config.poll.enabled
      ? Math.max(config.reconcile.settleMs, 3 * config.poll.intervalSeconds * 1000 + config.reconcile.confirmDelayMs + 2 * config.openim.timeoutMs)
      : 0,
  };
}

function composePolling(config: Config, deps: ServiceDeps, store: Store, bus: EventBus, engine: PresenceEngine, reconcileOptions: ReconcileOptions, now: () => number): Polling {
  const log = deps.logger;
  const openim =
    deps.openim ??
    createOpenImClient({
      apiUrl: config.openim.apiUrl,
      secret: config.openim.secret ?? '',
      adminUserID: config.openim.adminUserID,
      operationIDPrefix: config.openim.operationIDPrefix,
      timeoutMs: config.openim.timeoutMs,
      retries: config.openim.retries,
      batchSize: config.openim.batchSize,
      concurrency: config.openim.concurrency,
      logger: log.child({ component: 'openim' }),
    });
  try {
    const reconciler = new PollReconciler(
      { engine, store, api: openim, bus, log: log.child({ component: 'reconciler' }), now },
      {
        ...reconcileOptions,
        confirmDelayMs: config.reconcile.confirmDelayMs,
        massGuardShare: config.reconcile.massGuardShare,
        massGuardMinUsers: config.reconcile.massGuardMinUsers,
        massGuardHoldMs: config.reconcile.massGuardHoldMs,
        mode: config.mode,
        // As many status pages in flight as the client sends at once (more would only wait in memory).
        pagesInFlight: config.openim.concurrency,
        initialSyncUntil: initialSyncUntil(store.firstStartedAt(now()), config),
      },
    );
    const planner = new PollPlanner(store, {
      intervalSeconds: config.poll.intervalSeconds,
      coverageSeconds: config.poll.coverageSeconds,
      requestsPerSecond: config.poll.requestsPerSecond,
      batchSize: config.openim.batchSize,
      excludeUsers: config.poll.excludeUsers,
    });
    const scheduler = new PollScheduler({ engine, store, api: openim, planner, reconciler, bus, log: log.child({ component: 'poller' }), now }, {
      intervalSeconds: config.poll.intervalSeconds,
      requestsPerSecond: config.poll.requestsPerSecond,
      batchSize: config.openim.batchSize,
      discoveryEnabled: config.poll.discoveryEnabled,
      discoveryIntervalSeconds: config.poll.discoveryIntervalSeconds,
      configuredUsers: config.poll.users,
    });
    return { openim, planner, reconciler, scheduler };
  } catch (err) {
    // The client is the services' (given or built here): closed when the rest cannot be built.
    openim.close();
    throw err;
  }
}

/** What the SQLite store tells the log (the single-node store, and a replica's local copy alike). */
export function sqliteHooks(log: Logger): Omit<SqliteStoreOptions, 'path'> {
  return {
    onCheckpointFailure: (err) => log.warn({ err }, 'WAL checkpoints fell back to the event loop: their worker thread failed'),
    onSyncFailure: (err) => log.fatal({ err }, 'the database cannot be made durable; webhooks are answered 500 until the daemon is restarted'),
  };
}

/**
 * Constructs and wires every service of the daemon from `config`. When a part cannot be constructed (e.g. a
 * subscriber's secret that is not a `whsec_` secret), what was already opened (the store, the OpenIM client, the
 * incident service's subscription) is closed before the error is rethrown.
 */
export function composeServices(config: Config, deps: ServiceDeps): Services {
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  const store = deps.store ?? new SqliteStore({ path: config.store.path, ...sqliteHooks(log) });
  let openim: OpenImApi | undefined;
  let incidents: IncidentService | undefined;
  try {
    const reconcileOptions = reconcileOptionsOf(config);
    const bus = new EventBus();
    const engine = new PresenceEngine(store, bus, { ...reconcileOptions, mode: config.mode }, log.child({ component: 'engine' }), now);
    const committer = new GroupCommitter<IngestItem, IngestResult>({
      commit: (items) => engine.ingest(items),
      maxDelayMs: config.webhook.commitMaxDelayMs,
      maxBatch: config.webhook.commitMaxBatch,
      // A webhook is acknowledged only once its commit is on disk.
      afterCommit: (ok, fail) => store.whenDurable(ok, fail),
      queueLimit: config.webhook.queueLimit,
    });
    const polling = config.poll.enabled ? composePolling(config, deps, store, bus, engine, reconcileOptions, now) : undefined;
    openim = polling?.openim;
    const pollerView = polling
      ? { status: () => polling.scheduler.status(), guard: () => polling.reconciler.guard, openDisagreements: () => polling.reconciler.openDisagreements() }
      : undefined;
    const platformIDs = knownPlatformIDs(config.webhook.extraPlatforms);
    const health = new HealthService(store, engine, pollerView, {
      platformIDs,
      windowMs: config.reconcile.healthWindowMinutes * 60_000,
      renewalSilenceMs: config.reconcile.renewalSilenceMs,
      pollIntervalSeconds: config.poll.intervalSeconds,
      maxFailedCycles: config.poll.readyMaxFailedCycles,
      mode: config.mode,
    }, now);
    // Mismatches grouped into incidents as they are recorded (after the engine's transaction, batched).
    incidents = new IncidentService(store, bus, engine, log.child({ component: 'incidents' }), {
      gapMs: INCIDENT_GAP_MS,
      maxSpanMs: INCIDENT_MAX_SPAN_MS,
      guardHoldMs: config.reconcile.massGuardHoldMs,
      // Offline corrections this long after the hold still follow it: the cycle after the hold (one interval, or two
      // when one is late) and its confirm poll. Longer would sweep in ordinary lost offlines of the time.
      guardFollowMs: 2 * config.poll.intervalSeconds * 1000 + config.reconcile.confirmDelayMs + config.openim.timeoutMs,
      retentionMs: config.store.incidentRetentionDays * 86_400_000,
      openMaxAgeMs: config.store.openMismatchMaxAgeDays * 86_400_000,
      checkEveryMs: Math.max(1000, Math.min(30_000, config.poll.intervalSeconds * 1000)),
    }, now);
    const push = new PushDispatcher({ ...deps.push, subscribers: config.subscribers, store, bus, log: log.child({ component: 'push' }), now });
    const settle = new SettleTicker(engine, config.reconcile.settleMs, log);
    const retention = new RetentionService(store, config.store.retentionDays * 86_400_000, log, now);
    return { config, store, bus, engine, settle, committer, retention, polling, health, incidents, push, platformIDs };
  } catch (err) {
    incidents?.close();
    openim?.close();
    store.close();
    throw err;
  }
}

/**
 * Stops the services in order: the poller (waiting for a running cycle) → push delivery → the OpenIM client →
 * queued webhooks (committed) → incidents → the settle and prune timers → the database. Each step is safe for a part
 * that was never started, so this also releases a daemon whose start failed part-way.
 */
export async function closeServices(s: Services, log: Logger): Promise<void> {
  log.info('shutting down: stopping the poller');
  await s.polling?.scheduler.close();
  log.info('shutting down: stopping push delivery');
  await s.push.close();
  s.polling?.openim.close();
  log.info('shutting down: committing queued webhooks');
  s.committer.close();
  s.incidents.close();
  s.settle.stop();
  await s.retention.stop();
  log.info('shutting down: closing database');
  s.store.close();
}
