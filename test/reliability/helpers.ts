/**
 * Shared tools of the reliability suite: daemon child processes, HTTP helpers, subscribers that follow the event
 * stream across daemon restarts (JSON pages and SSE), and an inspector of the SQLite file.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PresenceEventJson } from '../../src/domain.js';
import type { DaemonChildReady } from '../helpers/daemon-child.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DAEMON_CHILD = fileURLToPath(new URL('../helpers/daemon-child.ts', import.meta.url));
export const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
export const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;
export const ONLINE = 'callbackAfterUserOnlineCommand';
export const OFFLINE = 'callbackAfterUserOfflineCommand';
export const WEBHOOK_OK = '{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A process started by the suite; `exited` settles once it is gone. */
export interface ChildHandle<R> {
  proc: ChildProcess;
  ready: R;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL (if still running), then waits for the exit. */
  kill9: () => Promise<void>;
}

/** Every child the suite started and has not reaped yet; `killAll` ends them one by one by their own handle. */
const live = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
}

/**
 * Spawns `node --import tsx <script> ...args` from the repository root and resolves with the first stdout line that
 * `isReady` accepts (parsed by `parse`). Rejects if the process exits first or after `timeoutMs`.
 */
export function spawnNode<R>(
  script: string,
  args: readonly string[],
  options: {
    isReady: (line: string) => boolean;
    parse: (line: string) => R;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    /** A command that runs node, e.g. `['strace', '-f', …]` (the node process is then its child). */
    wrapper?: readonly string[];
    /** Options for node itself, e.g. `['--cpu-prof', '--cpu-prof-dir=…']`. */
    nodeArgs?: readonly string[];
  },
): Promise<ChildHandle<R>> {
  const argv = [process.execPath, ...(options.nodeArgs ?? []), '--import', 'tsx', script, ...args];
  const [command, ...rest] = options.wrapper && options.wrapper.length > 0 ? [...options.wrapper, ...argv] : argv;
  const proc = spawn(command!, rest, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  live.add(proc);
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  const kill9 = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void kill9();
      reject(new Error(`${script} was not ready within ${options.timeoutMs ?? 30_000} ms; stderr: ${err.slice(-2000)}`));
    }, options.timeoutMs ?? 30_000);
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      out += `${line}\n`;
      if (done || !options.isReady(line)) return;
      done = true;
      clearTimeout(timer);
      resolve({ proc, ready: options.parse(line), stdout: () => out, stderr: () => err, exited, kill9 });
    });
    void exited.then(({ code, signal }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal ?? '?'}) before it was ready: ${err.slice(-2000)}`));
    });
  });
}

/** The daemon in a process of its own (test/helpers/daemon-child.ts: silent logger, prints its URLs when listening). */
export function spawnDaemonChild(config: Record<string, unknown>, wrapper?: readonly string[]): Promise<ChildHandle<DaemonChildReady>> {
  return spawnNode<DaemonChildReady>(DAEMON_CHILD, [JSON.stringify(config)], {
    isReady: (l) => l.startsWith('{') && l.includes('"apiUrl"'),
    parse: (l) => JSON.parse(l) as DaemonChildReady,
    ...(wrapper ? { wrapper } : {}),
  });
}

/** GET a JSON document with a timeout; throws on network errors and on non-2xx answers (with the body). */
export async function getJson<T>(url: string, timeoutMs = 10_000, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export interface EventPage {
  events: PresenceEventJson[];
  next: number;
  head: number;
}

/** Reads the whole event log through the JSON pages. */
export async function readAllEvents(apiUrl: string, after = 0): Promise<PresenceEventJson[]> {
  const out: PresenceEventJson[] = [];
  let cursor = after;
  for (let i = 0; i < 100_000; i++) {
    const page = await getJson<EventPage>(`${apiUrl}/v1/events?after=${cursor}&limit=1000`);
    out.push(...page.events);
    if (page.next >= page.head || page.next <= cursor) return out;
    cursor = page.next;
  }
  throw new Error('readAllEvents: too many pages');
}

export interface MismatchSeen {
  id: number;
  kind: string;
  userID: string;
  platformID: number | null;
  detectedAt: string;
  eventSeq: number | null;
}

/** Every mismatch through `GET /v1/mismatches` (newest first, paged with `before`). */
export async function readAllMismatches(apiUrl: string): Promise<MismatchSeen[]> {
  const out: MismatchSeen[] = [];
  let before: number | null = null;
  for (let i = 0; i < 10_000; i++) {
    const page: { mismatches: MismatchSeen[]; next: number | null } = await getJson(
      `${apiUrl}/v1/mismatches?limit=1000${before === null ? '' : `&before=${before}`}`,
    );
    out.push(...page.mismatches);
    if (page.next === null) return out;
    before = page.next;
  }
  throw new Error('readAllMismatches: too many pages');
}

/** What a subscriber checks on every event it receives: no gap, no duplicate, no reordering. */
export class StreamRecord {
  /** Every event received (empty when the record does not keep them). */
  readonly events: PresenceEventJson[] = [];
  readonly problems: string[] = [];
  received = 0;
  private last: number;

  get cursor(): number {
    return this.last;
  }

  constructor(
    start = 0,
    private readonly keep = true,
  ) {
    this.last = start;
  }

  add(e: PresenceEventJson, via: string): void {
    const expected = this.last + 1;
    if (e.seq !== expected) {
      if (this.problems.length < 20) this.problems.push(`${via}: got seq ${e.seq}, expected ${expected}`);
      if (e.seq <= this.last) return;
    }
    this.last = e.seq;
    this.received++;
    if (this.keep) this.events.push(e);
  }
}

/**
 * A subscriber on JSON pages (`GET /v1/events?after=&limit=&wait=`), resuming from its cursor after every failure
 * (the daemon killed and restarted on the same port). Bounded: stops when `stop()` is called.
 */
export class PageSubscriber {
  readonly record: StreamRecord;
  reconnects = 0;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly apiUrl: () => string,
    start = 0,
    private readonly limit = 200,
    keepEvents = true,
  ) {
    this.record = new StreamRecord(start, keepEvents);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let failing = false;
    while (!this.stopped) {
      try {
        const page = await getJson<EventPage>(`${this.apiUrl()}/v1/events?after=${this.record.cursor}&limit=${this.limit}&wait=1`, 5000);
        if (failing) this.reconnects++;
        failing = false;
        for (const e of page.events) this.record.add(e, 'page');
      } catch {
        failing = true;
        await sleep(50);
      }
    }
  }

  /** Resolves once the subscriber has read through `seq` (or `ms` passed). */
  async caughtUp(seq: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.record.cursor >= seq) return true;
      await sleep(50);
    }
    return this.record.cursor >= seq;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** Whether the daemon serves `Accept: text/event-stream` on `/v1/events` (the SSE route is wired). */
export function sseAvailable(apiUrl: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${apiUrl}/v1/events`, { headers: { accept: 'text/event-stream' }, timeout: 5000 }, (res) => {
      const ok = res.statusCode === 200 && (res.headers['content-type'] ?? '').startsWith('text/event-stream');
      res.destroy();
      resolve(ok);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

/**
 * An SSE subscriber that behaves like a browser EventSource: it keeps the last `id:` it saw (events and heartbeats)
 * and reconnects with `Last-Event-ID` whenever the connection ends, e.g. because the daemon was killed.
 */
export class SseSubscriber {
  readonly record: StreamRecord;
  reconnects = 0;
  heartbeats = 0;
  private lastEventID: number;
  private stopped = false;
  private current: http.ClientRequest | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly apiUrl: () => string,
    start = 0,
  ) {
    this.record = new StreamRecord(start);
    this.lastEventID = start;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let connected = false;
    while (!this.stopped) {
      const opened = await this.connectOnce();
      if (opened && connected) this.reconnects++;
      connected = connected || opened;
      if (!this.stopped) await sleep(50);
    }
  }

  /** One connection; resolves when it ends. True if it was established (HTTP 200). */
  private connectOnce(): Promise<boolean> {
    return new Promise((resolve) => {
      let opened = false;
      const req = http.get(
        `${this.apiUrl()}/v1/events`,
        { headers: { accept: 'text/event-stream', 'last-event-id': String(this.lastEventID) } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            res.on('end', () => resolve(false));
            return;
          }
          opened = true;
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (chunk: string) => {
            buf += chunk;
            let idx: number;
            while ((idx = buf.indexOf('\n\n')) !== -1) {
              this.onMessage(buf.slice(0, idx));
              buf = buf.slice(idx + 2);
            }
          });
          res.on('close', () => resolve(true));
          res.on('error', () => resolve(true));
        },
      );
      this.current = req;
      req.on('error', () => resolve(opened));
    });
  }

  private onMessage(block: string): void {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (event === 'message' && data.length > 0) this.record.add(JSON.parse(data.join('\n')) as PresenceEventJson, 'sse');
    if (event === 'heartbeat') this.heartbeats++;
    if (id !== undefined && /^\d+$/.test(id)) this.lastEventID = Number(id);
  }

  async caughtUp(seq: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.record.cursor >= seq) return true;
      await sleep(50);
    }
    return this.record.cursor >= seq;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.destroy();
    await this.loop;
  }
}

