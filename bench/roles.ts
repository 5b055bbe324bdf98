/**
 * Child-process roles shared by several benchmarks: the daemon itself and the bare `node:http` baseline.
 * Also the in-process daemon starter used when a benchmark runs the daemon in the bench process.
 */
import http from 'node:http';
import { closeSync, fsync, mkdtempSync, openSync, rmSync, writev } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { ConfigInput } from '../src/config/schema.js';
import { configSchema } from '../src/config/schema.js';
import type { Daemon } from '../src/daemon/daemon.js';
import { startDaemon } from '../src/daemon/daemon.js';
import { WEBHOOK_SUCCESS_BODY } from '../src/openim/webhook-schemas.js';
import type { WorkerRole } from './workers.js';

/** The path secret every bench daemon uses. */
export const BENCH_PATH_SECRET = 'bench-path-secret-0123';

export interface BenchDaemon {
  daemon: Daemon;
  close(): Promise<void>;
}

/**
 * Starts a daemon on loopback (ports 0 unless given) with a fresh SQLite file in a temp directory, a silent logger
 * and the given overrides (shallow per section). The store is the real one: WAL, synchronous=FULL, group commit.
 */
export async function startBenchDaemon(overrides: Partial<Record<keyof ConfigInput, Record<string, unknown>>> = {}): Promise<BenchDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'opr-bench-'));
  const o = overrides as Record<string, Record<string, unknown> | undefined>;
  const input = {
    ...overrides,
    openim: { secret: 'openIM123', ...o.openim },
    webhook: { host: '127.0.0.1', port: 0, pathSecret: BENCH_PATH_SECRET, ...o.webhook },
    api: { host: '127.0.0.1', port: 0, ...o.api },
    store: { path: join(dir, 'presence.db'), ...o.store },
    poll: { enabled: false, ...o.poll },
    log: { level: 'silent', pretty: 'never', ...o.log },
  };
  const config = configSchema.parse(input);
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, { logger: pino({ level: 'silent' }) });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    daemon,
    close: async () => {
      await daemon.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface DaemonReady {
  webhookUrl: string;
  apiUrl: string;
}

/**
 * Role `daemon`: arg = config overrides (see startBenchDaemon). Command `counts` → receipts and head seq; `cluster` →
 * with store.backend redis, the replica's status (role, writer, position in the shared log), else null.
 */
export async function daemonRole(arg: unknown): Promise<WorkerRole> {
  const d = await startBenchDaemon(arg ?? {});
  const ready: DaemonReady = { webhookUrl: d.daemon.webhookUrl, apiUrl: d.daemon.apiUrl };
  return {
    ready,
    commands: {
      counts: () => ({ receipts: d.daemon.store.countReceipts(), head: d.daemon.store.headSeq() }),
      cluster: () => d.daemon.cluster?.status() ?? null,
    },
    close: () => d.close(),
  };
}

export interface BareServer {
  url: string;
  close(): Promise<void>;
}

/** A bare node:http server that reads the body and answers the webhook reply: the physical limit of this machine. */
export async function startBareServer(): Promise<BareServer> {
  const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(WEBHOOK_SUCCESS_BODY)) };
  const server = http.createServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, headers);
      res.end(WEBHOOK_SUCCESS_BODY);
    });
  });
  return listenBare(server, () => undefined);
}

/** Listens on a free loopback port with the daemon's path layout; `closed` runs once the server has closed. */
async function listenBare(server: http.Server, closed: () => void): Promise<BareServer> {
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${BENCH_PATH_SECRET}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          closed();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** Role `bare`: ready = { webhookUrl } (same path layout as the daemon, so the load is identical). */
export async function bareRole(): Promise<WorkerRole> {
  const s = await startBareServer();
  return { ready: { webhookUrl: s.url, apiUrl: '' } satisfies DaemonReady, close: () => s.close() };
}

/**
 * A bare node:http server that never acknowledges what it could lose: it appends each body to a file and answers
 * only once an fsync covers it. Bodies that arrive while an fsync runs go into the next one (one write and one
 * fsync per batch), so it is the physical limit of a durable receiver on this disk.
 */
export async function startDurableBareServer(): Promise<BareServer> {
  const dir = mkdtempSync(join(tmpdir(), 'opr-bench-durable-'));
  const fd = openSync(join(dir, 'bodies.log'), 'a', 0o600);
  const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(WEBHOOK_SUCCESS_BODY)) };
  const newline = Buffer.from('\n');
  let bodies: Buffer[] = [];
  let replies: (() => void)[] = [];
  let syncing = false;
  const flush = (): void => {
    if (syncing || replies.length === 0) return;
    syncing = true;
    const batch = bodies;
    const answer = replies;
    bodies = [];
    replies = [];
    const done = (): void => {
      syncing = false;
      for (const reply of answer) reply();
      flush();
    };
    writev(fd, batch, (werr) => {
      if (werr) throw werr;
      fsync(fd, (serr) => {
        if (serr) throw serr;
        done();
      });
    });
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(...chunks, newline);
      replies.push(() => {
        res.writeHead(200, headers);
        res.end(WEBHOOK_SUCCESS_BODY);
      });
      flush();
    });
  });
  return listenBare(server, () => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
}

/** Role `bare-durable`: the durable baseline, same path layout as the daemon. */
export async function durableBareRole(): Promise<WorkerRole> {
  const s = await startDurableBareServer();
  return { ready: { webhookUrl: s.url, apiUrl: '' } satisfies DaemonReady, close: () => s.close() };
}
