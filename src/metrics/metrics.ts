/**
 * Prometheus metrics. Everything is registered on a Registry owned by this object (never prom-client's global
 * one), so several daemons can live in one process. Counters and histograms follow the internal event bus; gauges
 * that describe current state (stream head, subscriber lag, webhook health, presence) are read on scrape.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MISMATCH_KINDS } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import type { WebhookHealth } from '../health/webhook-health.js';
import { HEALTH_STATES } from '../health/webhook-health.js';
import type { ConnectionStats } from '../http/connection-guard.js';
import { CONNECTION_CLOSE_REASONS } from '../http/connection-guard.js';
import { REJECT_REASONS } from '../ingest/webhook-routes.js';
import { OTHER_PLATFORM_ID, platformName } from '../openim/platforms.js';
import { isWebhookCommand, WEBHOOK_COMMANDS } from '../openim/webhook-schemas.js';
import type { EventLog, SubscriberCursors } from '../store/store.js';

export interface MetricsContext {
  bus: EventBus;
  store: Pick<EventLog, 'headSeq'> & Pick<SubscriberCursors, 'listSubscriberCursors'>;
  /** Webhook health per command and platform (HealthService.webhookHealth). */
  webhookHealth?: () => WebhookHealth[];
  /** Current presence sizes, read on scrape. */
  presence?: { onlineUsers(): number; keys(): number; heldOffline(): number };
  /** The listeners' connection counts, read on scrape. */
  connections?: () => (ConnectionStats & { listener: string })[];
  /** Also expose prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). Default true. */
  defaultMetrics?: boolean;
  /** Webhook health is recomputed at most this often, in ms (it scans the health window). Default 10 000. */
  healthCacheMs?: number;
  now?: () => number;
}

export interface Metrics {
  readonly registry: Registry;
  /** `opr_sse_connections`: call inc() when an SSE stream opens and dec() when it ends. */
  readonly sseConnections: Gauge;
  /** The Content-Type of the exposition format. */
  readonly contentType: string;
  /** The exposition text (collects the scrape-time gauges). */
  render(): Promise<string>;
  /** Stops listening to the bus. Safe to call twice. */
  close(): void;
}

/** Bucket bounds in seconds from 0.1 ms to 1 s: webhook replies must take milliseconds. */
export const INGEST_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
export const POLL_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const POLL_KINDS = ['cycle', 'confirm'] as const;

/** prom-client default metrics that are gauges with a `_total` suffix. */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Label values come from a closed set, so a client cannot create new time series. */
function commandLabel(command: string): string {
  return isWebhookCommand(command) ? command : 'unknown';
}

function reasonLabel(reason: string): string {
  return (REJECT_REASONS as readonly string[]).includes(reason) ? reason : 'other';
}

/** Health entries are already bounded (unknown platforms are summed into OTHER_PLATFORM_ID). */
function platformLabel(platformID: number): string {
  if (platformID === OTHER_PLATFORM_ID) return 'other';
  return platformName(platformID) || String(platformID);
}

