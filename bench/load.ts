/**
 * Load generation for the webhook benchmarks: OpenIM 3.8.x callback bodies, autocannon runs (closed loop at a fixed
 * concurrency, or autocannon's `overallRate`), and an own open-loop generator that sends at evenly spaced times and
 * measures each latency from the request's scheduled time (no coordinated omission).
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { offlineWebhookBody, ONLINE_COMMAND, onlineWebhookBody } from '../src/simulator/go-json.js';
import type { PresenceCommand } from '../src/simulator/go-json.js';
import { Samples } from './stats.js';
import type { LatencySummary } from './stats.js';

export type WebhookCommand = PresenceCommand;

/** The header OpenIM's webhook client sends. */
export const WEBHOOK_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A webhook body exactly as OpenIM 3.8.x sends it (compact JSON with a trailing newline), as the simulator's gateways build it. */
export function webhookBody(command: WebhookCommand, userID: string, platformID: number, seq: number, operationID: string): string {
  return command === ONLINE_COMMAND ? onlineWebhookBody(operationID, platformID, userID, seq, false) : offlineWebhookBody(operationID, platformID, userID, seq);
}

/** A deterministic pseudo-random stream (mulberry32), so runs are comparable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WebhookRequest {
  command: WebhookCommand;
  /** Path below the base URL's path, e.g. `/callbackAfterUserOnlineCommand`. */
  path: string;
  body: string;
}

/**
 * A realistic mix: random users of a pool on random platforms (iOS, Android, Web); each key alternates online and
 * offline, so the daemon sees new onlines (events), offlines (held, then published), and cancellations.
 * Every webhook is unique (operationID), so none is deduplicated.
 */
export class WebhookMix {
  private readonly online = new Set<string>();
  private readonly rnd: () => number;
  private n = 0;

  constructor(
    private readonly users = 10_000,
    seed = 42,
    private readonly prefix = 'bu',
  ) {
    this.rnd = prng(seed);
  }

  next(): WebhookRequest {
    const user = `${this.prefix}${1 + Math.floor(this.rnd() * this.users)}`;
    const platformID = [1, 2, 5][Math.floor(this.rnd() * 3)]!;
    const key = `${user}:${platformID}`;
    const wasOnline = this.online.has(key);
    if (wasOnline) this.online.delete(key);
    else this.online.add(key);
    const command: WebhookCommand = wasOnline ? 'callbackAfterUserOfflineCommand' : 'callbackAfterUserOnlineCommand';
    this.n++;
    return { command, path: `/${command}`, body: webhookBody(command, user, platformID, Date.now(), `bench_${process.pid}_${this.n}`) };
  }
}

// --- autocannon ------------------------------------------------------------------------------------------------

interface AcRequest {
  method?: string;
  path?: string;
  body?: string;
  headers?: Record<string, string>;
}

interface AcOptions {
  url: string | string[];
  connections: number;
  duration: number;
  pipelining?: number;
  timeout?: number;
  method?: string;
  headers?: Record<string, string>;
  overallRate?: number;
  requests?: { setupRequest?: (req: AcRequest, context: Record<string, unknown>) => AcRequest }[];
}

interface AcHistogram {
  average: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

interface AcResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  latency: AcHistogram;
  requests: AcHistogram & { total: number };
}

