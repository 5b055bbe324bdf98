/**
 * Benchmark 4, fan-out: the time from a webhook's arrival to its event reaching each of N SSE subscribers
 * (`GET /v1/events`, `Accept: text/event-stream`; events carry `id: <seq>` and `data: <event JSON>`), at a fixed
 * webhook rate.
 *
 * The daemon runs in a child process; the load generator and the subscribers run in this process, so the send time
 * (just before the request is written) and the receive time (when the chunk holding the event arrives) are read
 * from the same clock (performance.now()). Every webhook is an online for a fresh user, so each yields exactly one
 * event, matched to its send time by userID.
 */
import http from 'node:http';
import { runOpenLoop, webhookBody } from './load.js';
import type { WebhookRequest } from './load.js';
import type { BenchOutput } from './report.js';
import { fig, fmtNumber } from './report.js';
import type { DaemonReady } from './roles.js';
import { EldMonitor, Samples, sleep } from './stats.js';
import { startWorker, withProfile } from './workers.js';

export interface FanoutOptions {
  subscribers: number;
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

export async function fanoutBench(o: FanoutOptions): Promise<BenchOutput> {
  const daemon = await startWorker<DaemonReady>('daemon', { api: { maxSseConnections: Math.max(1000, o.subscribers + 10) } }, );
  const subs: Subscriber[] = [];
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
    const sentAt = new Map<string, number>();
    const latencies = new Samples();
    let late = 0;
    const onEvent = (userID: string, at: number): void => {
      const t = sentAt.get(userID);
      if (t === undefined) {
        late++;
        return;
      }
      latencies.add(at - t);
    };
    for (let i = 0; i < o.subscribers; i++) subs.push(subscribe(daemon.ready.apiUrl, onEvent));
    await Promise.all(subs.map((s) => s.opened));
    await sleep(200);
    await daemon.eld();
    // This process (load generator + subscribers) must not be the bottleneck: its own loop delay and CPU are recorded.
    const ownEld = new EldMonitor().start();
    const cpu0 = process.cpuUsage();
    const daemonCpu0 = await daemon.call<NodeJS.CpuUsage>('cpu');
    const t0 = performance.now();
    const load = await withProfile(daemon, o.profileDir, 'fanout', () => runOpenLoop({
      url: daemon.ready.webhookUrl,
      rate: o.rate,
      durationS: o.durationS,
      mix: new FreshOnlines(),
      maxSockets: 32,
      onSend: (w, at) => {
        const m = /"userID":"([^"]+)"/.exec(w.body);
        if (m) sentAt.set(m[1]!, at);
      },
    }));
    const expected = load.ok * o.subscribers;
    const deadline = Date.now() + 5000;
    while (latencies.count < expected && Date.now() < deadline) await sleep(20);
    const eld = await daemon.eld();
    const ownCpu = process.cpuUsage(cpu0);
    const daemonCpu1 = await daemon.call<NodeJS.CpuUsage>('cpu');
    const elapsedMs = performance.now() - t0;
    const generator = { eld: ownEld.take(), cpuShare: (ownCpu.user + ownCpu.system) / 1000 / elapsedMs };
    const daemonCpuShare = (daemonCpu1.user - daemonCpu0.user + daemonCpu1.system - daemonCpu0.system) / 1000 / elapsedMs;
    ownEld.stop();
    const received = latencies.count;
    const s = latencies.summary();
    const complete = received >= expected;
    const label = `fan-out webhook → SSE, ${o.subscribers} subscribers at ${fmtNumber(o.rate)} events/s`;
    return {
      figures: [
        fig('fanout', 'fanout.p50', `${label}: p50`, s.p50, 'ms', { baseline: `${fmtNumber(received)} deliveries` }),
        fig('fanout', 'fanout.p99', `${label}: p99`, s.p99, 'ms', { baseline: `≤ ${P99_TARGET_MS} ms`, holds: s.p99 <= P99_TARGET_MS && complete }),
        fig('fanout', 'fanout.max', `${label}: max`, s.max, 'ms'),
        fig('fanout', 'fanout.replyP99', `${label}: webhook reply p99 meanwhile`, load.latency.p99, 'ms'),
        fig('fanout', 'fanout.generatorEldMax', `${label}: load generator + subscribers process, event-loop max delay (its health)`, generator.eld.maxMs, 'ms', {
          baseline: `it used ${fmtNumber(generator.cpuShare * 100)} % of a core; the daemon ${fmtNumber(daemonCpuShare * 100)} %`,
          digits: 1,
        }),
        fig('fanout', 'fanout.missing', `${label}: deliveries missing`, expected - received, '', { baseline: `0 of ${fmtNumber(expected)}`, holds: complete, digits: 0 }),
      ],
      eld,
      details: { options: o, load, expected, received, unmatched: late, latency: s, generator, daemonCpuShare },
    };
  } finally {
    for (const s of subs) s.close();
    await daemon.stop();
  }
}
