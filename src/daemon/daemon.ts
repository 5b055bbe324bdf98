/**
 * The daemon: the services of compose-services.ts behind two HTTP listeners (webhooks, and the /v1 API with the
 * dashboard), and their lifecycle (docs/architecture.md, the data path). Start is ordered: services composed →
 * settle and prune timers → listeners → poller, push delivery, incidents. So is shutdown: listeners → poller → push →
 * queued webhooks → settle and prune timers → database. A start that fails part-way closes whatever it had opened
 * before the error is rethrown.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { IncomingMessage, RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { requireSecrets } from '../config/load-config.js';
import type { Config } from '../config/schema.js';
import { installApiErrorHandler } from '../api/http-errors.js';
import { registerApiRoutes } from '../api/register-routes.js';
import type { EventBus } from '../engine/event-bus.js';
import type { PresenceEngine } from '../engine/presence-engine.js';
import { ConfigError, isOprError } from '../errors.js';
import { registerWebhookRoutes } from '../ingest/webhook-routes.js';
import type { HealthService } from '../health/health-service.js';
import type { ConnectionLimits } from '../http/connection-guard.js';
import { ConnectionGuard } from '../http/connection-guard.js';
import { createMetrics } from '../metrics/metrics.js';
import { webhookErrorBody } from '../openim/webhook-schemas.js';
import type { PollScheduler } from '../poller/poll-scheduler.js';
import type { DemoStatus } from '../demo/demo-script.js';
import type { IncidentService } from '../incidents/incident-service.js';
import type { Store } from '../store/store.js';
import type { ServiceDeps, Services } from './compose-services.js';
import { closeServices, composeServices, sqliteHooks } from './compose-services.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { registerWriteForwarding } from '../cluster/write-forwarding.js';

export interface DaemonDeps extends ServiceDeps {
  /** Only under `demo`: the scripted episode now, served at /v1/demo for the dashboard's banner. */
  demo?: () => DemoStatus;
  /**
   * With the Redis backend: told when this replica must stop (it lost the writer lease, or its copy diverged from
   * the shared log). By default the daemon logs it, closes and exits the process with status 1, to be restarted.
   */
  onFatal?: (e: Error) => void;
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
  /** With the Redis backend: this replica of the deployment. */
  readonly cluster: ClusterNode | undefined;
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

function urlOf(app: FastifyInstance): string {
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${host}:${addr.port}`;
}

/** The listener's URL as other hosts reach it: a wildcard address (0.0.0.0, ::) becomes this host's name. */
function reachableUrlOf(app: FastifyInstance): string {
  const addr = app.server.address() as AddressInfo;
  if (addr.address === '0.0.0.0' || addr.address === '::') return `http://${hostname()}:${addr.port}`;
  return urlOf(app);
}

/**
 * A listener that cannot listen (the port in use or not allowed, the address not on this host), as the
 * configuration problem it is: the issue names the key to change.
 */
function listenError(err: unknown, section: 'webhook' | 'api', c: Config['webhook'] | Config['api'], shared: boolean): unknown {
  if (isOprError(err) || !(err instanceof Error)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const key = code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'host' : 'port';
  const what = shared ? 'the webhook and API listener (one server, same host and port)' : `the ${section} listener`;
  return new ConfigError([{ path: `${section}.${key}`, value: c[key], message: `${what} cannot listen on ${c.host}:${c.port}: ${err.message}` }]);
}

/** The two HTTP listeners (one server when they share host and port) and their ordered close. */
interface Listeners {
  readonly api: FastifyInstance;
  readonly webhook: FastifyInstance;
  readonly shared: boolean;
  listen(): Promise<void>;
  /** Stops accepting, answers webhooks in flight (10 s at most), then closes every connection. */
  close(): Promise<void>;
}

function createListeners(config: Config, services: Services, deps: DaemonDeps, pathSecret: string, cluster: ClusterNode | undefined): Listeners {
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  const { store, bus, engine, health, incidents, push, committer, platformIDs } = services;
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
  if (cluster) {
    registerWriteForwarding(api, {
      isWriter: () => cluster.isWriter,
      writer: () => cluster.writerNow(),
      replica: cluster.replica,
      timeoutMs: config.store.redis.commandTimeoutMs,
    });
  }
  registerApiRoutes(api, {
    config,
    store,
    bus,
    health,
    metrics,
    log,
    now,
    push,
    incidents,
    ...(deps.demo ? { demo: deps.demo } : {}),
    ...(cluster ? { cluster } : {}),
    onClose: (fn) => closeHooks.push(fn),
  });

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
    // With the Redis backend, into the shared inbox (the writer ingests it); otherwise into this node's group commit.
    submit: cluster ? (i) => cluster.submit(i) : (i) => committer.submit(i),
    bus,
    now,
  });

  return {
    api,
    webhook,
    shared,
    listen: async () => {
      try {
        await api.listen({ host: config.api.host, port: config.api.port });
      } catch (err) {
        throw listenError(err, 'api', config.api, shared);
      }
      if (shared) return;
      try {
        await webhook.listen({ host: config.webhook.host, port: config.webhook.port });
      } catch (err) {
        throw listenError(err, 'webhook', config.webhook, false);
      }
    },
    close: async () => {
      const webhookClosed = webhook.close();
      if (!shared) await api.close();
      const drainUntil = Date.now() + 10_000;
      while (webhooksInFlight > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 10));
      // Keep-alive sockets that went idle after close() began would otherwise linger until their timeout.
      webhook.server.closeAllConnections();
      if (shared) api.server.closeAllConnections();
      await webhookClosed;
    },
  };
}