interface AcInstance {
  on(event: 'response', fn: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
}

type Autocannon = (opts: AcOptions, cb: (err: Error | null, result: AcResult) => void) => AcInstance;

const require = createRequire(import.meta.url);
let autocannonFn: Autocannon | undefined;
function autocannon(): Autocannon {
  autocannonFn ??= require('autocannon') as Autocannon;
  return autocannonFn;
}

export interface LoadResult {
  /** 2xx replies per second over the run. */
  rps: number;
  ok: number;
  /** Non-2xx replies, connection errors and timeouts. */
  failed: number;
  durationS: number;
  /** Exact percentiles of every 2xx response time (ms, sub-ms precision), from autocannon's `response` events. */
  latency: LatencySummary;
  /** autocannon's own histogram (1 ms resolution; corrected for coordinated omission when a rate is set). */
  autocannon: { p50: number; p99: number; max: number };
  /** Open loop only: how late requests left compared with their evenly spaced slots (ms). */
  sendLateness?: LatencySummary;
}

export interface AutocannonRun {
  /** Base URL including the path secret, e.g. http://127.0.0.1:1234/secret */
  url: string;
  /**
   * Several servers with the same path (replicas behind a load balancer): connection i goes to `urls[i % n]`
   * (autocannon's own round robin), so the connections are dealt evenly. Overrides `url` when given.
   */
  urls?: string[];
  connections: number;
  durationS: number;
  overallRate?: number;
  /** Source of bodies (shared between the daemon and the bare run so both see the same load). */
  mix: WebhookMix;
}

export async function runAutocannon(run: AutocannonRun): Promise<LoadResult> {
  const targets = (run.urls ?? [run.url]).map((u) => new URL(u));
  const base = targets[0]!;
  const basePath = base.pathname.replace(/\/+$/, '');
  const samples = new Samples();
  const setupRequest = (req: AcRequest): AcRequest => {
    const w = run.mix.next();
    return { ...req, method: 'POST', path: `${basePath}${w.path}`, body: w.body, headers: { 'content-type': WEBHOOK_CONTENT_TYPE } };
  };
  const opts: AcOptions = {
    url: targets.length === 1 ? `${base.protocol}//${base.host}` : targets.map((t) => `${t.protocol}//${t.host}`),
    connections: run.connections,
    duration: run.durationS,
    pipelining: 1,
    timeout: 10,
    method: 'POST',
    headers: { 'content-type': WEBHOOK_CONTENT_TYPE },
    requests: [{ setupRequest }],
  };
  if (run.overallRate !== undefined) opts.overallRate = run.overallRate;
  const result = await new Promise<AcResult>((resolve, reject) => {
    const inst = autocannon()(opts, (err, res) => (err ? reject(err) : resolve(res)));
    inst.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) samples.add(responseTime);
    });
  });
  return {
    rps: result['2xx'] / result.duration,
    ok: result['2xx'],
    failed: result.non2xx + result.errors + result.timeouts,
    durationS: result.duration,
    latency: samples.summary(),
    autocannon: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  };
}

// --- own open-loop generator -----------------------------------------------------------------------------------

export interface OpenLoopRun {
  url: string;
  /** Requests per second, evenly spaced. */
  rate: number;
  durationS: number;
  mix: { next(): WebhookRequest };
  /** Most sockets (concurrent requests); more requests wait in the agent's queue, and that wait counts. Default 64. */
  maxSockets?: number;
  /** Called just before each request is written (send time, performance.now()). */
  onSend?: (w: WebhookRequest, at: number) => void;
}

/**
 * Sends `rate` requests per second at evenly spaced scheduled times (checked every millisecond, so a request leaves
 * up to ~1 ms after its slot) over up to `maxSockets` keep-alive connections. Each latency runs from the moment the
 * request is handed to node's HTTP client (so waiting for a free connection counts) to the end of the reply. How late
 * the generator itself sent (send time − slot) is reported separately, so a busy load generator shows.
 */
export async function runOpenLoop(run: OpenLoopRun): Promise<LoadResult> {
  const base = new URL(run.url);
  const basePath = base.pathname.replace(/\/+$/, '');
  const agent = new http.Agent({ keepAlive: true, maxSockets: run.maxSockets ?? 64 });
  const samples = new Samples();
  const lateness = new Samples();
  const total = Math.round(run.rate * run.durationS);
  const interval = 1000 / run.rate;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let done = 0;
  const t0 = performance.now() + 5;
  await new Promise<void>((resolve) => {
    const finishOne = (): void => {
      done++;
      if (done === total) resolve();
    };
    const sendOne = (scheduled: number): void => {
      const w = run.mix.next();
      let sentAt = 0;
      const req = http.request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method: 'POST',
          path: `${basePath}${w.path}`,
          headers: { 'content-type': WEBHOOK_CONTENT_TYPE, 'content-length': Buffer.byteLength(w.body) },
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              ok++;
              samples.add(performance.now() - sentAt);
            } else failed++;
            finishOne();
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed++;
        finishOne();
      });
      sentAt = performance.now();
      lateness.add(sentAt - scheduled);
      run.onSend?.(w, sentAt);
      req.end(w.body);
    };
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) sendOne(t0 + interval * sent++);
      if (sent >= total) clearInterval(timer);
    };
    const timer = setInterval(tick, 1);
    if (total === 0) resolve();
  });
  agent.destroy();
  const durationS = run.durationS;
  return {
    rps: ok / durationS,
    ok,
    failed,
    durationS,
    latency: samples.summary(),
    autocannon: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
    sendLateness: lateness.summary(),
  };
}
