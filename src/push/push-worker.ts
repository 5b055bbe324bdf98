/**
 * The delivery loop of one push subscriber and its retry state (docs/architecture.md, the event stream contract:
 * push). The worker POSTs batches `{"events":[…]}` in `seq` order, one request at a time, and moves its cursor,
 * persisted in the store, only when a batch is acknowledged with a 2xx answer; `push-dispatcher.ts` owns the workers.
 *
 * - `webhook-id` is `msg_<subscriber>_<firstSeq>_<lastSeq>`, the same for every attempt of a batch; after a replay it
 *   gains `_r<replay time>` so a receiver that deduplicates by id still takes the replayed batches.
 * - A failure (non-2xx, redirect, network error, no answer within `timeoutMs`) is retried with exponential backoff
 *   and jitter (`src/util/backoff.ts`: `baseDelayMs` × 2^(attempt−1), capped at `maxDelayMs`, each delay drawn from
 *   its upper half); the subscriber is `retrying` meanwhile. After `maxAttempts` failures in a row it is `dead`
 *   (dead-lettered): nothing more is sent until an operator retries or replays.
 * - A new subscriber starts at the stream head when first seen: it receives events committed after that.
 * - A subscriber whose cursor falls behind retention is dead-lettered with a message saying from where to replay.
 */
import type { Logger } from 'pino';
import type { SubscriberConfig } from '../config/schema.js';
import type { PresenceEvent } from '../domain.js';
import { eventToJson } from '../domain.js';
import type { EventFilter, Store } from '../store/store.js';
import { backoffDelay } from '../util/backoff.js';
import { displayUrl } from '../util/url-redaction.js';
import { describeHttpFailure, describeRequestFailure } from './delivery-failure.js';
import type { SubscriberState, SubscriberStatus } from './subscriber-status.js';
import { scrubCredentials, splitCredentials } from './url-credentials.js';
import { webhookHeaders } from './webhook-signature.js';

/** Delivery timing; the defaults suit production, tests shorten them. */
export interface PushTuning {
  /** Delay before the first retry, in ms; doubles per failed attempt. Default 1000. */
  baseDelayMs?: number;
  /** Longest delay between attempts, in ms. Default 300 000 (5 min). */
  maxDelayMs?: number;
  /** An idle worker re-reads the store this often even without a commit notification, in ms. Default 5000. */
  idleCheckMs?: number;
  /** Random numbers in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
}

/** What a worker reads and writes of the store: the event log up to the durable head, and its own cursor. */
export type PushStore = Pick<Store, 'getSubscriberCursor' | 'putSubscriberCursor' | 'headSeq' | 'prunedThroughSeq' | 'scanEvents'>;

/** What every worker shares: the store, the log, the clock, the HTTP client and the timing, defaults applied. */
export interface PushWorkerContext extends Required<PushTuning> {
  store: PushStore;
  log: Logger;
  now: () => number;
  fetch: typeof fetch;
}

interface Batch {
  events: PresenceEvent[];
  /** The cursor after this batch is acknowledged (the last seq examined for it). */
  scannedTo: number;
  id: string;
}

/** One subscriber's delivery. Start it, notify it of commits, stop it; `retry` and `replay` are the operator's. */
export class PushWorker {
  readonly name: string;
  private cursor = 0;
  private state: SubscriberState = 'active';
  private attempts = 0;
  private nextAttemptAt: number | null = null;
  private lastError = '';
  private pending: Batch | undefined;
  private lastDeliveredAt: number | null = null;
  private deliveredEvents = 0;
  /** Bumped by retry/replay/stop: a delivery that started before does not touch the cursor. */
  private generation = 0;
  private replayTag = '';
  private stopped = false;
  private inflight: AbortController | undefined;
  private waiter: { resolve: () => void; onEvents: boolean; timer: NodeJS.Timeout } | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly filter: EventFilter;
  /** The URL requested (credentials removed) and the Authorization header carrying them. */
  private readonly target: { url: string; authorization: string | undefined };
  /** The cursor value last written to the store; idle advances past filtered-out events are written lazily. */
  private persistedCursor = -1;
  private lastPersistAt = 0;