export function createMetrics(ctx: MetricsContext): Metrics {
  const registry = new Registry();
  const now = ctx.now ?? Date.now;
  if (ctx.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters, which `promtool check metrics` rejects; sum() the per-type gauges instead.
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  }
  const registers = [registry];

  const received = new Counter({
    name: 'opr_webhooks_received_total',
    help: 'Presence webhooks accepted (answered 200), by command; outcome "duplicate" is a replay of a webhook already recorded.',
    labelNames: ['command', 'outcome'] as const,
    registers,
  });
  const rejected = new Counter({
    name: 'opr_webhooks_rejected_total',
    help: 'Webhook requests refused, by command ("unknown" when not a presence command) and reason.',
    labelNames: ['command', 'reason'] as const,
    registers,
  });
  const ingestLatency = new Histogram({
    name: 'opr_webhook_ingest_duration_seconds',
    help: 'Time from receiving an accepted webhook to its durable commit and reply.',
    buckets: INGEST_BUCKETS_SECONDS,
    registers,
  });
  const batchSize = new Histogram({
    name: 'opr_commit_batch_size',
    help: 'Webhooks committed per group-commit transaction.',
    buckets: BATCH_SIZE_BUCKETS,
    registers,
  });
  const batchDuration = new Histogram({
    name: 'opr_commit_duration_seconds',
    help: 'Duration of one group-commit transaction.',
    buckets: INGEST_BUCKETS_SECONDS,
    registers,
  });
  const pollCycles = new Counter({
    name: 'opr_poll_cycles_total',
    help: 'Completed poll runs by kind: cycle (scheduled) or confirm (targeted re-poll of disagreements).',
    labelNames: ['kind'] as const,
    registers,
  });
  const pollDuration = new Histogram({
    name: 'opr_poll_cycle_duration_seconds',
    help: 'Duration of completed poll runs by kind.',
    labelNames: ['kind'] as const,
    buckets: POLL_BUCKETS_SECONDS,
    registers,
  });
  const pollErrors = new Counter({
    name: 'opr_poll_errors_total',
    help: 'Failed status-API batches inside completed poll runs, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const pollFailures = new Counter({
    name: 'opr_poll_failures_total',
    help: 'Poll cycles that failed as a whole (no decisions were made).',
    registers,
  });
  const pollRequests = new Counter({
    name: 'opr_poll_requests_total',
    help: 'HTTP requests made to the OpenIM status API by poll runs, retries included, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const pollUsers = new Counter({
    name: 'opr_poll_users_polled_total',
    help: 'Users whose live status was read, by poll kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const disagreements = new Counter({
    name: 'opr_poll_disagreements_total',
    help: 'Keys a scheduled poll read differently from the stream (each is re-checked before any correction).',
    registers,
  });
  const mismatches = new Counter({
    name: 'opr_mismatches_total',
    help: 'Mismatch records written, by kind; a correction later confirmed by a late webhook also counts once as late_webhook.',
    labelNames: ['kind'] as const,
    registers,
  });
  const events = new Counter({
    name: 'opr_events_total',
    help: 'Events appended to the stream, by type and source (source "poll" = corrective events).',
    labelNames: ['type', 'source'] as const,
    registers,
  });
  const guardRaised = new Counter({
    name: 'opr_guard_raised_total',
    help: 'Times the mass-disagreement guard held back corrections because one poll read many online users offline.',
    registers,
  });

  let healthCache: { at: number; entries: WebhookHealth[] } | undefined;
  const healthTtl = ctx.healthCacheMs ?? 10_000;
  const readHealth = ctx.webhookHealth;
  new Gauge({
    name: 'opr_webhook_health',
    help: 'Webhook health per command and platform: 1 for the current state (healthy, degraded, silent, unknown), 0 for the others.',
    labelNames: ['command', 'platform', 'state'] as const,
    registers,
    collect() {
      if (readHealth === undefined) return;
      const t = now();
      if (healthCache === undefined || t - healthCache.at >= healthTtl) healthCache = { at: t, entries: readHealth() };
      this.reset();
      for (const h of healthCache.entries) {
        for (const state of HEALTH_STATES) this.set({ command: h.command, platform: platformLabel(h.platformID), state }, h.state === state ? 1 : 0);
      }
    },
  });
  const store = ctx.store;
  new Gauge({
    name: 'opr_stream_head_seq',
    help: 'The seq of the newest event in the stream.',
    registers,
    collect() {
      this.set(store.headSeq());
    },
  });
  new Gauge({
    name: 'opr_subscriber_lag_events',
    help: 'Events a push subscriber has not yet acknowledged (head seq minus its cursor).',
    labelNames: ['subscriber'] as const,
    registers,
    collect() {
      const head = store.headSeq();
      this.reset();
      for (const c of store.listSubscriberCursors()) this.set({ subscriber: c.name }, Math.max(0, head - c.cursor));
    },
  });
  new Gauge({
    name: 'opr_subscriber_state',
    help: 'Push subscriber delivery state: 1 for the current state (active, retrying, dead), 0 for the others.',
    labelNames: ['subscriber', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const c of store.listSubscriberCursors()) {
        for (const state of ['active', 'retrying', 'dead'] as const) this.set({ subscriber: c.name, state }, c.state === state ? 1 : 0);
      }
    },
  });
  const presence = ctx.presence;
  if (presence !== undefined) {
    new Gauge({
      name: 'opr_presence_online_users',
      help: 'Users the stream currently says are online (on at least one platform).',
      registers,
      collect() {
        this.set(presence.onlineUsers());
      },
    });
    new Gauge({
      name: 'opr_presence_keys',
      help: 'Known (userID, platformID) keys.',
      registers,
      collect() {
        this.set(presence.keys());
      },
    });
    new Gauge({
      name: 'opr_presence_held_offlines',
      help: 'Offline webhooks currently held for the settle window.',
      registers,
      collect() {
        this.set(presence.heldOffline());
      },
    });
  }
  const connections = ctx.connections;
  if (connections !== undefined) {
    new Gauge({
      name: 'opr_http_connections',
      help: 'Open connections per listener (webhook, api; shared when they share a port), those accepted beyond the cap only to be answered 503 included.',
      labelNames: ['listener'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of connections()) this.set({ listener: c.listener }, c.open);
      },
    });
    new Counter({
      name: 'opr_http_connections_closed_total',
      help:
        'Connections the listeners ended or requests they refused, by listener and reason: evicted (an idle connection closed for a new one at the cap), ' +
        'headers_timeout, body_timeout (answered 408), over_cap (a request answered 503 with Retry-After), refused (closed beyond the reserve over the cap), ' +
        'bad_request (a request the HTTP parser rejected).',
      labelNames: ['listener', 'reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of connections()) for (const reason of CONNECTION_CLOSE_REASONS) this.inc({ listener: c.listener, reason }, c.closed[reason]);
      },
    });
  }
  const sseConnections = new Gauge({
    name: 'opr_sse_connections',
    help: 'Open server-sent-event stream connections.',
    registers,
  });

  // Series that exist from the start, so rates and alerts work before the first occurrence.
  for (const command of WEBHOOK_COMMANDS) for (const outcome of ['recorded', 'duplicate']) received.inc({ command, outcome }, 0);
  for (const kind of MISMATCH_KINDS) mismatches.inc({ kind }, 0);
  for (const kind of POLL_KINDS) {
    pollCycles.inc({ kind }, 0);
    pollErrors.inc({ kind }, 0);
    pollRequests.inc({ kind }, 0);
    pollUsers.inc({ kind }, 0);
  }
  sseConnections.set(0);

  const bus = ctx.bus;
  const offs = [
    bus.on('webhook:accepted', (i) => {
      const command = commandLabel(i.command);
      received.inc({ command, outcome: i.duplicate ? 'duplicate' : 'recorded' });
      ingestLatency.observe(i.latencyMs / 1000);
    }),
    bus.on('webhook:rejected', (i) => rejected.inc({ command: commandLabel(i.command), reason: reasonLabel(i.reason) })),
    bus.on('commit:batch', (i) => {
      batchSize.observe(i.size);
      batchDuration.observe(i.durationMs / 1000);
    }),
    bus.on('poll:cycle', (i) => {
      pollCycles.inc({ kind: i.kind });
      pollDuration.observe({ kind: i.kind }, i.durationMs / 1000);
      pollErrors.inc({ kind: i.kind }, i.errors);
      pollRequests.inc({ kind: i.kind }, i.requests);
      pollUsers.inc({ kind: i.kind }, i.usersPolled);
      disagreements.inc(i.disagreements);
    }),
    bus.on('poll:failed', () => pollFailures.inc()),
    bus.on('mismatch:recorded', (m) => mismatches.inc({ kind: m.kind })),
    bus.on('guard:raised', () => guardRaised.inc()),
    bus.on('events:committed', (evs) => {
      for (const e of evs) events.inc({ type: e.type, source: e.source });
    }),
  ];

  let closed = false;
  return {
    registry,
    sseConnections,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close() {
      if (closed) return;
      closed = true;
      for (const off of offs) off();
    },
  };
}
