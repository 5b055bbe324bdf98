/**
 * A real `redis-server` (7.x) on a free 127.0.0.1 port in a temporary directory, with RDB snapshots off and the
 * append-only file on (`appendfsync always` by default: an acknowledged write is on disk, as
 * `store.redis.durability: always` requires). Every process and directory started here is SIGKILLed and removed when
 * the process exits, whatever happened.
 *
 * `startBenchRedis` is the cluster benchmark's server. The primitives under it (finding the binary, a free port, a
 * raw PING, the spawn arguments, the start-and-wait loop, the exit hook) are exported for the test helper
 * (test/helpers/redis-server.ts), which builds its restartable server on them: bench/ is compiled on its own
 * (bench/tsconfig.json), so the shared code lives here and the tests import it, never the other way round.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';

export interface BenchRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** CPU time the server has used so far (µs, user + system), read from /proc; NaN where there is no /proc. */
  cpuUs(): number;
  /** SIGTERM, wait for the exit (SIGKILL after 10 s), remove the directory. */
  stop(): Promise<void>;
}

/** The path of `redis-server` on PATH (or else in `fallbackDirs`: by default /usr/bin, /usr/local/bin), or undefined. */
export function findRedisServer(fallbackDirs: readonly string[] = ['/usr/bin', '/usr/local/bin']): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...fallbackDirs];
  for (const dir of dirs) {
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

/** Every redis-server process started here and not yet seen to exit, and every directory not yet removed. */
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

/** A new temporary directory for a server, removed by `cleanup()` or, at the latest, when the process exits. */
export function redisTempDir(prefix: string): { path: string; cleanup: () => void } {
  installExitHook();
  const path = mkdtempSync(join(tmpdir(), prefix));
  liveDirs.add(path);
  return {
    path,
    cleanup: () => {
      rmSync(path, { recursive: true, force: true });
      liveDirs.delete(path);
    },
  };
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal` and waits for the exit; SIGKILL when it has not exited after `graceMs`. */
export async function terminateRedis(child: ChildProcess, signal: NodeJS.Signals, graceMs = 15_000): Promise<void> {
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

/** One raw TCP PING (after AUTH when a password is given): true when the server answered +PONG (not -LOADING or nothing). */
export function pingRedis(port: number, password?: string): Promise<boolean> {
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

export interface RedisLaunchOptions {
  /** The `redis-server` binary (from `findRedisServer()`). */
  bin: string;
  /** `--dir`: where the AOF lives. */
  dir: string;
  /** `--appendfsync` (default always). */
  appendfsync?: 'always' | 'everysec';
  /** `--requirepass`: the PING waits for AUTH with it. */
  requirePass?: string;
  /** How long a start may take to answer PING (default 15 s). */
  timeoutMs?: number;
  /** A fixed port (a restart); without it a free port, and another one (up to 3 in all) when it is taken first. */
  port?: number;
}

export interface LaunchedRedis {
  child: ChildProcess;
  port: number;
  /** The last few KB of the server's log (it logs to stdout), for error messages. */
  log: () => string;
}

/** The command line: AOF on, RDB off, loopback only, in the foreground. */
function redisArgs(o: RedisLaunchOptions, port: number): string[] {
  return [
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    o.appendfsync ?? 'always',
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    o.dir,
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    ...(o.requirePass === undefined ? [] : ['--requirepass', o.requirePass]),
  ];
}

/** Spawns redis-server on `port` and resolves once it answers PING; rejects (with its log) when it exits first or is too slow. */
async function spawnOnPort(o: RedisLaunchOptions, port: number): Promise<LaunchedRedis> {
  installExitHook();
  const timeoutMs = o.timeoutMs ?? 15_000;
  const child = spawn(o.bin, redisArgs(o, port), { stdio: ['ignore', 'pipe', 'pipe'] });
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
      throw new Error(`could not start ${o.bin}: ${spawnError.message}`, { cause: spawnError });
    }
    if (exited(child)) {
      throw new Error(
        `redis-server on port ${port} exited (code ${child.exitCode}, signal ${child.signalCode}) before answering PING:\n${log()}`,
      );
    }
    if (await pingRedis(port, o.requirePass)) {
      // The answer may have come from another process holding the port if ours failed to bind: make sure ours lives.
      await new Promise((r) => setTimeout(r, 20));
      if (!exited(child)) return { child, port, log };
      continue;
    }
    if (Date.now() > deadline) {
      await terminateRedis(child, 'SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts redis-server with `--save "" --appendonly yes --appendfsync <always|everysec>` in `dir` and resolves once it
 * answers PING. Without `port`, a port free a moment ago may be taken before redis binds it: another one is tried then.
 */
export async function launchRedis(o: RedisLaunchOptions): Promise<LaunchedRedis> {
  if (o.port !== undefined) return spawnOnPort(o, o.port);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await spawnOnPort(o, port);
    } catch (error) {
      if (attempt < 3 && error instanceof Error && /address already in use/i.test(error.message)) continue;
      throw error;
    }
  }
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux everywhere in practice). */
const USER_HZ = 100;

function procCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1e6) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/** Starts redis-server and resolves once it answers PING (at most `timeoutMs`, default 15 s). */
export async function startBenchRedis(timeoutMs = 15_000): Promise<BenchRedis> {
  const bin = findRedisServer();
  if (bin === undefined) throw new Error('redis-server not found on PATH: the cluster benchmark needs a Redis 7 server (Debian: apt-get install redis-server)');
  const tmp = redisTempDir('opr-bench-redis-');
  let launched: LaunchedRedis;
  try {
    launched = await launchRedis({ bin, dir: tmp.path, timeoutMs });
  } catch (error) {
    tmp.cleanup();
    throw error;
  }
  const { child, port } = launched;
  const pid = child.pid ?? -1;
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid,
    cpuUs: () => procCpuUs(pid),
    stop: () =>
      (stopping ??= (async () => {
        await terminateRedis(child, 'SIGTERM', 10_000);
        tmp.cleanup();
      })()),
  };
}
