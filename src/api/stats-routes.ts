/**
 * `GET /v1/stats/timeseries?since=&until=&bucket=`: transitions by source, webhooks received and mismatches by kind,
 * counted per time bucket (the dashboard's charts). Buckets are aligned to multiples of their size since the epoch,
 * so repeated requests line up; their number is bounded.
 */
import type { FastifyInstance } from 'fastify';
import type { MismatchKind } from '../domain.js';
import { MISMATCH_KINDS } from '../domain.js';
import { ApiError } from '../errors.js';
import type { ApiContext, ApiStore } from './api-context.js';
import { intParam } from './http-errors.js';
import { timeParam } from './ops-params.js';

/** Most buckets one answer may hold. */
export const MAX_BUCKETS = 1440;
/** Largest bucket: one day. */
export const MAX_BUCKET_SECONDS = 86_400;
/** Bucket sizes tried, smallest first, when the request names none: the first giving at most 90 buckets. */
const AUTO_BUCKETS_SECONDS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400] as const;
const AUTO_TARGET_BUCKETS = 90;
const DEFAULT_SINCE_MS = 3_600_000;

export interface TimeseriesBucket {
  /** Start of the bucket (ISO-8601). */
  t: string;
  /** Transitions published from webhooks. */
  webhook: number;
  /** Transitions published by correction (source `poll`). */
  poll: number;
  /** Webhooks received (including duplicates, renewals and held offlines). */
  receipts: number;
  /** Mismatches detected, by kind (every kind present, 0 when none). */
  mismatches: Record<MismatchKind, number>;
}

export interface Timeseries {
  since: string;
  until: string;
  bucketSeconds: number;
  kinds: readonly MismatchKind[];
  buckets: TimeseriesBucket[];
  totals: { webhook: number; poll: number; receipts: number; mismatches: Record<MismatchKind, number> };
}

function zeroKinds(): Record<MismatchKind, number> {
  return Object.fromEntries(MISMATCH_KINDS.map((k) => [k, 0])) as Record<MismatchKind, number>;
}

function autoBucketSeconds(rangeMs: number): number {
  for (const s of AUTO_BUCKETS_SECONDS) if (rangeMs / (s * 1000) <= AUTO_TARGET_BUCKETS) return s;
  return MAX_BUCKET_SECONDS;
}

/** Counts per bucket over [since, until); `since` is rounded down to a bucket boundary. */
export function buildTimeseries(store: ApiStore, since: number, until: number, bucketSeconds: number): Timeseries {
  const bucketMs = bucketSeconds * 1000;
  const start = Math.floor(since / bucketMs) * bucketMs;
  const count = Math.max(1, Math.ceil((until - start) / bucketMs));
  if (count > MAX_BUCKETS) {
    throw new ApiError(
      'OPR_ERR_BAD_REQUEST',
      400,
      `since..until with bucket=${bucketSeconds} gives ${count} buckets, at most ${MAX_BUCKETS} are allowed; use a larger bucket or a shorter range`,
    );
  }
  const buckets: TimeseriesBucket[] = [];
  for (let i = 0; i < count; i++) {
    buckets.push({ t: new Date(start + i * bucketMs).toISOString(), webhook: 0, poll: 0, receipts: 0, mismatches: zeroKinds() });
  }
  const totals = { webhook: 0, poll: 0, receipts: 0, mismatches: zeroKinds() };
  for (const r of store.eventBuckets(start, until, bucketMs)) {
    const b = buckets[r.bucket];
    if (!b) continue;
    b[r.source] += r.count;
    totals[r.source] += r.count;
  }
  for (const r of store.receiptBuckets(start, until, bucketMs)) {
    const b = buckets[r.bucket];
    if (!b) continue;
    b.receipts += r.count;
    totals.receipts += r.count;
  }
  for (const r of store.mismatchBuckets(start, until, bucketMs)) {
    const b = buckets[r.bucket];
    if (!b || !(r.kind in b.mismatches)) continue;
    b.mismatches[r.kind] += r.count;
    totals.mismatches[r.kind] += r.count;
  }
  return { since: new Date(start).toISOString(), until: new Date(until).toISOString(), bucketSeconds, kinds: MISMATCH_KINDS, buckets, totals };
}

export function registerStatsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/stats/timeseries', (req): Timeseries => {
    const q = req.query as Record<string, unknown>;
    const now = ctx.now();
    const since = timeParam(q.since, 'since', now, now - DEFAULT_SINCE_MS) ?? now - DEFAULT_SINCE_MS;
    const until = timeParam(q.until, 'until', now, now) ?? now;
    if (since >= until) {
      throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `since (${new Date(since).toISOString()}) must be before until (${new Date(until).toISOString()})`);
    }
    const bucket = intParam(q.bucket, 'bucket', autoBucketSeconds(until - since), 1, MAX_BUCKET_SECONDS);
    return buildTimeseries(ctx.store, since, until, bucket);
  });
}