  /** `key` is the decoded signing secret (`decodeSigningSecret`), or undefined to send unsigned requests. */
  constructor(
    private readonly cfg: SubscriberConfig,
    private readonly key: Buffer | undefined,
    private readonly d: PushWorkerContext,
  ) {
    this.name = cfg.name;
    this.filter = { users: cfg.users, types: cfg.types };
    this.target = splitCredentials(cfg.url);
  }

  /** Loads the subscriber's cursor (a new subscriber starts at the head) and begins delivering. */
  start(): void {
    const saved = this.d.store.getSubscriberCursor(this.name);
    if (saved) {
      this.cursor = saved.cursor;
      this.state = saved.state;
      this.attempts = saved.attempts;
      this.nextAttemptAt = saved.nextAttemptAt;
      this.lastError = saved.lastError;
      this.persistedCursor = saved.cursor;
    } else {
      this.cursor = this.d.store.headSeq();
      this.persist();
      this.d.log.info({ subscriber: this.name, cursor: this.cursor }, 'push subscriber added: delivering events after the current head');
    }
    if (!this.key) this.d.log.warn({ subscriber: this.name }, 'push subscriber has no secret: its requests are not signed');
    this.loopDone = this.loop().catch((err: unknown) => {
      this.d.log.error({ err, subscriber: this.name }, 'push worker stopped unexpectedly');
    });
  }

  /** Abandons a request in flight (its batch is sent again after restart), ends the loop and saves the cursor. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    this.inflight?.abort();
    this.wake(false);
    await this.loopDone;
    if (this.cursor !== this.persistedCursor) this.persist();
  }

  /** New events were committed. */
  notify(): void {
    this.wake(true);
  }

  status(): SubscriberStatus {
    const head = this.d.store.headSeq();
    return {
      name: this.name,
      url: displayUrl(this.cfg.url),
      users: [...this.cfg.users],
      types: [...this.cfg.types],
      batchSize: this.cfg.batchSize,
      maxAttempts: this.cfg.maxAttempts,
      signed: this.key !== undefined,
      state: this.state,
      cursor: this.cursor,
      head,
      lag: Math.max(0, head - this.cursor),
      attempts: this.attempts,
      nextAttemptAt: this.nextAttemptAt,
      lastError: this.lastError,
      lastDeliveredAt: this.lastDeliveredAt,
      deliveredEvents: this.deliveredEvents,
    };
  }

  /** Leaves the dead-letter (or a backoff) and tries the pending batch now. */
  retry(): void {
    this.generation++;
    this.inflight?.abort();
    this.state = 'active';
    this.attempts = 0;
    this.nextAttemptAt = null;
    this.persist();
    this.d.log.info({ subscriber: this.name, cursor: this.cursor }, 'push subscriber retried by an operator');
    this.wake(false);
  }

  /** Moves the cursor so that events from `fromSeq` on are delivered again, with new webhook ids, and tries now. */
  replay(fromSeq: number): void {
    this.generation++;
    this.inflight?.abort();
    this.pending = undefined;
    this.cursor = Math.max(0, fromSeq - 1);
    this.replayTag = `_r${this.d.now()}`;
    this.state = 'active';
    this.attempts = 0;
    this.nextAttemptAt = null;
    this.lastError = '';
    this.persist();
    this.d.log.info({ subscriber: this.name, fromSeq }, 'push subscriber replaying by operator request');
    this.wake(false);
  }

  private persist(): void {
    const now = this.d.now();
    this.persistedCursor = this.cursor;
    this.lastPersistAt = now;
    this.d.store.putSubscriberCursor({
      name: this.name,
      cursor: this.cursor,
      state: this.state,
      attempts: this.attempts,
      nextAttemptAt: this.nextAttemptAt,
      lastError: this.lastError,
      updatedAt: now,
    });
  }

  private wake(onlyForEvents: boolean): void {
    const w = this.waiter;
    if (!w || (onlyForEvents && !w.onEvents)) return;
    this.waiter = undefined;
    clearTimeout(w.timer);
    w.resolve();
  }

