/**
 * The composition root: the one place that constructs and wires the daemon's parts. Nothing else constructs them.
 * Shutdown is ordered and idempotent: listeners → scheduler → pending writes → database.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { IncomingMessage, RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { requireSecrets } from '../config/load-config.js';
import type { Config } from '../config/schema.js';
import { installApiErrorHandler } from '../api/http-errors.js';
import { registerApiRoutes } from '../api/register-routes.js';
import { EventBus } from '../engine/event-bus.js';
import type { IngestItem, IngestResult } from '../engine/presence-engine.js';
import { PresenceEngine } from '../engine/presence-engine.js';
import { ConfigError } from '../errors.js';
import { GroupCommitter } from '../ingest/group-commit.js';
import { registerWebhookRoutes } from '../ingest/webhook-routes.js';
import { HealthService } from '../health/health-service.js';
import type { ConnectionLimits } from '../http/connection-guard.js';
import { ConnectionGuard } from '../http/connection-guard.js';
import { createMetrics } from '../metrics/metrics.js';
import { createOpenImClient } from '../openim/openim-client.js';
import { knownPlatformIDs } from '../openim/platforms.js';
import { webhookErrorBody } from '../openim/webhook-schemas.js';
import type { OpenImApi } from '../openim/types.js';
import { PollPlanner } from '../poller/poll-planner.js';
import { PollReconciler } from '../poller/poll-reconciler.js';
import { PollScheduler } from '../poller/poll-scheduler.js';
import type { PushTuning } from '../push/push-dispatcher.js';
import { PushDispatcher } from '../push/push-dispatcher.js';
import type { ReconcileOptions } from '../reconciler/reconciler.js';
import type { DemoStatus } from '../demo/demo-script.js';
import { IncidentService } from '../incidents/incident-service.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';

/** A run of mismatches of one kind and platform continues while they are at most this far apart. */
const INCIDENT_GAP_MS = 5 * 60_000;
/** A run longer than this starts a new incident. */
const INCIDENT_MAX_SPAN_MS = 60 * 60_000;

export interface DaemonDeps {
  logger: Logger;
  now?: () => number;
  /** OpenIM's API; by default the axios client built from `config.openim`. */
  openim?: OpenImApi;
  /** Push delivery timing (retry backoff); defaults suit production. */
  push?: PushTuning;
  /** Only under `demo`: the scripted episode now, served at /v1/demo for the dashboard's banner. */
  demo?: () => DemoStatus;
}

export interface Daemon {
  readonly config: Config;
  /** Base URL of the webhook listener, including the path secret (what OpenIM's webhooks.yml `url` should be). */
  readonly webhookUrl: string;
  /** Base URL of the /v1 API and dashboard. */
  readonly apiUrl: string;
  readonly store: Store;
  readonly engine: PresenceEngine;
  readonly bus: EventBus;
  readonly health: HealthService;
  /** Present when polling is enabled. */
  readonly poller: PollScheduler | undefined;
  readonly incidents: IncidentService;
  close(): Promise<void>;
}

/** The connection limits of one listener's configuration section. */
function limitsOf(c: Config['webhook'] | Config['api']): ConnectionLimits {
  return { maxConnections: c.maxConnections, headersTimeoutMs: c.headersTimeoutMs, bodyTimeoutMs: c.bodyTimeoutMs, keepAliveTimeoutMs: c.keepAliveTimeoutMs };
}

/** The liveness and readiness probes: answered even over the API's connection cap. */
function isProbe(req: IncomingMessage): boolean {
  const path = (req.url ?? '').split('?')[0];
  return path === '/healthz' || path === '/readyz';
}

const WEBHOOK_OVER_CAP = {
  contentType: 'application/json; charset=utf-8',
  body: webhookErrorBody('receiver at its connection limit (webhook.maxConnections), retry later'),
};
const API_OVER_CAP = {
  contentType: 'application/json; charset=utf-8',
  body: JSON.stringify({ error: { code: 'OPR_ERR_TOO_MANY_CONNECTIONS', message: 'the API is at its connection limit (api.maxConnections), retry later' } }),
};

/**
 * The end of the first-start warm-up: long enough for the rotation to poll every tracked user once (the coverage
 * period), plus the cycle and confirm poll that decide what the last of them showed. 0 when the store is not new.
 */
function initialSyncUntil(firstStartedAt: number, config: Config): number {
  if (firstStartedAt === 0) return 0;
  const intervalMs = config.poll.intervalSeconds * 1000;
  return firstStartedAt + Math.max(config.poll.coverageSeconds * 1000, intervalMs) + 2 * intervalMs + config.reconcile.confirmDelayMs;
}

