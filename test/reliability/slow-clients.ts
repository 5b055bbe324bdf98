/**
 * Clients that hold a listener's connections without using them (idle sockets, trickled heads and bodies), legitimate
 * probes sent meanwhile, and raw exchanges on one socket. Loopback only; every loop is bounded in count and time.
 */
import http from 'node:http';
import net from 'node:net';
import { sleep } from './helpers.js';

export type FloodMode = 'idle' | 'trickle-head';

/**
 * Holds `count` connections open to 127.0.0.1:`port`: `idle` ones send nothing, `trickle-head` ones send a request
 * head one byte per `trickleEveryMs` that never ends. A connection the server closes is opened again after
 * `reopenAfterMs`, at most `maxReopens` times in all, so the count stays up for as long as the flood runs.
 */
export class ConnectionFlood {
  /** Connections the server closed (or reset). */
  closedByServer = 0;
  reopens = 0;
  private readonly sockets = new Set<net.Socket>();
  private stopped = false;
  private trickleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly port: number,
    readonly count: number,
    private readonly mode: FloodMode,
    private readonly opts: { reopenAfterMs?: number; maxReopens?: number; trickleEveryMs?: number } = {},
  ) {}

  get open(): number {
    return this.sockets.size;
  }

  /** Opens the connections, `batch` at a time (each batch connected before the next), so the listen backlog holds. */
  async start(batch = 100): Promise<void> {
    for (let i = 0; i < this.count && !this.stopped; i += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, this.count - i) }, () => this.connect()));
    }
    if (this.mode === 'trickle-head') {
      this.trickleTimer = setInterval(() => {
        for (const s of this.sockets) if (s.writable) s.write('a');
      }, this.opts.trickleEveryMs ?? 1000);
    }
  }

  private connect(): Promise<void> {
    return new Promise((resolve) => {
      const s = net.connect(this.port, '127.0.0.1');
      let connected = false;
      s.on('connect', () => {
        connected = true;
        this.sockets.add(s);
        if (this.mode === 'trickle-head') s.write('POST /flood HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        resolve();
      });
      s.on('data', () => undefined);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        if (!connected) {
          resolve();
          return;
        }
        if (this.stopped) return;
        this.closedByServer++;
        if (this.reopens >= (this.opts.maxReopens ?? 20_000)) return;
        this.reopens++;
        setTimeout(() => {
          if (!this.stopped) void this.connect();
        }, this.opts.reopenAfterMs ?? 100);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.trickleTimer);
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

export interface ProbeResult {
  /** When it was sent, ms after the start of the run. */
  at: number;
  status: number;
  ms: number;
  error?: string;
}

/** One request on a connection of its own with a deadline: the status and time taken (status 0 on error or timeout). */
export function probe(url: string, method: 'GET' | 'POST', body: string | undefined, deadlineMs: number): Promise<{ status: number; ms: number; body: string; error?: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (status: number, text: string, error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ status, ms: performance.now() - started, body: text, ...(error === undefined ? {} : { error }) });
    };
    const req = http.request(url, { method, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => finish(res.statusCode ?? 0, text));
      res.on('error', (e) => finish(0, text, e.message));
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(0, '', `no answer within ${deadlineMs} ms`);
    }, deadlineMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish(0, '', e.code ?? e.message));
    req.end(body);
  });
}

/** Calls `send(i)` every `everyMs` for `forMs`, without waiting for earlier ones, and resolves with every result. */
export async function probeThroughout(
  forMs: number,
  everyMs: number,
  send: (i: number) => Promise<{ status: number; ms: number; error?: string }>,
): Promise<ProbeResult[]> {
  const start = performance.now();
  const pending: Promise<ProbeResult>[] = [];
  for (let i = 0; i < Math.ceil(forMs / everyMs) && performance.now() - start < forMs; i++) {
    const at = performance.now() - start;
    pending.push(send(i).then((r) => ({ at: Math.round(at), status: r.status, ms: Math.round(r.ms), ...(r.error === undefined ? {} : { error: r.error }) })));
    await sleep(Math.max(0, start + (i + 1) * everyMs - performance.now()));
  }
  return Promise.all(pending);
}

/** What a raw socket exchange saw: everything the server sent, whether and when it closed the connection. */
export interface RawExchange {
  received: string;
  closedAfterMs: number | null;
  bytesSent: number;
}

/**
 * Writes `head` (and `chunks`, one every `everyMs`) on a raw connection and collects what comes back until the server
 * closes it or `forMs` passes. Bounded by `forMs` and the number of chunks.
 */
export function rawExchange(port: number, head: string | Buffer, opts: { forMs: number; chunks?: number; chunk?: string | Buffer; everyMs?: number }): Promise<RawExchange> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const started = performance.now();
    let received = '';
    let bytesSent = 0;
    let closedAfterMs: number | null = null;
    let timer: NodeJS.Timeout | undefined;
    const write = (data: string | Buffer): void => {
      if (!s.writable) return;
      bytesSent += Buffer.byteLength(data);
      s.write(data);
    };
    const done = (): void => {
      clearTimeout(deadline);
      clearTimeout(timer);
      s.destroy();
      resolve({ received, closedAfterMs, bytesSent });
    };
    const deadline = setTimeout(done, opts.forMs);
    s.setEncoding('latin1');
    s.on('data', (c: string) => (received += c));
    s.on('error', () => undefined);
    s.on('close', () => {
      closedAfterMs = Math.round(performance.now() - started);
      done();
    });
    s.on('connect', () => {
      write(head);
      let sent = 0;
      const next = (): void => {
        if (opts.chunk === undefined || sent >= (opts.chunks ?? 0) || closedAfterMs !== null) return;
        sent++;
        write(opts.chunk);
        timer = setTimeout(next, opts.everyMs ?? 1000);
      };
      timer = setTimeout(next, opts.everyMs ?? 1000);
    });
  });
}

/** The status codes of the HTTP answers in a raw byte stream, in order. */
export function statusCodes(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** Latency summary of probe results: count, failures, max and p50 in ms. */
export function summary(results: readonly ProbeResult[]): string {
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const failed = results.filter((r) => r.status !== 200).length;
  return `probes=${results.length} failed=${failed} p50=${ms[Math.floor(ms.length / 2)] ?? '-'}ms max=${ms[ms.length - 1] ?? '-'}ms`;
}
