/**
 * Push delivery of the event stream to the subscribers declared in `subscribers`.
 *
 * Per subscriber, one worker POSTs batches `{"events":[…]}` (event JSON as in `GET /v1/events`) in `seq` order, one
 * request at a time, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). A 2xx
 * answer acknowledges the batch and advances the subscriber's cursor, persisted in the store, so delivery is at
 * least once across restarts: a batch whose answer was lost is sent again (receivers deduplicate by event `seq`).
 *
 * - `webhook-id` is `msg_<subscriber>_<firstSeq>_<lastSeq>`, the same for every attempt of a batch; after a replay it
 *   gains `_r<replay time>` so a receiver that deduplicates by id still takes the replayed batches.
 * - A failure (non-2xx, redirect, network error, no answer within `timeoutMs`) is retried with exponential backoff
 *   and jitter (`baseDelayMs` × 2^(attempt−1), capped at `maxDelayMs`, each delay drawn from its upper half); the
 *   subscriber is `retrying` meanwhile. After `maxAttempts` failures in a row it is `dead` (dead-lettered): nothing
 *   more is sent until an operator retries (`subscribers retry`) or replays (`subscribers replay`).
 * - A new subscriber starts at the stream head when first seen: it receives events committed after that; use
 *   replay to send it history still within retention.
 * - A subscriber whose cursor falls behind retention is dead-lettered with a message saying from where to replay.
 * - Credentials in the URL (`https://user:pass@host/…`) are sent as an `Authorization: Basic` header, never as part of
 *   the URL, and never appear in logs, errors or `GET /v1/subscribers`.
 */
import type { Logger } from 'pino';
import { REDACTED } from '../config/redact.js';
import type { SubscriberConfig } from '../config/schema.js';
import { repeatedSubscriberNameIssues } from '../config/semantic-checks.js';
import type { PresenceEvent } from '../domain.js';
import { eventToJson } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import type { ConfigIssue } from '../errors.js';
import { ConfigError } from '../errors.js';
import type { EventFilter, Store, SubscriberCursor } from '../store/store.js';
import { backoffDelay } from '../util/backoff.js';
import { displayUrl, urlPasswordForms } from '../util/url-redaction.js';
import { decodeSigningSecret, webhookHeaders } from './webhook-signature.js';

export type SubscriberState = SubscriberCursor['state'];

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

export interface PushDispatcherOptions extends PushTuning {
  subscribers: readonly SubscriberConfig[];
  store: Store;
  bus: EventBus;
  log: Logger;
  now?: () => number;
  /** The HTTP client; global fetch by default. */
  fetch?: typeof fetch;
}

/** What `GET /v1/subscribers` and `subscribers list` show of one subscriber. */
export interface SubscriberStatus {
  name: string;
  /** The target URL without credentials or query string. */
  url: string;
  users: string[];
  types: string[];
  batchSize: number;
  maxAttempts: number;
  signed: boolean;
  state: SubscriberState;
  /** Events up to this seq are acknowledged (or filtered out). */
  cursor: number;
  head: number;
  /** head − cursor. */
  lag: number;
  /** Failed attempts in a row for the current batch. */
  attempts: number;
  nextAttemptAt: number | null;
  lastError: string;
  /** Last acknowledged delivery since the daemon started, or null. */
  lastDeliveredAt: number | null;
  /** Events acknowledged since the daemon started. */
  deliveredEvents: number;
}

/** What the API needs from the dispatcher. */
export interface PushControl {
  list(): SubscriberStatus[];
  get(name: string): SubscriberStatus | undefined;
  /** Leaves the dead-letter (or a backoff) and tries the pending batch now. Undefined for an unknown name. */
  retry(name: string): SubscriberStatus | undefined;
  /** Moves the cursor so that events from `fromSeq` on are delivered again, and tries now. */
  replay(name: string, fromSeq: number): SubscriberStatus | undefined;
}

/**
 * Splits the credentials off a subscriber URL: the URL to request (without `user:pass@`) and, when it had any, the
 * `Authorization: Basic` header value that carries them (user and password percent-decoded, as a browser would).
 */
