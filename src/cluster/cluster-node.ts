/**
 * One replica of a deployment on the Redis backend (docs/architecture.md, the Redis backend). Every replica accepts
 * webhooks (into the inbox), and serves the API, SSE and the dashboard from its local copy, which its follower keeps
 * in step with the shared log. One replica at a time holds the writer lease and runs the writing services: the
 * inbox consumer, the poller, settling, push delivery, incidents and retention. The others try to take the lease
 * every third of its TTL; the one that does catches its copy up with the log (which nobody else can now extend),
 * reloads its engine and starts the writing services.
 *
 * Lifecycle: `open` (connect, check durability, open the local copy) → the services are composed on `store` →
 * `start` (follow, elect) → `close` (stop writing, release the lease, disconnect).
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../engine/event-bus.js';
import type { IngestItem, PresenceEngine } from '../engine/presence-engine.js';
import type { SqliteStore, SqliteStoreOptions } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import type { ClusterKeys } from './cluster-keys.js';
import { clusterKeys } from './cluster-keys.js';
import { openLocalCopy } from './local-copy.js';
import type { Applied } from './log-follower.js';
import { LogFollower } from './log-follower.js';
import type { DurabilityCheck } from './redis-connection.js';
import { checkDurability, connectRedis, openRedis, safeRedisUrl } from './redis-connection.js';
import { RedisLog } from './redis-log.js';
import { Snapshotter } from './snapshots.js';
import { ReplicatedStore } from './replicated-store.js';
import { InboxConsumer, WebhookInbox } from './webhook-inbox.js';
import type { LeaseHolder } from './writer-lease.js';
import { WriterLease } from './writer-lease.js';

/** How often the writer checks whether a snapshot is due. */
const SNAPSHOT_CHECK_MS = 10_000;

export interface ClusterStatus {
  replica: string;
  role: 'writer' | 'follower';
  /** The replica holding the writer lease, as last seen. */
  writer: LeaseHolder | undefined;
  redis: { url: string; connected: boolean; durability: DurabilityCheck };
  /** Position of the local copy in the shared log, and the log's head as last seen. */
  log: { applied: number; head: number };
}

/** What the writer starts and stops: the services composed on the replica's store. */
export interface WriterServices {
  engine: PresenceEngine;
  bus: EventBus;
  /** Starts the writing services (poller, settle, push, incidents, retention). */
  start: () => void;
}

export class ClusterNode {
  private follower: LogFollower | undefined;
  private consumer: InboxConsumer | undefined;
  private snapshotter: Snapshotter | undefined;
  private electionTimer: NodeJS.Timeout | undefined;
  private electing = false;
  private closed = false;
  /** Why this replica must stop (lease lost, copy diverged), once it must. */
  private failed: Error | undefined;
  /** `stopWork` was called: no more promotion. */
  private stopping = false;
  private writer: WriterServices | undefined;
  private lastHead = 0;
  private lastHolder: LeaseHolder | undefined;
  private apiUrl = '';

  private constructor(
    private readonly config: Config,
    readonly replica: string,
    private readonly redis: Redis,
    private readonly followConn: Redis,
    private readonly inboxConn: Redis,
    private readonly keys: ClusterKeys,
    private readonly redisLog: RedisLog,
    readonly replicated: ReplicatedStore,
    private readonly local: SqliteStore,
    readonly durability: DurabilityCheck,
    readonly inbox: WebhookInbox,
    private readonly lease: WriterLease,
    private readonly log: Logger,
    private readonly onFatal: (e: Error) => void,
  ) {}