export interface DbImage {
  integrity: string;
  receipts: Set<string>;
  events: Map<number, Record<string, unknown>>;
  head: number;
  mismatchIDs: Set<number>;
}

/** Reads a database file read-only (the daemon that wrote it is gone): receipts, events, the AUTOINCREMENT head. */
export function inspectDb(path: string): DbImage {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const receipts = new Set(db.prepare('SELECT body FROM receipts').pluck().all() as string[]);
    const events = new Map<number, Record<string, unknown>>();
    for (const r of db.prepare('SELECT * FROM events ORDER BY seq').all() as Record<string, unknown>[]) events.set(r.seq as number, r);
    const head = (db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck().get() as number | null) ?? 0;
    const mismatchIDs = new Set(db.prepare('SELECT id FROM mismatches').pluck().all() as number[]);
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    return { integrity, receipts, events, head, mismatchIDs };
  } finally {
    db.close();
  }
}

/** A webhook body as 3.8.x sends it. */
export function webhookJson(command: string, userID: string, platformID: number, seq: number, operationID: string): string {
  const platform = ({ 1: 'IOS', 2: 'Android', 3: 'Windows', 5: 'Web' } as Record<number, string>)[platformID] ?? '';
  if (command === ONLINE) {
    return `${JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq, isAppBackground: false, connID: '' })}\n`;
  }
  return `${JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq, connID: '' })}\n`;
}

