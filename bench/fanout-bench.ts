/**
 * Benchmark 4, fan-out: the time from a webhook's arrival to its event reaching each of N SSE subscribers
 * (`GET /v1/events`, `Accept: text/event-stream`; events carry `id: <seq>` and `data: <event JSON>`), at a fixed
 * webhook rate.
 *
 * The daemon runs in a child process, the load generator in this one, and the subscribers in child processes of
 * their own (`subscriberProcesses`), so the figure is the daemon's, not that of a process shared with 100 parsers.
 * Send and receive times are read as `performance.timeOrigin + performance.now()` in each process (one machine, one
 * clock). Every webhook is an online for a fresh user, so each yields exactly one event, matched to its send time by
 * userID. A control run does the same against a bare SSE broadcaster (node:http, no storage), which shows what the
 * machine itself allows with daemon, generator and subscribers on two cores.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WEBHOOK_SUCCESS_BODY } from '../src/openim/webhook-schemas.js';
import { runOpenLoop, webhookBody } from './load.js';
import type { WebhookRequest } from './load.js';
import type { BenchOutput } from './report.js';
import { fig, fmtNumber } from './report.js';
import type { DaemonReady } from './roles.js';
import { BENCH_PATH_SECRET } from './roles.js';
import type { LatencySummary } from './stats.js';
import { EldMonitor, Samples, sleep } from './stats.js';
import type { Worker, WorkerRole } from './workers.js';
import { startWorker, withProfile } from './workers.js';

export interface FanoutOptions {
  subscribers: number;
  /** Child processes the subscribers are spread over (default 2). */
  subscriberProcesses?: number;
  /** Also run the same load against a bare SSE broadcaster (default true). */
  control?: boolean;
  /** Webhooks (= events) per second. */
  rate: number;
  durationS: number;
  /** Write a CPU profile of the daemon during the load here. */
  profileDir?: string;
}

export const FANOUT_FULL: FanoutOptions = { subscribers: 100, rate: 1000, durationS: 10 };
export const FANOUT_QUICK: FanoutOptions = { subscribers: 100, rate: 1000, durationS: 2 };

const P99_TARGET_MS = 20;

/** Why the stream cannot be measured, or undefined when GET /v1/events speaks SSE. */
export function probeSse(apiUrl: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get(`${apiUrl}/v1/events`, { headers: { accept: 'text/event-stream' } }, (res) => {
      const ctype = res.headers['content-type'] ?? '';
      res.destroy();
      if (res.statusCode === 200 && ctype.startsWith('text/event-stream')) resolve(undefined);
      else resolve(`GET /v1/events with Accept: text/event-stream answered HTTP ${res.statusCode} ${ctype || '(no content-type)'}, not an event stream: the SSE route is not there yet`);
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (e) => resolve(`GET /v1/events failed: ${e.message}`));
  });
}

interface Subscriber {
  /** Resolves once the stream's headers arrived. */
  opened: Promise<void>;
  close(): void;
  received: number;
}

/**
 * One SSE subscriber on its own connection. Parses the wire format (blocks separated by a blank line, `data:`
 * lines joined) and reports each event's userID with the arrival time of its chunk.
 */
function subscribe(apiUrl: string, onEvent: (userID: string, at: number) => void): Subscriber {
  let buf = '';
  let req: http.ClientRequest | undefined;
  const sub: Subscriber = {
    received: 0,
    opened: new Promise<void>((resolve, reject) => {
      req = http.get(`${apiUrl}/v1/events`, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`subscriber got HTTP ${res.statusCode}`));
          res.destroy();
          return;
        }
        res.setEncoding('utf8');
        resolve();
        res.on('data', (chunk: string) => {
          const at = performance.now();
          buf += chunk;
          let end: number;
          while ((end = blockEnd(buf)) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end).replace(/^(\r\n|\n|\r){2}/, '');
            const data = block
              .split(/\r\n|\n|\r/)
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5))
              .join('\n');
            if (data === '') continue;
            const userID = userIDOf(data);
            if (userID !== undefined) {
              sub.received++;
              onEvent(userID, at);
            }
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', reject);
    }),
    close: () => req?.destroy(),
  };
  return sub;
}

function blockEnd(buf: string): number {
  const a = buf.indexOf('\n\n');
  const b = buf.indexOf('\r\n\r\n');
  if (a < 0) return b;
  if (b < 0) return a;
  return Math.min(a, b);
}

/** The event's userID: a cheap scan of the compact JSON, JSON.parse as the fallback. */
function userIDOf(data: string): string | undefined {
  const i = data.indexOf('"userID":"');
  if (i >= 0) {
    const j = data.indexOf('"', i + 10);
    if (j > i && !data.slice(i + 10, j).includes('\\')) return data.slice(i + 10, j);
  }
  try {
    const v = JSON.parse(data) as { userID?: unknown };
    return typeof v.userID === 'string' ? v.userID : undefined;
  } catch {
    return undefined;
  }
}