export async function startDaemon(config: Config, deps: DaemonDeps): Promise<Daemon> {
  const log = deps.logger;
  const pathSecret = config.webhook.pathSecret;
  // `run` refuses this before starting (the same issue); a configuration built in code gets it here.
  if (pathSecret === undefined) throw new ConfigError(requireSecrets(config).filter((issue) => issue.path === 'webhook.pathSecret'));

  let cluster: ClusterNode | undefined;
  let fatal = (e: Error): void => {
    throw e;
  };
  if (config.store.backend === 'redis' && deps.store === undefined) {
    cluster = await ClusterNode.open(config, { logger: log, sqlite: sqliteHooks(log), onFatal: (e) => fatal(e) });
  }
  // Constructs everything but starts nothing; closes what it opened if a part cannot be constructed.
  let services: Services;
  try {
    services = composeServices(config, cluster ? { ...deps, store: cluster.store } : deps);
  } catch (err) {
    await cluster?.close();
    throw err;
  }
  const { store, engine, bus, health, incidents, push } = services;
  const poller = services.polling?.scheduler;
  let listeners: Listeners | undefined;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (listeners) {
        log.info('shutting down: closing listeners');
        await listeners.close();
      }
      await cluster?.stopWork();
      await closeServices(services, log);
      if (cluster) {
        log.info('shutting down: handing the shared log and the writer lease over');
        await cluster.close();
      }
      log.info('shut down');
    })());
  fatal =
    deps.onFatal ??
    ((e: Error): void => {
      log.fatal({ err: e }, 'this replica must stop: it exits, to be restarted');
      void close().finally(() => process.exit(1));
    });

  /** The services only the writer runs (with the Redis backend: once this replica holds the writer lease). */
  const startWriting = (): void => {
    // Held offlines take effect when their settle window ends; retention runs once now, then periodically.
    services.settle.start();
    services.retention.start();
    poller?.start();
    push.start();
    incidents.start();
  };
  try {
    listeners = createListeners(config, services, deps, pathSecret, cluster);
    if (cluster) {
      await listeners.listen();
      cluster.start({ engine, bus, start: startWriting }, reachableUrlOf(listeners.api));
    } else {
      // Settling and retention run before the listeners open, polling and delivery after.
      services.settle.start();
      services.retention.start();
      await listeners.listen();
      poller?.start();
      push.start();
      incidents.start();
    }
  } catch (err) {
    log.info('start failed: closing what was opened');
    await close().catch((closeErr: unknown) => log.error({ err: closeErr }, 'closing after a failed start failed'));
    throw err;
  }

  const apiUrl = urlOf(listeners.api);
  const webhookUrl = `${urlOf(listeners.webhook)}/${pathSecret}`;
  log.info(
    { api: apiUrl, webhook: `${urlOf(listeners.webhook)}/<webhook.pathSecret>`, store: store.location, mode: config.mode, events: store.headSeq() },
    'daemon listening',
  );
  return { config, webhookUrl, apiUrl, store, engine, bus, health, poller, incidents, cluster, close };
}
