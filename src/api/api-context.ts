import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DemoStatus } from '../demo/demo-script.js';
import type { EventBus } from '../engine/event-bus.js';
import type { IncidentService } from '../incidents/incident-service.js';
import type { HealthService } from '../health/health-service.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PushControl } from '../push/push-dispatcher.js';
import type { EventLog, IncidentStore, MismatchStore, PollJournal, PresenceStateStore, ReceiptLog, ReportQueries, TrackedUsers, Transactions } from '../store/store.js';

/**
 * What the routes read of the store. The API writes nothing itself: an operator's review goes through the incident
 * service, its writer (docs/architecture.md, writers).
 */
export type ApiStore = Pick<Transactions, 'durable' | 'committedSeq'> &
  Omit<EventLog, 'appendEvent'> &
  ReportQueries &
  Pick<MismatchStore, 'getMismatch' | 'listMismatches' | 'mismatchesForUser' | 'countMismatches'> &
  Pick<PresenceStateStore, 'presencePage' | 'presenceOfUser' | 'userPresence'> &
  Pick<ReceiptLog, 'receiptsForUser'> &
  Pick<PollJournal, 'observationsForUser'> &
  Pick<TrackedUsers, 'countTrackedAmong'> &
  Pick<IncidentStore, 'getIncident' | 'listIncidents' | 'incidentKindCounts' | 'incidentStatusCounts'>;

/** What the HTTP routes may use. Built once by the composition root. */
export interface ApiContext {
  config: Config;
  store: ApiStore;
  bus: EventBus;
  health: HealthService;
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
  /** With the Redis backend: this replica (its role, Redis, readiness, and catching up with the shared log). */
  cluster?: Pick<ClusterNode, 'status' | 'ready' | 'caughtUp'>;
  /** Cleanup hooks run when the API server closes (e.g. ending SSE connections). */
  onClose: (fn: () => void | Promise<void>) => void;
}
