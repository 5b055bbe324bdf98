import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { startSimulator } from '../../src/simulator/index.js';
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js';

/** Starts a simulator that is closed when the test ends. */
export async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options);
  onTestFinished(() => sim.close());
  return sim;
}

export interface ApiAnswer {
  status: number;
  text: string;
  contentType: string | null;
  /** The parsed body, or undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

/** POSTs raw text (or JSON) to an OpenIM route with the given headers. */
export async function post(
  sim: Simulator,
  path: string,
  body: unknown,
  headers: Record<string, string> = { operationID: 'test-op' },
): Promise<ApiAnswer> {
  const res = await fetch(`${sim.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, contentType: res.headers.get('content-type'), json };
}

export async function adminToken(sim: Simulator): Promise<string> {
  const r = await post(sim, '/auth/get_admin_token', { secret: sim.secret, userID: sim.adminUserID });
  const data = r.json?.data as { token: string } | undefined;
  if (data === undefined) throw new Error(`no admin token: ${r.text}`);
  return data.token;
}

/** POSTs with the operationID header and the given token. */
export function authed(sim: Simulator, token: string, path: string, body: unknown): Promise<ApiAnswer> {
  return post(sim, path, body, { operationID: 'test-op', token });
}

/** Calls the control endpoint. */
export async function control(sim: Simulator, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(`${sim.controlUrl}${path}`, init);
  return { status: res.status, json: await res.json() };
}

export interface ReceivedWebhook {
  url: string;
  rawHeaders: string[];
  body: string;
  json: Record<string, unknown>;
}

export interface Receiver {
  /** Base URL to give the simulator as `webhookUrl` (no trailing slash). */
  url: string;
  received: ReceivedWebhook[];
  /** Stop answering: requests stay open until `release()`. */
  hold(): void;
  /** Answer everything held and everything after at once. */
  release(): void;
  /** HTTP status of later answers. */
  setStatus(status: number): void;
  /** Resolves once at least n webhooks have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

/** A webhook receiver on 127.0.0.1 (port 0) that records every request and answers like the daemon should. */
export async function receiver(): Promise<Receiver> {
  const received: ReceivedWebhook[] = [];
  const held: (() => void)[] = [];
  const waiters = new Set<() => void>();
  let holding = false;
  let status = 200;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // recorded as is
      }
      received.push({ url: req.url ?? '', rawHeaders: req.rawHeaders, body, json });
      for (const w of [...waiters]) w();
      const answer = (): void => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end('{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}');
      };
      if (holding) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const answer of held.splice(0)) answer();
    },
    setStatus: (s) => {
      status = s;
    },
    waitFor: (n, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (received.length >= n) {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`only ${received.length} of ${n} webhooks arrived within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = (): void => {
          if (received.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      }),
  };
}

/** Waits (real time, polling every few ms) until the condition holds. */
export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until the simulated clock reaches `time`. */
export function untilSimTime(sim: Simulator, time: number, timeoutMs = 10_000): Promise<void> {
  return until(() => sim.now() >= time, timeoutMs, `simulated time ${new Date(time).toISOString()}`);
}

/** Webhook bodies parsed, in order. */
export function bodies(list: readonly { body: string }[]): Record<string, unknown>[] {
  return list.map((w) => JSON.parse(w.body) as Record<string, unknown>);
}
