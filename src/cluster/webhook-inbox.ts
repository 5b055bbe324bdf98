/**
 * The webhook inbox (store.backend redis): every replica accepts OpenIM's webhooks by adding them, validated, to one
 * Redis stream, and answers once Redis holds them (with appendfsync always, once they are in its AOF). The writer
 * consumes the inbox in order: each batch is ingested by the engine in one transaction, whose log entry also moves
 * the inbox cursor (one Lua script), so a webhook is ingested exactly once whichever replica took it and whenever the
 * writer changes. Consumed entries are trimmed.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { IngestItem, PresenceEngine } from '../engine/presence-engine.js';
import { OprError } from '../errors.js';
import type { ClusterKeys } from './cluster-keys.js';
import { BackgroundLoop } from './background-loop.js';
import type { ReplicatedStore } from './replicated-store.js';

/** How often a replica reads the inbox's length (its backlog: consumed entries are trimmed after every batch). */
const BACKLOG_CHECK_MS = 100;

export class WebhookInbox {
  private backlog = 0;
  private checkedAt = 0;

  /** `queueLimit`: webhooks waiting for the writer before new ones are refused (webhook.queueLimit). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly queueLimit: number,
  ) {}

  /**
   * Adds a validated webhook; resolves once Redis holds it. Throws OPR_ERR_INGEST_OVERLOADED while the writer is
   * `queueLimit` webhooks behind (or absent that long), OPR_ERR_REDIS_UNAVAILABLE when Redis does not take it.
   */
  async add(item: IngestItem): Promise<void> {
    const now = Date.now();
    if (now - this.checkedAt >= BACKLOG_CHECK_MS) {
      this.checkedAt = now;
      this.redis.xlen(this.keys.inbox).then(
        (n) => (this.backlog = n),
        () => undefined,
      );
    }
    if (this.backlog >= this.queueLimit) {
      throw new OprError(
        'OPR_ERR_INGEST_OVERLOADED',
        `the shared inbox holds ${this.backlog} webhooks the writer has not ingested (webhook.queueLimit ${this.queueLimit})`,
        {
          queueLimit: this.queueLimit,
        },
      );
    }
    try {
      await this.redis.xadd(this.keys.inbox, '*', 'd', JSON.stringify(item));
    } catch (e) {
      throw new OprError(
        'OPR_ERR_REDIS_UNAVAILABLE',
        `redis did not take the webhook: ${(e as Error).message}`,
        {},
        { cause: e },
      );
    }
  }
}

export interface InboxConsumerDeps {
  redis: Redis;
  /** A connection of its own (XREAD BLOCK holds it). */
  blocking: Redis;
  keys: ClusterKeys;
  replicated: ReplicatedStore;
  engine: PresenceEngine;
  logger: Logger;
  maxBatch: number;
  blockMs?: number;
}

/** The writer's side: ingests the inbox in order until stopped. */
export class InboxConsumer {
  private readonly loop: BackgroundLoop;
  /** The last inbox entry consumed (read from Redis at the first step). */
  private cursor: string | undefined;

  constructor(private readonly deps: InboxConsumerDeps) {
    this.loop = new BackgroundLoop({
      step: () => this.step(),
      what: 'consuming the webhook inbox',
      logger: deps.logger,
      baseMs: 50,
      maxMs: 2000,
    });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** One batch: read (waiting a while for one), ingested, durable, trimmed from the inbox. Ends on a fatal error. */
  private async step(): Promise<'stop' | undefined> {
    const { redis, blocking, keys, replicated } = this.deps;
    try {
      this.cursor ??= (await redis.get(keys.inboxCursor)) ?? '0-0';
      const reply = await blocking.xread(
        'COUNT',
        this.deps.maxBatch,
        'BLOCK',
        this.deps.blockMs ?? 500,
        'STREAMS',
        keys.inbox,
        this.cursor,
      );
      if (reply === null) return;
      const entries = reply[0]![1];
      if (entries.length === 0) return;
      this.ingest(entries.map(([id, fields]) => [id, JSON.parse(fields[1]!) as IngestItem]));
      this.cursor = entries[entries.length - 1]![0];
      await replicated.store.durable();
      // What is left in the inbox is what waits for ingest (replicas refuse webhooks past webhook.queueLimit).
      await redis.xtrim(keys.inbox, 'MINID', this.cursor);
    } catch (e) {
      if (isFatal(e)) return 'stop';
      throw e;
    }
  }

  /**
   * One transaction for the batch, whose log entry moves the cursor past it. Should the engine fail on the batch (a
   * defect), each webhook is tried alone, each commit moving the cursor past its own webhook only; one that still
   * fails is logged with its body and skipped.
   */
  private ingest(entries: readonly (readonly [id: string, item: IngestItem])[]): void {
    const { replicated, engine, logger } = this.deps;
    replicated.consumeInboxWith(entries[entries.length - 1]![0]);
    try {
      engine.ingest(entries.map(([, item]) => item));
      return;
    } catch (e) {
      logger.error(
        { err: e, size: entries.length },
        'ingesting a batch from the inbox failed; trying its webhooks one by one',
      );
    }
    for (const [id, item] of entries) {
      replicated.consumeInboxWith(id);
      try {
        engine.ingest([item]);
      } catch (e) {
        logger.error({ err: e, body: item.body }, 'a webhook from the inbox could not be ingested: skipped');
      }
    }
  }
}

function isFatal(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'OPR_ERR_LEASE_LOST' || code === 'OPR_ERR_REPLICA_DIVERGED';
}
