/**
 * Push delivery of the event stream to the subscribers declared in `subscribers` (docs/architecture.md, the event
 * stream contract: push). The dispatcher owns one {@link PushWorker} per subscriber (`push-worker.ts`: the delivery
 * loop, its retries and dead-letter), wakes them when events are committed, and is what the API's subscriber routes
 * call (`PushControl`).
 *
 * Per subscriber, batches `{"events":[…]}` (event JSON as in `GET /v1/events`) are POSTed in `seq` order, one request
 * at a time, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`;
 * `webhook-signature.ts`). A 2xx answer acknowledges the batch and advances the subscriber's cursor, persisted in the
 * store, so delivery is at least once across restarts: a batch whose answer was lost is sent again (receivers
 * deduplicate by event `seq`). A dead-lettered subscriber gets nothing more until an operator retries
 * (`subscribers retry`) or replays (`subscribers replay`); replay also sends a new subscriber history still within
 * retention. Credentials in the URL (`https://user:pass@host/…`) are sent as an `Authorization: Basic` header, never
 * as part of the URL, and never appear in logs, errors or `GET /v1/subscribers` (`url-credentials.ts`).
 */
import type { Logger } from 'pino';
import { REDACTED } from '../config/redact.js';
import type { SubscriberConfig } from '../config/schema.js';
import { repeatedSubscriberNameIssues } from '../config/semantic-checks.js';
import type { EventBus } from '../engine/event-bus.js';
import type { ConfigIssue } from '../errors.js';
import { ConfigError } from '../errors.js';
import { PushWorker } from './push-worker.js';
import type { PushStore, PushTuning, PushWorkerContext } from './push-worker.js';
import type { SubscriberStatus } from './subscriber-status.js';
import { decodeSigningSecret } from './webhook-signature.js';

export type { PushTuning } from './push-worker.js';
export type { SubscriberState, SubscriberStatus } from './subscriber-status.js';

export interface PushDispatcherOptions extends PushTuning {
  subscribers: readonly SubscriberConfig[];
  store: PushStore;
  bus: EventBus;
  log: Logger;
  now?: () => number;
  /** The HTTP client; global fetch by default. */
  fetch?: typeof fetch;
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

/** Runs one worker per configured subscriber. Construct it, start it, then close it (closing twice is safe). */
export class PushDispatcher implements PushControl {
  private readonly workers = new Map<string, PushWorker>();
  private offBus: (() => void) | undefined;
  private started = false;
  private closing: Promise<void> | undefined;

  /**
   * Throws a ConfigError naming each subscriber whose name an earlier one has, and each whose secret is not a valid
   * `whsec_` secret.
   */
  constructor(private readonly opts: PushDispatcherOptions) {
    const context: PushWorkerContext = {
      store: opts.store,
      log: opts.log,
      now: opts.now ?? Date.now,
      baseDelayMs: opts.baseDelayMs ?? 1000,
      maxDelayMs: opts.maxDelayMs ?? 300_000,
      idleCheckMs: opts.idleCheckMs ?? 5000,
      random: opts.random ?? Math.random,
      fetch: opts.fetch ?? fetch,
    };
    // loadConfig has refused both problems already (the same checks, the same messages: the schema checks secrets
    // with the same parser, semantic-checks.ts the names); a configuration built in code gets them here.
    const issues: ConfigIssue[] = repeatedSubscriberNameIssues(opts.subscribers);
    // Every subscriber's secret is checked, a repeated name's too, as the schema checks every one.
    for (const [i, cfg] of opts.subscribers.entries()) {
      let key: Buffer | undefined;
      try {
        key = cfg.secret === undefined || cfg.secret === '' ? undefined : decodeSigningSecret(cfg.secret);
      } catch (err) {
        issues.push({ path: `subscribers.${i}.secret`, value: REDACTED, message: err instanceof Error ? err.message : String(err) });
        continue;
      }
      if (!this.workers.has(cfg.name)) this.workers.set(cfg.name, new PushWorker(cfg, key, context));
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
