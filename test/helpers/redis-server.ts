/**
 * A real Redis for tests: Debian's `redis-server` on a free loopback port, in its own temporary directory, with the
 * append-only file on and RDB snapshots off, so what survives a crash is exactly what the AOF holds. Start it in
 * `beforeAll` and `stop()` it in `afterAll`; every process it starts is also SIGKILLed when the test process exits,
 * whatever happened to the test.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { freePort } from './free-port.js';
import { tempDir } from './temp-dir.js';

export interface RedisServerOptions {
  /** `--appendfsync`: always (default: an acknowledged write is on disk) or everysec. */
  appendfsync?: 'always' | 'everysec';
  /** `--requirepass`: clients must AUTH with it (the url carries it). */
  requirePass?: string;
  /** How long a start may take to answer PING (default 15 s). */
  startTimeoutMs?: number;
}

export interface TestRedisServer {
  /** `redis://127.0.0.1:<port>`, with `:<requirePass>@` when a password is required. */
  readonly url: string;
  readonly port: number;
  /** The server's working directory (the AOF lives in `<dir>/appendonlydir`). */
  readonly dir: string;
  /** Closes every client from `client()`, SIGTERMs the server, waits for it to exit and removes `dir`. Final. */
  stop(): Promise<void>;
  /** SIGKILLs the server (a crash) and waits for it to exit; `dir` and the clients stay, for `restart()`. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and dir, so it reloads the AOF, and waits until it answers PING. A running server is SIGTERMed first. */
  restart(): Promise<void>;
  /** A new ioredis client of this server (reconnecting by itself across kill/restart), closed by `stop()`. */
  client(options?: RedisOptions): Redis;
}

/** Every redis-server process started here and not yet seen to exit, and every dir not yet removed. */
const liveProcesses = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveProcesses) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** The path of `redis-server` on PATH, or undefined. */
export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal` and waits for the exit; SIGKILL when it has not exited after `graceMs`. */
async function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs = 15_000): Promise<void> {
  if (!exited(child)) {
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const outcome = await Promise.race([waitForExit(child), late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      child.kill('SIGKILL');
      await waitForExit(child);
    }
  }
  liveProcesses.delete(child);
}

/** A RESP array command. */
function command(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** One raw TCP PING (after AUTH when a password is given): true when the server answered +PONG. */
function pingOnce(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const expectedReplies = password === undefined ? 1 : 2;
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write((password === undefined ? '' : command('AUTH', password)) + command('PING'));
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('+PONG\r\n')) done(true);
      // Every reply in and no PONG: still loading the AOF (-LOADING), or refused.
      else if (received.split('\r\n').length - 1 >= expectedReplies) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

interface Started {
  child: ChildProcess;
  /** The last few KB of the server's log (it logs to stdout), for error messages. */
  log: () => string;
}

/** Spawns redis-server and resolves once it answers PING; rejects (with its log) when it exits first or is too slow. */
async function spawnServer(
  bin: string,
  args: string[],
  port: number,
  password: string | undefined,
  timeoutMs: number,
): Promise<Started> {
  installExitHook();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveProcesses.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const log = () => output;
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  child.once('exit', () => liveProcesses.delete(child));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError !== undefined) {
      liveProcesses.delete(child);
      throw new Error(`could not start ${bin}: ${spawnError.message}`, { cause: spawnError });
    }
    if (exited(child)) {
      throw new Error(
        `redis-server on port ${port} exited (code ${child.exitCode}, signal ${child.signalCode}) before answering PING:\n${log()}`,
      );
    }
    if (await pingOnce(port, password)) {
      // The answer may have come from another process holding the port if ours failed to bind: make sure ours lives.
      await new Promise((r) => setTimeout(r, 20));
      if (!exited(child)) return { child, log };
      continue;
    }
    if (Date.now() > deadline) {
      await terminate(child, 'SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a redis-server on a free 127.0.0.1 port in a new temporary directory, with `--save "" --appendonly yes
 * --appendfsync <always|everysec>`, and resolves once it answers PING. Throws when redis-server is not installed.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const bin = findRedisServer();
  if (bin === undefined) {
    throw new Error(
      "redis-server not found on PATH: the Redis tests need a real Redis 7 server; install Debian's redis-server package (apt-get install redis-server)",
    );
  }
  const appendfsync = options.appendfsync ?? 'always';
  const password = options.requirePass;
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const tmp = tempDir('opr-redis-');
  const dir = tmp.path;
  installExitHook();
  liveDirs.add(dir);

  const argsFor = (port: number) => [
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    appendfsync,
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    ...(password === undefined ? [] : ['--requirepass', password]),
  ];

  // A port free a moment ago may be taken before redis binds it: try another one then.
  let port = 0;
  let current: Started | undefined;
  for (let attempt = 1; current === undefined; attempt++) {
    port = await freePort();
    try {
      current = await spawnServer(bin, argsFor(port), port, password, timeoutMs);
    } catch (error) {
      if (attempt < 3 && error instanceof Error && /address already in use/i.test(error.message)) continue;
      tmp.cleanup();
      liveDirs.delete(dir);
      throw error;
    }
  }

  const url = `redis://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}127.0.0.1:${port}`;
  const clients = new Set<Redis>();
  let stopped = false;

  return {
    url,
    port,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.disconnect();
      clients.clear();
      if (current !== undefined) await terminate(current.child, 'SIGTERM');
      tmp.cleanup();
      liveDirs.delete(dir);
    },
    async kill() {
      if (current !== undefined) await terminate(current.child, 'SIGKILL');
    },
    async restart() {
      if (stopped) throw new Error('restart() after stop(): the server and its directory are gone');
      if (current !== undefined) await terminate(current.child, 'SIGTERM');
      current = undefined;
      current = await spawnServer(bin, argsFor(port), port, password, timeoutMs);
    },
    client(clientOptions: RedisOptions = {}) {
      if (stopped) throw new Error('client() after stop()');
      const c = new Redis(url, clientOptions);
      // Connection errors while the server is down are expected here (kill, restart); commands still fail.
      c.on('error', () => {});
      clients.add(c);
      return c;
    },
  };
}