/** Online webhooks for fresh users `f<n>`: one event each. */
class FreshOnlines {
  private n = 0;
  next(): WebhookRequest {
    this.n++;
    const command = 'callbackAfterUserOnlineCommand';
    return { command, path: `/${command}`, body: webhookBody(command, `f${this.n}`, 5, Date.now(), `fan_${this.n}`) };
  }
}

export interface SubscribersArg {
  apiUrl: string;
  count: number;
}

/**
 * Role `subscribers`: `count` SSE subscribers of `apiUrl` in this process. Commands: `received` (events received),
 * `latencies` (arg: userID → absolute send time; answers the latency summary, raw latencies and how many events
 * matched no send).
 */
export async function subscribersRole(arg: unknown): Promise<WorkerRole> {
  const { apiUrl, count } = arg as SubscribersArg;
  const arrivalUser: string[] = [];
  const at: number[] = [];
  const subs: Subscriber[] = [];
  for (let i = 0; i < count; i++) {
    subs.push(
      subscribe(apiUrl, (userID, t) => {
        arrivalUser.push(userID);
        at.push(performance.timeOrigin + t);
      }),
    );
  }
  await Promise.all(subs.map((s) => s.opened));
  return {
    ready: { subscribers: count },
    commands: {
      received: () => arrivalUser.length,
      latencies: (sent: unknown) => {
        const sentAt = sent as Record<string, number>;
        const latencies = new Samples();
        const raw: number[] = [];
        let unmatched = 0;
        for (let i = 0; i < arrivalUser.length; i++) {
          const t = sentAt[arrivalUser[i]!];
          if (t === undefined) {
            unmatched++;
            continue;
          }
          const l = at[i]! - t;
          latencies.add(l);
          raw.push(Math.round(l * 100) / 100);
        }
        return { summary: latencies.summary(), raw, unmatched };
      },
    },
    close: () => {
      for (const s of subs) s.close();
      return Promise.resolve();
    },
  };
}

/**
 * Role `sse-bare`: the control. A node:http server that answers a webhook POST with OpenIM's reply and writes one
 * SSE frame (`id`, `data` with the userID) to every open `GET /v1/events`: no parsing beyond the userID, no storage.
 */
export async function bareSseRole(): Promise<WorkerRole> {
  const streams = new Set<http.ServerResponse>();
  let seq = 0;
  const replyHeaders = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(WEBHOOK_SUCCESS_BODY)) };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/v1/events') === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(': open\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = /"userID":"([^"]+)"/.exec(Buffer.concat(chunks).toString('utf8'));
      if (m) {
        const frame = `id: ${++seq}\ndata: {"seq":${seq},"userID":"${m[1]!}"}\n\n`;
        for (const s of streams) s.write(frame);
      }
      res.writeHead(200, replyHeaders);
      res.end(WEBHOOK_SUCCESS_BODY);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    ready: { webhookUrl: `${base}/${BENCH_PATH_SECRET}`, apiUrl: base } satisfies DaemonReady,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface FanoutRun {
  summary: LatencySummary;
  expected: number;
  received: number;
  unmatched: number;
  replyP99: number;
  generator: { eldMaxMs: number; cpuShare: number };
  serverCpuShare: number;
  subscriberEldMaxMs: number;
}

/** One run: subscribers in their processes, the open-loop load from this one, latencies matched by userID. */
async function fanoutRun(server: Worker<DaemonReady>, o: FanoutOptions, name: string): Promise<FanoutRun> {
  const processes = Math.max(1, Math.min(o.subscribers, o.subscriberProcesses ?? 2));
  const counts = Array.from({ length: processes }, (_, i) => Math.floor(o.subscribers / processes) + (i < o.subscribers % processes ? 1 : 0));
  const groups = await Promise.all(counts.map((count) => startWorker<{ subscribers: number }>('subscribers', { apiUrl: server.ready.apiUrl, count } satisfies SubscribersArg)));
  try {
    await sleep(200);
    await server.eld();
    await Promise.all(groups.map((g) => g.eld()));
    const sentAt: Record<string, number> = {};
    const ownEld = new EldMonitor().start();
    const cpu0 = process.cpuUsage();
    const serverCpu0 = await server.call<NodeJS.CpuUsage>('cpu');
    const t0 = performance.now();
    const load = await withProfile(server, o.profileDir, name, () =>
      runOpenLoop({
        url: server.ready.webhookUrl,
        rate: o.rate,
        durationS: o.durationS,
        mix: new FreshOnlines(),
        maxSockets: 32,
        onSend: (w, at) => {
          const m = /"userID":"([^"]+)"/.exec(w.body);
          if (m) sentAt[m[1]!] = performance.timeOrigin + at;
        },
      }),
    );
    const expected = load.ok * o.subscribers;
    const deadline = Date.now() + 5000;
    const receivedNow = async (): Promise<number> => (await Promise.all(groups.map((g) => g.call<number>('received')))).reduce((a, b) => a + b, 0);
    while ((await receivedNow()) < expected && Date.now() < deadline) await sleep(50);
    const ownCpu = process.cpuUsage(cpu0);
    const serverCpu1 = await server.call<NodeJS.CpuUsage>('cpu');
    const elapsedMs = performance.now() - t0;
    const generator = { eldMaxMs: ownEld.take().maxMs, cpuShare: (ownCpu.user + ownCpu.system) / 1000 / elapsedMs };
    ownEld.stop();
    const serverCpuShare = (serverCpu1.user - serverCpu0.user + serverCpu1.system - serverCpu0.system) / 1000 / elapsedMs;
    const parts = await Promise.all(groups.map((g) => g.call<{ raw: number[]; unmatched: number }>('latencies', sentAt)));
    const subscriberEld = await Promise.all(groups.map((g) => g.eld()));
    const all = new Samples();
    let unmatched = 0;
    for (const p of parts) {
      all.addAll(p.raw);
      unmatched += p.unmatched;
    }
    return {
      summary: all.summary(),
      expected,
      received: all.count,
      unmatched,
      replyP99: load.latency.p99,
      generator,
      serverCpuShare,
      subscriberEldMaxMs: Math.max(...subscriberEld.map((e) => e.maxMs)),
    };
  } finally {
    await Promise.allSettled(groups.map((g) => g.stop()));
  }
}