/** Same-content check of an event read over HTTP against one read later (a seq must never change meaning). */
export function sameEvent(a: PresenceEventJson, b: PresenceEventJson | undefined): boolean {
  return b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** Formats a duration in ms as seconds with one decimal. */
export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Compares the keys a daemon believes online with the simulator: `problems` lists keys online that are not (false
 * online) and keys the live view shows that are not online (missed). A platform a user holds only on a second
 * gateway is invisible to the live view (it reports the first gateway's connections only, docs/openim-contract.md, the live view): when its
 * webhook was lost, nothing the daemon polls can reveal it; those are counted in `invisible`, not as problems.
 */
export function compareWithOpenIm(
  believed: ReadonlySet<string>,
  sim: { truth(): { userID: string; platformID: number }[]; view(userID: string): { live: { connections: { platformID: number }[] } } },
): { problems: string[]; invisible: string[] } {
  const truth = sim.truth();
  const truthKeys = new Set(truth.map((t) => `${t.userID}:${t.platformID}`));
  const visible = new Set([...new Set(truth.map((t) => t.userID))].flatMap((u) => sim.view(u).live.connections.map((c) => `${u}:${c.platformID}`)));
  return {
    problems: [
      ...[...believed].filter((k) => !truthKeys.has(k)).map((k) => `online but not in truth: ${k}`),
      ...[...visible].filter((k) => !believed.has(k)).map((k) => `in the live view but not online: ${k}`),
    ],
    invisible: [...truthKeys].filter((k) => !visible.has(k) && !believed.has(k)),
  };
}
