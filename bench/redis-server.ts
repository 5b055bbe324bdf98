/**
 * A Redis for the cluster benchmark: `redis-server` (7.x) on a free 127.0.0.1 port in a temporary directory, with
 * RDB snapshots off and the append-only file on with `appendfsync always` (an acknowledged webhook is on disk, as
 * `store.redis.durability: always` requires). It is SIGKILLed when the bench process exits, whatever happened.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

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

/** The path of `redis-server` on PATH (or /usr/bin, /usr/local/bin), or undefined. */
export function findRedisServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One raw PING over TCP: true when the server answered +PONG (not -LOADING or nothing). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

const exited = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;
const live = new Set<ChildProcess>();
let hooked = false;

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
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of live) if (!exited(c)) c.kill('SIGKILL');
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'opr-bench-redis-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--protected-mode', 'no', '--daemonize', 'no'];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    child.once('exit', () => live.delete(child));
    let log = '';
    const keep = (b: Buffer): void => {
      log = (log + b.toString('utf8')).slice(-4096);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    const deadline = Date.now() + timeoutMs;
    let up = false;
    while (!up) {
      if (spawnError) throw spawnError;
      if (exited(child)) break;
      if (await ping(port)) {
        // The answer may come from another process that holds the port if ours failed to bind.
        await new Promise((r) => setTimeout(r, 20));
        up = !exited(child);
        if (!up) break;
      } else if (Date.now() > deadline) {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms:\n${log}`);
      } else await new Promise((r) => setTimeout(r, 50));
    }
    if (!up) {
      if (attempt < 3 && /address already in use/i.test(log)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server on port ${port} exited before answering PING:\n${log}`);
    }
    const pid = child.pid ?? -1;
    let stopping: Promise<void> | undefined;
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      pid,
      cpuUs: () => procCpuUs(pid),
      stop: () =>
        (stopping ??= (async () => {
          if (!exited(child)) {
            const gone = new Promise<void>((r) => child.once('exit', () => r()));
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await gone;
            clearTimeout(timer);
          }
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  }
}