  /** Connects to Redis, checks its durability and opens (or rebuilds) the local copy. */
  static async open(
    config: Config,
    deps: { logger: Logger; sqlite: Omit<SqliteStoreOptions, 'path' | 'visibleLimit'>; onFatal: (e: Error) => void },
  ): Promise<ClusterNode> {
    const settings = config.store.redis;
    const log = deps.logger.child({ component: 'cluster' });
    const replica = settings.replicaName ?? `${hostname()}-${process.pid}`;
    const redis = connectRedis(settings, log, { name: `opr-${replica}` });
    const followConn = connectRedis(settings, log, { blocking: true, name: `opr-${replica}-follow` });
    const inboxConn = connectRedis(settings, log, { blocking: true, name: `opr-${replica}-inbox` });
    const all = [redis, followConn, inboxConn];
    // Built below, used by callbacks that only run later (and closed if opening fails part-way).
    const late: { replicated?: ReplicatedStore; node?: ClusterNode; local?: SqliteStore } = {};
    try {
      for (const c of all) await openRedis(c, settings);
      const durability = await checkDurability(redis, settings.durability);
      if (durability.ok) log.info({ durability: durability.actual }, durability.message);
      else log.error({ durability: durability.actual, wanted: durability.wanted }, durability.message);
      const keys = clusterKeys(settings.keyPrefix);
      const redisLog = new RedisLog(redis, keys);
      const local = (late.local = await openLocalCopy({
        sqlite: {
          ...deps.sqlite,
          path: config.store.path,
          visibleLimit: () => late.replicated?.visibleLimit() ?? Number.MAX_SAFE_INTEGER,
        },
        redis,
        keys,
        log: redisLog,
        logger: log,
      }));
      const fatal = (e: Error): void => (late.node ? late.node.fatal(e) : deps.onFatal(e));
      const replicated = (late.replicated = new ReplicatedStore(local, redisLog, {
        onFatal: fatal,
        onAppendTrouble: (e) =>
          e
            ? log.warn({ err: { message: e.message } }, 'appending to the shared log failed; retrying')
            : log.info('appending to the shared log works again'),
      }));
      const lease = new WriterLease(
        redis,
        keys,
        { ttlMs: settings.leaseTtlMs, replica, apiUrl: () => late.node?.apiUrl ?? '', onLost: fatal },
        log,
      );
      const node = (late.node = new ClusterNode(
        config,
        replica,
        redis,
        followConn,
        inboxConn,
        keys,
        redisLog,
        replicated,
        local,
        durability,
        new WebhookInbox(redis, keys, config.webhook.queueLimit),
        lease,
        log,
        deps.onFatal,
      ));
      node.follower = new LogFollower({
        store: local,
        log: redisLog,
        blocking: followConn,
        onApplied: (a) => node.applied(a),
        onFatal: fatal,
        logger: log,
      });
      // Catch up before the services are composed on the copy (the engine loads its state from it).
      await node.follower.catchUp();
      log.info(
        { replica, redis: safeRedisUrl(settings.url), applied: node.follower.applied, store: config.store.path },
        'local copy in step with the shared log',
      );
      return node;
    } catch (e) {
      late.local?.close();
      for (const c of all) c.disconnect();
      throw e;
    }
  }

  /** The store the services are composed on. */
  get store(): Store {
    return this.replicated.store;
  }

  get isWriter(): boolean {
    return this.replicated.isLeader;
  }

  /** Accepts a validated webhook (any replica): resolved once Redis holds it. */
  submit(item: IngestItem): Promise<'accepted'> {
    return this.inbox.add(item).then(() => 'accepted' as const);
  }

  private applied(a: Applied): void {
    const w = this.writer;
    if (!w) return;
    w.engine.replicate(a.keys, a.versions);
    if (a.events.length > 0) w.bus.emit('events:committed', a.events);
  }

  /** Starts following the log and competing for the writer lease. */
  start(services: WriterServices, apiUrl: string): void {
    this.writer = services;
    this.apiUrl = apiUrl;
    this.follower?.start();
    const every = Math.max(100, Math.floor(this.config.store.redis.leaseTtlMs / 3));
    void this.elect();
    this.electionTimer = setInterval(() => void this.elect(), every);
    this.electionTimer.unref();
  }

  /** Takes a snapshot now if one is due (the writer only; otherwise nothing). */
  async snapshotIfDue(): Promise<void> {
    await this.snapshotter?.check();
  }

  /** The replica holding the writer lease now (read from Redis). */
  async writerNow(): Promise<LeaseHolder | undefined> {
    this.lastHolder = await this.lease.holder();
    return this.lastHolder;
  }

  /** Waits (at most `timeoutMs`) until this copy holds every entry the shared log holds now. */
  async caughtUp(timeoutMs: number): Promise<void> {
    if (this.isWriter || !this.follower) return;
    const head = await this.redisLog.head();
    await this.follower.waitFor(head, timeoutMs);
  }