  /** Sleeps up to `ms`; new events end the sleep only when `onEvents`; retry, replay and stop always do. */
  private sleep(ms: number, onEvents: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.waiter?.timer === timer) this.waiter = undefined;
        resolve();
      }, Math.max(0, ms));
      timer.unref();
      this.waiter = { resolve, onEvents, timer };
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.state === 'dead') {
        await this.sleep(2_147_483_647, false);
        continue;
      }
      if (this.nextAttemptAt !== null) {
        const wait = this.nextAttemptAt - this.d.now();
        if (wait > 0) {
          await this.sleep(wait, false);
          continue;
        }
      }
      if (!this.pending) {
        const pruned = this.d.store.prunedThroughSeq();
        if (pruned > this.cursor) {
          this.deadLetter(
            `events after ${this.cursor} were removed by retention (kept from seq ${pruned + 1}): replay from ${pruned + 1} or later after re-syncing the receiver from GET /v1/presence`,
          );
          continue;
        }
        const page = this.d.store.scanEvents(this.cursor, this.cfg.batchSize, this.filter);
        if (page.events.length === 0) {
          if (page.scannedTo > this.cursor) {
            this.cursor = page.scannedTo;
            if (this.d.now() - this.lastPersistAt >= this.d.idleCheckMs) this.persist();
          }
          await this.sleep(this.d.idleCheckMs, true);
          continue;
        }
        const first = page.events[0]!.seq;
        const last = page.events[page.events.length - 1]!.seq;
        this.pending = { events: page.events, scannedTo: page.scannedTo, id: `msg_${this.name}_${first}_${last}${this.replayTag}` };
      }
      await this.attempt(this.pending);
    }
  }

  private async attempt(batch: Batch): Promise<void> {
    const generation = this.generation;
    const error = await this.post(batch);
    if (generation !== this.generation || this.stopped) return;
    const now = this.d.now();
    if (error === undefined) {
      this.cursor = batch.scannedTo;
      this.pending = undefined;
      this.state = 'active';
      this.attempts = 0;
      this.nextAttemptAt = null;
      this.lastError = '';
      this.lastDeliveredAt = now;
      this.deliveredEvents += batch.events.length;
      this.persist();
      return;
    }
    this.attempts++;
    this.lastError = error;
    if (this.attempts >= this.cfg.maxAttempts) {
      this.deadLetter(`${error} (${this.attempts} attempts)`);
      return;
    }
    const delay = backoffDelay(this.attempts, this.d.baseDelayMs, this.d.maxDelayMs, this.d.random);
    this.state = 'retrying';
    this.nextAttemptAt = now + delay;
    this.persist();
    this.d.log.warn(
      { subscriber: this.name, attempt: this.attempts, maxAttempts: this.cfg.maxAttempts, error, retryInMs: delay, batch: batch.id },
      'push delivery failed; retrying',
    );
  }

  private deadLetter(error: string): void {
    this.state = 'dead';
    this.nextAttemptAt = null;
    this.lastError = error;
    this.persist();
    this.d.log.error(
      { subscriber: this.name, cursor: this.cursor, error },
      'push subscriber dead-lettered: nothing more is sent until `openim-presence subscribers retry` or `replay`',
    );
  }

  /** One POST; undefined on a 2xx answer, otherwise what went wrong. */
  private async post(batch: Batch): Promise<string | undefined> {
    const body = JSON.stringify({ events: batch.events.map(eventToJson) });
    const timestamp = Math.floor(this.d.now() / 1000);
    const ctrl = new AbortController();
    this.inflight = ctrl;
    try {
      const res = await this.d.fetch(this.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'openim-presence-reconciler',
          ...(this.target.authorization === undefined ? {} : { authorization: this.target.authorization }),
          ...webhookHeaders(this.key, batch.id, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([ctrl.signal, AbortSignal.timeout(this.cfg.timeoutMs)]),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return undefined;
      return describeHttpFailure(res.status);
    } catch (err) {
      if (ctrl.signal.aborted) return 'cancelled';
      return scrubCredentials(describeRequestFailure(err, this.cfg.timeoutMs), this.cfg.url);
    } finally {
      if (this.inflight === ctrl) this.inflight = undefined;
    }
  }
}
