/** The operator report (`GET /v1/report`): mismatches, webhook health, late webhooks and polling over a period. */
import type { MismatchKind } from '../domain.js';
import { MISMATCH_KINDS } from '../domain.js';
import type { HealthState, WebhookHealth } from '../health/webhook-health.js';
import { worstState } from '../health/webhook-health.js';
import { platformName } from '../openim/platforms.js';
import type { IncidentStatus } from '../incidents/incident.js';
import type { IncidentJson } from '../incidents/incident-json.js';
import type { PollRunSummary } from '../store/store.js';
import type { ApiStore } from './api-context.js';
import { incidentCounts, incidentsToJson } from './incident-routes.js';

export interface PlatformCount {
  platformID: number | null;
  platform: string;
  count: number;
}

/** The store's poll-run summary with its time as ISO-8601. */
export type PollKindSummary = Omit<PollRunSummary, 'lastStartedAt'> & { lastStartedAt: string | null };

export interface OpsReport {
  since: string;
  generatedAt: string;
  /**
   * First what to review: incidents (mismatches grouped by kind, cause and time) active in the period, open and
   * acknowledged first, then the most recent; `counts` covers every retained incident.
   */
  incidents: { counts: Record<IncidentStatus, number>; openMismatches: number; list: IncidentJson[] };
  mismatches: {
    total: number;
    /** Every kind, zero included. */
    byKind: Record<MismatchKind, number>;
    /** Most first. */
    byPlatform: PlatformCount[];
    byKindAndPlatform: (PlatformCount & { kind: MismatchKind })[];
  };
  /** Judged by the health service over its own window (reconcile.healthWindowMinutes), not over `since`. */
  webhookHealth: { windowMinutes: number; state: HealthState; entries: WebhookHealth[] };
  /** Users with the most mismatches, most first. */
  topUsers: { userID: string; count: number }[];
  /** Delays of webhooks that arrived after their correction (nearest-rank percentiles). */
  lateWebhooks: { count: number; p50Ms: number | null; p90Ms: number | null; p99Ms: number | null; maxMs: number | null };
  polls: {
    /** Every run in the period: cycles + confirms + discoveries. */
    runs: number;
    /** Scheduled poll cycles. */
    cycles: number;
    /** Targeted re-polls confirming disagreements. */
    confirms: number;
    /** Discovery sweeps (get_all_users_uid). */
    discoveries: number;
    /** Of `runs`, those that recorded at least one error. */
    runsWithErrors: number;
    /** Errors recorded (failed batches or failed runs), all kinds: one run can record several. */
    errors: number;
    /** User polls, added up over the runs: a user polled by 10 cycles counts 10 times. */
    usersPolled: number;
    requests: number;
    disagreements: number;
    /** Corrective events published. */
    corrections: number;
    lastCycleAt: string | null;
    byKind: PollKindSummary[];
  };
}

export interface ReportInputs {
  store: ApiStore;
  webhookHealth: () => WebhookHealth[];
  healthWindowMinutes: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** Incidents the report lists at most. */
const REPORT_INCIDENTS = 20;

function reportIncidents(store: ApiStore, since: number): OpsReport['incidents'] {
  const unreviewed = store.listIncidents({ statuses: ['open', 'acknowledged'], since, limit: REPORT_INCIDENTS });
  const rest = unreviewed.length < REPORT_INCIDENTS ? store.listIncidents({ statuses: ['closed'], since, limit: REPORT_INCIDENTS - unreviewed.length }) : [];
  return {
    counts: incidentCounts(store),
    openMismatches: store.countMismatches('open', since),
    list: incidentsToJson(store, [...unreviewed, ...rest]),
  };
}

export function buildReport(inputs: ReportInputs, since: number, now: number, top: number): OpsReport {
  const { store } = inputs;
  const byKind = Object.fromEntries(MISMATCH_KINDS.map((k) => [k, 0])) as Record<MismatchKind, number>;
  const byPlatform = new Map<number | null, number>();
  const byKindAndPlatform: OpsReport['mismatches']['byKindAndPlatform'] = [];
  let total = 0;
  for (const c of store.mismatchCounts(since)) {
    total += c.count;
    byKind[c.kind] = (byKind[c.kind] ?? 0) + c.count;
    byPlatform.set(c.platformID, (byPlatform.get(c.platformID) ?? 0) + c.count);
    byKindAndPlatform.push({ kind: c.kind, platformID: c.platformID, platform: c.platformID === null ? '' : platformName(c.platformID), count: c.count });
  }
  byKindAndPlatform.sort((a, b) => MISMATCH_KINDS.indexOf(a.kind) - MISMATCH_KINDS.indexOf(b.kind) || (a.platformID ?? -1) - (b.platformID ?? -1));
  const platforms = [...byPlatform.entries()]
    .map(([platformID, count]) => ({ platformID, platform: platformID === null ? '' : platformName(platformID), count }))
    .sort((a, b) => b.count - a.count || (a.platformID ?? -1) - (b.platformID ?? -1));

  const late = store
    .lateDelays(since)
    .map((l) => l.lateByMs)
    .sort((a, b) => a - b);

  const runs = store.pollRunSummary(since);
  const sum = (f: (r: (typeof runs)[number]) => number): number => runs.reduce((acc, r) => acc + f(r), 0);
  const cycle = runs.find((r) => r.kind === 'cycle');
  const confirm = runs.find((r) => r.kind === 'confirm');

  const entries = inputs.webhookHealth();
  return {
    since: new Date(since).toISOString(),
    generatedAt: new Date(now).toISOString(),
    incidents: reportIncidents(store, since),
    mismatches: { total, byKind, byPlatform: platforms, byKindAndPlatform },
    webhookHealth: { windowMinutes: inputs.healthWindowMinutes, state: worstState(entries), entries },
    topUsers: store.topMismatchUsers(since, top),
    lateWebhooks: {
      count: late.length,
      p50Ms: percentile(late, 50),
      p90Ms: percentile(late, 90),
      p99Ms: percentile(late, 99),
      maxMs: late.length > 0 ? late[late.length - 1]! : null,
    },
    polls: {
      runs: sum((r) => r.runs),
      cycles: cycle?.runs ?? 0,
      confirms: confirm?.runs ?? 0,
      discoveries: runs.find((r) => r.kind === 'discovery')?.runs ?? 0,
      runsWithErrors: sum((r) => r.runsWithErrors),
      errors: sum((r) => r.errors),
      usersPolled: sum((r) => r.usersPolled),
      requests: sum((r) => r.requests),
      disagreements: sum((r) => r.disagreements),
      corrections: sum((r) => r.corrections),
      lastCycleAt: iso(cycle?.lastStartedAt ?? null),
      byKind: runs.map((r) => ({ ...r, lastStartedAt: iso(r.lastStartedAt) })),
    },
  };
}
