/**
 * The composition root: the one place that constructs and wires the daemon's parts. Nothing else constructs them.
 * Shutdown is ordered and idempotent: listeners → scheduler → pending writes → database.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { installApiErrorHandler } from '../api/http-errors.js';
import { registerEventPageRoute } from '../api/events-routes.js';
import { EventBus } from '../engine/event-bus.js';
import type { IngestItem, IngestResult } from '../engine/presence-engine.js';
import { PresenceEngine } from '../engine/presence-engine.js';
import { GroupCommitter } from '../ingest/group-commit.js';
import { registerWebhookRoutes } from '../ingest/webhook-routes.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';

export interface DaemonDeps {
  logger: Logger;
  now?: () => number;
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
  close(): Promise<void>;
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
  if (pathSecret === undefined) throw new Error('webhook.pathSecret is required');

  const store = new SqliteStore({ path: config.store.path });
  const bus = new EventBus();
  const engine = new PresenceEngine(
    store,
    bus,
    { settleMs: config.reconcile.settleMs, graceMs: config.reconcile.graceMs, mode: config.mode },
    log.child({ component: 'engine' }),
    now,
  );
  const committer = new GroupCommitter<IngestItem, IngestResult>({
    commit: (items) => engine.ingest(items),
    maxDelayMs: config.webhook.commitMaxDelayMs,
    maxBatch: config.webhook.commitMaxBatch,
    queueLimit: config.webhook.queueLimit,
  });

  const shared = config.webhook.host === config.api.host && config.webhook.port === config.api.port && config.api.port !== 0;
  const fastifyOptions = {
    loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true },
    bodyLimit: config.webhook.bodyLimitBytes,
    forceCloseConnections: true,
  } as const;

  const api = Fastify(fastifyOptions);
  installApiErrorHandler(api);
  registerEventPageRoute(api, { store, bus, maxPageSize: config.api.maxPageSize, maxWaitSeconds: config.api.maxWaitSeconds });
  api.get('/healthz', () => ({ status: 'ok' }));
  api.get('/readyz', () => ({ status: 'ready' }));

  const webhook = shared ? api : Fastify(fastifyOptions);
  registerWebhookRoutes(webhook, { pathSecret, allowlist: config.webhook.allowlist, submit: (i) => committer.submit(i), bus, now });

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
    await api.close();
    if (!shared) await webhook.close();
    store.close();
    throw err;
  }

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
      await webhook.close();
      if (!shared) await api.close();
      log.info('shutting down: committing queued webhooks');
      committer.close();
      clearInterval(settleTimer);
      clearInterval(pruneTimer);
      log.info('shutting down: closing database');
      store.close();
      log.info('shut down');
    })());

  return { config, webhookUrl, apiUrl, store, engine, bus, close };
}
