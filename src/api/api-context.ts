import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DemoStatus } from '../demo/demo-script.js';
import type { EventBus } from '../engine/event-bus.js';
import type { PresenceEngine } from '../engine/presence-engine.js';
import type { IncidentService } from '../incidents/incident-service.js';
import type { HealthService } from '../health/health-service.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PollScheduler } from '../poller/poll-scheduler.js';
import type { PushControl } from '../push/push-dispatcher.js';
import type { Store } from '../store/store.js';

/** What the HTTP routes may use. Built once by the composition root. */
export interface ApiContext {
  config: Config;
  store: Store;
  engine: PresenceEngine;
  bus: EventBus;
  health: HealthService;
  poller: PollScheduler | undefined;
  /** Prometheus metrics (own registry); `metrics.sseConnections` is for the SSE route to inc()/dec(). */
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** Push delivery to configured subscribers (the /v1/subscribers endpoints); absent: none are listed. */
  push?: PushControl;
  /** Mismatches grouped into incidents (acknowledge). */
  incidents: IncidentService;
  /** Only under `demo`: the scripted episode now (GET /v1/demo; 404 otherwise). */
  demo?: () => DemoStatus;
  /** Cleanup hooks run when the API server closes (e.g. ending SSE connections). */
  onClose: (fn: () => void | Promise<void>) => void;
}