export async function fanoutBench(o: FanoutOptions): Promise<BenchOutput> {
  const daemon = await startWorker<DaemonReady>('daemon', { api: { maxSseConnections: Math.max(1000, o.subscribers + 10) } });
  let run: FanoutRun;
  let eld;
  try {
    const missing = await probeSse(daemon.ready.apiUrl);
    if (missing !== undefined) {
      return {
        figures: [
          fig('fanout', 'fanout.p50', `fan-out webhook → SSE, ${o.subscribers} subscribers at ${fmtNumber(o.rate)} events/s: p50`, null, 'ms', { note: missing }),
          fig('fanout', 'fanout.p99', `fan-out webhook → SSE: p99`, null, 'ms', { baseline: `≤ ${P99_TARGET_MS} ms`, note: missing }),
        ],
        eld: await daemon.eld(),
        details: { notMeasured: missing },
      };
    }
    run = await fanoutRun(daemon, o, 'fanout');
    eld = await daemon.eld();
  } finally {
    await daemon.stop();
  }
  let control: FanoutRun | undefined;
  if (o.control ?? true) {
    const bare = await startWorker<DaemonReady>('sse-bare', {});
    try {
      control = await fanoutRun(bare, { ...o, profileDir: undefined }, 'fanout-control');
    } finally {
      await bare.stop();
    }
  }
  const s = run.summary;
  const complete = run.received >= run.expected;
  const processes = Math.max(1, Math.min(o.subscribers, o.subscriberProcesses ?? 2));
  const label = `fan-out webhook → SSE, ${o.subscribers} subscribers (${processes} processes) at ${fmtNumber(o.rate)} events/s`;
  const controlNote = (v: number | undefined): string => (v === undefined ? '' : `; bare SSE broadcaster ${fmtNumber(v)} ms`);
  return {
    figures: [
      fig('fanout', 'fanout.p50', `${label}: p50`, s.p50, 'ms', { baseline: `${fmtNumber(run.received)} deliveries${controlNote(control?.summary.p50)}` }),
      fig('fanout', 'fanout.p99', `${label}: p99`, s.p99, 'ms', { baseline: `≤ ${P99_TARGET_MS} ms${controlNote(control?.summary.p99)}`, holds: s.p99 <= P99_TARGET_MS && complete }),
      fig('fanout', 'fanout.max', `${label}: max`, s.max, 'ms', { baseline: controlNote(control?.summary.max).slice(2) }),
      fig('fanout', 'fanout.replyP99', `${label}: webhook reply p99 meanwhile`, run.replyP99, 'ms'),
      fig('fanout', 'fanout.generatorEldMax', `${label}: load generator process, event-loop max delay (its health)`, run.generator.eldMaxMs, 'ms', {
        baseline: `it used ${fmtNumber(run.generator.cpuShare * 100)} % of a core; the daemon ${fmtNumber(run.serverCpuShare * 100)} %; subscriber processes' max delay ${fmtNumber(run.subscriberEldMaxMs)} ms`,
        digits: 1,
      }),
      fig('fanout', 'fanout.missing', `${label}: deliveries missing`, run.expected - run.received, '', { baseline: `0 of ${fmtNumber(run.expected)}`, holds: complete, digits: 0 }),
      ...(control
        ? [
            fig('fanout', 'fanout.control.p99', `${label}: control, a bare SSE broadcaster (no storage) in the same harness: p99`, control.summary.p99, 'ms', {
              baseline: `${fmtNumber(control.received)} of ${fmtNumber(control.expected)} deliveries; it used ${fmtNumber(control.serverCpuShare * 100)} % of a core`,
            }),
          ]
        : []),
    ],
    eld,
    details: { options: o, run, control },
  };
}