  private async elect(): Promise<void> {
    if (this.electing || this.stopping || this.isWriter) return;
    this.electing = true;
    try {
      this.lastHead = await this.redisLog.head();
      if (!(await this.lease.tryAcquire())) {
        this.lastHolder = await this.lease.holder();
        return;
      }
      await this.promote();
    } catch (e) {
      if ((e as { code?: string }).code === 'OPR_ERR_REPLICA_DIVERGED') this.fatal(e as Error);
      else this.log.warn({ err: { message: (e as Error).message } }, 'writer election failed; trying again');
    } finally {
      this.electing = false;
    }
  }

  /** Under the lease: the log can no longer move; apply the rest of it, then write. */
  private async promote(): Promise<void> {
    const value = this.lease.held!;
    this.log.info({ replica: this.replica }, 'writer lease taken: catching up with the shared log');
    await this.follower?.stop();
    await this.follower?.catchUp();
    // What the follower applied has reached the engine's cache (in order) before the engine reloads from the copy.
    await this.local.durable();
    if (this.stopping) return;
    const w = this.writer!;
    this.replicated.lead(value, this.lease.token);
    this.follower = undefined;
    w.engine.reload();
    // Recorded once for the cluster by its first writer (followers answered from their copy meanwhile).
    this.store.firstStartedAt(Date.now());
    this.lastHolder = await this.lease.holder();
    this.consumer = new InboxConsumer({
      redis: this.redis,
      blocking: this.inboxConn,
      keys: this.keys,
      replicated: this.replicated,
      engine: w.engine,
      logger: this.log,
      maxBatch: this.config.webhook.commitMaxBatch,
    });
    this.consumer.start();
    this.snapshotter = new Snapshotter({
      local: this.local,
      replicated: this.replicated,
      redis: this.redis,
      keys: this.keys,
      leaseValue: value,
      prefix: this.config.store.redis.keyPrefix,
      every: this.config.store.redis.snapshotEveryEntries,
      checkMs: SNAPSHOT_CHECK_MS,
      log: this.log,
    });
    this.snapshotter.start();
    w.start();
    this.log.info({ replica: this.replica, head: await this.redisLog.head() }, 'this replica is the writer');
  }

  private fatal(e: Error): void {
    if (this.closed || this.failed) return;
    this.failed = e;
    this.replicated.fail(e);
    this.onFatal(e);
  }

  status(): ClusterStatus {
    const follower = this.follower;
    return {
      replica: this.replica,
      role: this.isWriter ? 'writer' : 'follower',
      writer: this.lastHolder,
      redis: {
        url: safeRedisUrl(this.config.store.redis.url),
        connected: this.redis.status === 'ready',
        durability: this.durability,
      },
      log: follower
        ? { applied: follower.applied, head: Math.max(this.lastHead, follower.applied) }
        : { applied: this.replicated.appendedPosition, head: this.replicated.appendedPosition },
    };
  }

  /** Ready: Redis answers and persists as asked. */
  ready(): { ready: boolean; reason: string } {
    if (this.failed) return { ready: false, reason: `this replica is stopping: ${this.failed.message}` };
    if (this.redis.status !== 'ready')
      return { ready: false, reason: `redis unavailable (${this.redis.status}): webhooks are answered 503` };
    if (!this.durability.ok) return { ready: false, reason: this.durability.message };
    return { ready: true, reason: 'ok' };
  }

  /** Stops taking webhooks from the inbox and following the log (before the services are closed). */
  async stopWork(): Promise<void> {
    this.stopping = true;
    if (this.electionTimer) clearInterval(this.electionTimer);
    this.electionTimer = undefined;
    this.snapshotter?.stop();
    await this.consumer?.stop();
    await this.follower?.stop();
  }

  /**
   * After the services closed (their last writes recorded): waits until Redis holds every commit, releases the lease
   * (another replica takes over at once) and disconnects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stopWork();
    this.closed = true;
    await this.replicated.flushed();
    await this.lease.release();
    for (const c of [this.redis, this.followConn, this.inboxConn]) c.disconnect();
  }
}