export function splitCredentials(url: string): { url: string; authorization: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, authorization: undefined };
  }
  if (u.username === '' && u.password === '') return { url, authorization: undefined };
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${Buffer.from(pair, 'utf8').toString('base64')}` };
}

/** `text` with every occurrence of the password of `url` (raw and percent-decoded) replaced by `[REDACTED]`. */
export function scrubCredentials(text: string, url: string): string {
  let out = text;
  for (const form of urlPasswordForms(url)) out = out.split(form).join(REDACTED);
  return out;
}

function describeFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return `network error ${cause.code}`;
  if (typeof cause?.message === 'string') return `network error: ${cause.message}`;
  return `network error: ${err instanceof Error ? err.message : String(err)}`;
}

interface Batch {
  events: PresenceEvent[];
  /** The cursor after this batch is acknowledged (the last seq examined for it). */
  scannedTo: number;
  id: string;
}

class PushWorker {
  readonly name: string;
  private cursor = 0;
  private state: SubscriberState = 'active';
  private attempts = 0;
  private nextAttemptAt: number | null = null;
  private lastError = '';
  private updatedAt = 0;
  private pending: Batch | undefined;
  private lastDeliveredAt: number | null = null;
  private deliveredEvents = 0;
  /** Bumped by retry/replay/close: a delivery that started before does not touch the cursor. */
  private generation = 0;
  private replayTag = '';
  private stopped = false;
  private inflight: AbortController | undefined;
  private waiter: { resolve: () => void; onEvents: boolean; timer: NodeJS.Timeout } | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly filter: EventFilter;
  private readonly key: Buffer | undefined;
  /** The URL requested (credentials removed) and the Authorization header carrying them. */
  private readonly target: { url: string; authorization: string | undefined };
  /** The cursor value last written to the store; idle advances past filtered-out events are written lazily. */
  private persistedCursor = -1;
  private lastPersistAt = 0;

  constructor(
    private readonly cfg: SubscriberConfig,
    private readonly d: Required<Omit<PushDispatcherOptions, 'subscribers' | 'fetch'>> & { fetch: typeof fetch },
  ) {
    this.name = cfg.name;
    this.filter = { users: cfg.users, types: cfg.types };
    this.key = cfg.secret === undefined || cfg.secret === '' ? undefined : decodeSigningSecret(cfg.secret);
    this.target = splitCredentials(cfg.url);
  }

  start(): void {
    const saved = this.d.store.getSubscriberCursor(this.name);
    if (saved) {
      this.cursor = saved.cursor;
      this.state = saved.state;
      this.attempts = saved.attempts;
      this.nextAttemptAt = saved.nextAttemptAt;
      this.lastError = saved.lastError;
      this.updatedAt = saved.updatedAt;
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
    this.updatedAt = now;
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
      return `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`;
    } catch (err) {
      if (ctrl.signal.aborted) return 'cancelled';
      return scrubCredentials(describeFailure(err, this.cfg.timeoutMs), this.cfg.url);
    } finally {
      if (this.inflight === ctrl) this.inflight = undefined;
    }
  }
}

/** Runs one worker per configured subscriber. Construct it, start it, then close it (closing twice is safe). */
export class PushDispatcher implements PushControl {
  private readonly workers = new Map<string, PushWorker>();
  private offBus: (() => void) | undefined;
  private started = false;
  private closing: Promise<void> | undefined;

  /** Throws a ConfigError naming the subscriber whose secret is not a valid `whsec_` secret. */
  constructor(private readonly opts: PushDispatcherOptions) {
    const resolved = {
      store: opts.store,
      bus: opts.bus,
      log: opts.log,
      now: opts.now ?? Date.now,
      baseDelayMs: opts.baseDelayMs ?? 1000,
      maxDelayMs: opts.maxDelayMs ?? 300_000,
      idleCheckMs: opts.idleCheckMs ?? 5000,
      random: opts.random ?? Math.random,
      fetch: opts.fetch ?? fetch,
    };
    // loadConfig has refused both problems already (the same checks, the same messages); a configuration built in
    // code gets them here.
    const issues: ConfigIssue[] = repeatedSubscriberNameIssues(opts.subscribers);
    for (const [i, cfg] of opts.subscribers.entries()) {
      if (this.workers.has(cfg.name)) continue;
      try {
        this.workers.set(cfg.name, new PushWorker(cfg, resolved));
      } catch (err) {
        issues.push({ path: `subscribers.${i}.secret`, value: REDACTED, message: err instanceof Error ? err.message : String(err) });
      }
    }
    if (issues.length > 0) throw new ConfigError(issues);
  }

  /** Loads each subscriber's cursor (a new one starts at the head) and begins delivering. */
  start(): void {
    if (this.started || this.closing) return;
    this.started = true;
    this.offBus = this.opts.bus.on('events:committed', () => {
      for (const w of this.workers.values()) w.notify();
    });
    for (const w of this.workers.values()) w.start();
  }

  /** Stops every worker (an in-flight request is abandoned; its batch is sent again after restart). Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.offBus?.();
      if (!this.started) return;
      await Promise.all([...this.workers.values()].map((w) => w.stop()));
    })());
  }

  list(): SubscriberStatus[] {
    return [...this.workers.values()].map((w) => w.status());
  }

  get(name: string): SubscriberStatus | undefined {
    return this.workers.get(name)?.status();
  }

  retry(name: string): SubscriberStatus | undefined {
    const w = this.workers.get(name);
    if (!w) return undefined;
    if (this.started && !this.closing) w.retry();
    return w.status();
  }

  replay(name: string, fromSeq: number): SubscriberStatus | undefined {
    const w = this.workers.get(name);
    if (!w) return undefined;
    if (this.started && !this.closing) w.replay(fromSeq);
    return w.status();
  }
}