function urlOf(app: FastifyInstance): string {
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${host}:${addr.port}`;
}

export async function startDaemon(config: Config, deps: DaemonDeps): Promise<Daemon> {
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  const pathSecret = config.webhook.pathSecret;
  // `run` refuses this before starting (the same issue); a configuration built in code gets it here.
  if (pathSecret === undefined) throw new ConfigError(requireSecrets(config).filter((issue) => issue.path === 'webhook.pathSecret'));

  const reconcileOptions: ReconcileOptions = {
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
  const store = new SqliteStore({
    path: config.store.path,
    onCheckpointFailure: (err) => log.warn({ err }, 'WAL checkpoints fell back to the event loop: their worker thread failed'),
    onSyncFailure: (err) => log.fatal({ err }, 'the database cannot be made durable; webhooks are answered 500 until the daemon is restarted'),
  });
  const bus = new EventBus();
  const engine = new PresenceEngine(
    store,
    bus,
    { ...reconcileOptions, mode: config.mode },
    log.child({ component: 'engine' }),
    now,
  );
  const committer = new GroupCommitter<IngestItem, IngestResult>({
    commit: (items) => engine.ingest(items),
    maxDelayMs: config.webhook.commitMaxDelayMs,
    maxBatch: config.webhook.commitMaxBatch,
    // A webhook is acknowledged only once its commit is on disk.
    afterCommit: (ok, fail) => store.whenDurable(ok, fail),
    queueLimit: config.webhook.queueLimit,
  });

  let openim: OpenImApi | undefined;
  let poller: PollScheduler | undefined;
  let reconciler: PollReconciler | undefined;
  if (config.poll.enabled) {
    openim =
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
    reconciler = new PollReconciler(
      engine,
      store,
      openim,
      bus,
      log.child({ component: 'reconciler' }),
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
      now,
    );
    const planner = new PollPlanner(store, {
      intervalSeconds: config.poll.intervalSeconds,
      coverageSeconds: config.poll.coverageSeconds,
      requestsPerSecond: config.poll.requestsPerSecond,
      batchSize: config.openim.batchSize,
      excludeUsers: config.poll.excludeUsers,
    });
    poller = new PollScheduler(engine, store, openim, planner, reconciler, bus, log.child({ component: 'poller' }), {
      intervalSeconds: config.poll.intervalSeconds,
      requestsPerSecond: config.poll.requestsPerSecond,
      batchSize: config.openim.batchSize,
      discoveryEnabled: config.poll.discoveryEnabled,
      discoveryIntervalSeconds: config.poll.discoveryIntervalSeconds,
      configuredUsers: config.poll.users,
    }, now);
  }
  const pollerView = poller && reconciler ? { status: () => poller.status(), guard: () => reconciler.guard, openDisagreements: () => reconciler.openDisagreements() } : undefined;
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
  const incidents = new IncidentService(store, bus, engine, log.child({ component: 'incidents' }), {
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
  // The listeners' connection guards, created with their servers below (read by /metrics on scrape).
  const guards: { listener: 'webhook' | 'api' | 'shared'; guard: ConnectionGuard }[] = [];
  const metrics = createMetrics({
    bus,
    store,
    webhookHealth: () => health.webhookHealth(),
    connections: () => guards.map((g) => ({ listener: g.listener, ...g.guard.stats() })),
    presence: { onlineUsers: () => engine.onlineUserCount(), keys: () => engine.keyCount(), heldOffline: () => engine.heldCount() },
    now,
  });

  const shared = config.webhook.host === config.api.host && config.webhook.port === config.api.port && config.api.port !== 0;
  const isWebhookRequest = (url: string): boolean => url.startsWith(`/${pathSecret}`);
  const fastifyOptions = {
    loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true },
    bodyLimit: config.webhook.bodyLimitBytes,
    // Idle keep-alive sockets close at once; requests in flight are answered (their commits still run).
    forceCloseConnections: 'idle',
  } as const;
  /** Fastify options that give an instance a server of its own, its connections held to `guard`'s limits. */
  const guarded = (listener: 'webhook' | 'api' | 'shared', guard: ConnectionGuard): { serverFactory: (handler: RequestListener) => Server; clientErrorHandler: ConnectionGuard['clientError'] } => {
    guards.push({ listener, guard });
    return { serverFactory: (handler) => guard.createServer(handler), clientErrorHandler: guard.clientError };
  };
  let apiGuard: ConnectionGuard;
  if (shared) {
    // One server for both: the two caps add up; each timeout is the shorter of the two.
    const w = limitsOf(config.webhook);
    const a = limitsOf(config.api);
    apiGuard = new ConnectionGuard({
      maxConnections: w.maxConnections + a.maxConnections,
      headersTimeoutMs: Math.min(w.headersTimeoutMs, a.headersTimeoutMs),
      bodyTimeoutMs: Math.min(w.bodyTimeoutMs, a.bodyTimeoutMs),
      keepAliveTimeoutMs: Math.min(w.keepAliveTimeoutMs, a.keepAliveTimeoutMs),
      alwaysServe: isProbe,
      overCapAnswer: (req) => (isWebhookRequest(req.url ?? '') ? WEBHOOK_OVER_CAP : API_OVER_CAP),
    });
  } else {
    apiGuard = new ConnectionGuard({ ...limitsOf(config.api), alwaysServe: isProbe, overCapAnswer: () => API_OVER_CAP });
  }

  // The API cuts its connections on close (SSE streams and long polls would otherwise hold shutdown).
  const api = Fastify({ ...fastifyOptions, ...guarded(shared ? 'shared' : 'api', apiGuard), forceCloseConnections: shared ? 'idle' : true });
  installApiErrorHandler(api);
  const closeHooks: (() => void | Promise<void>)[] = [];
  api.addHook('preClose', async () => {
    await Promise.allSettled(closeHooks.map(async (fn) => fn()));
  });
  const push = new PushDispatcher({ ...deps.push, subscribers: config.subscribers, store, bus, log: log.child({ component: 'push' }), now });
  registerApiRoutes(api, { config, store, engine, bus, health, poller, metrics, log, now, push, incidents, ...(deps.demo ? { demo: deps.demo } : {}), onClose: (fn) => closeHooks.push(fn) });

  const webhook = shared
    ? api
    : Fastify({ ...fastifyOptions, ...guarded('webhook', new ConnectionGuard({ ...limitsOf(config.webhook), overCapAnswer: () => WEBHOOK_OVER_CAP })) });
  // Webhook requests in flight: on shutdown they are answered (after their commit) before sockets are closed. Counted
  // down when the answer is finished or the connection is gone, whichever comes first.
  let webhooksInFlight = 0;
  webhook.addHook('onRequest', (req, reply, done) => {
    if (isWebhookRequest(req.url)) {
      webhooksInFlight++;
      reply.raw.once('close', () => webhooksInFlight--);
    }
    done();
  });
  // A 404 closes the connection: a wrong path secret (answered before the body is read, like any unknown path) must
  // not leave a declared body of any size to be read and thrown away. So does any refusal sent before its body came.
  webhook.addHook('onSend', (req, reply, payload, done) => {
    if (reply.statusCode === 404 || (reply.statusCode >= 400 && !req.raw.complete)) void reply.header('connection', 'close');
    done(null, payload);
  });
  registerWebhookRoutes(webhook, {
    pathSecret,
    allowlist: config.webhook.allowlist,
    platformIDs,
    submit: (i) => committer.submit(i),
    bus,
    now,
  });

  // Held offlines take effect when their settle window ends.
  const settleEvery = Math.max(10, Math.min(100, Math.floor(config.reconcile.settleMs / 4)));
  const settleTimer = setInterval(() => {
    try {
      engine.settleDue();
    } catch (err) {
      log.error({ err }, 'applying held offlines failed');
    }
  }, settleEvery);
  settleTimer.unref();

  const retentionMs = config.store.retentionDays * 86_400_000;
  const prune = (): void => {
    try {
      const r = store.prune(now() - retentionMs);
      if (r.events + r.receipts > 0) log.info({ pruned: r }, 'retention applied');
    } catch (err) {
      log.error({ err }, 'retention failed');
    }
  };
  prune();
  const pruneTimer = setInterval(prune, Math.min(3_600_000, Math.max(1000, retentionMs / 10)));
  pruneTimer.unref();

  try {
    await api.listen({ host: config.api.host, port: config.api.port });
    if (!shared) await webhook.listen({ host: config.webhook.host, port: config.webhook.port });
  } catch (err) {
    clearInterval(settleTimer);
    clearInterval(pruneTimer);
    incidents.close();
    await api.close();
    if (!shared) await webhook.close();
    store.close();
    throw err;
  }

  poller?.start();
  push.start();
  incidents.start();
  const apiUrl = urlOf(api);
  const webhookUrl = `${urlOf(webhook)}/${pathSecret}`;
  log.info(
    { api: apiUrl, webhook: `${urlOf(webhook)}/<webhook.pathSecret>`, store: store.location, mode: config.mode, events: store.headSeq() },
    'daemon listening',
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      log.info('shutting down: closing listeners');
      const webhookClosed = webhook.close();
      if (!shared) await api.close();
      const drainUntil = Date.now() + 10_000;
      while (webhooksInFlight > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 10));
      // Keep-alive sockets that went idle after close() began would otherwise linger until their timeout.
      webhook.server.closeAllConnections();
      if (shared) api.server.closeAllConnections();
      await webhookClosed;
      log.info('shutting down: stopping the poller');
      await poller?.close();
      log.info('shutting down: stopping push delivery');
      await push.close();
      openim?.close();
      log.info('shutting down: committing queued webhooks');
      committer.close();
      incidents.close();
      clearInterval(settleTimer);
      clearInterval(pruneTimer);
      log.info('shutting down: closing database');
      store.close();
      log.info('shut down');
    })());

  return { config, webhookUrl, apiUrl, store, engine, bus, health, poller, incidents, close };
}
