/**
 * Child processes for the benchmarks. A measured daemon (or the simulator, or a bare server) runs in a process of
 * its own, so its CPU, RSS and event loop are not shared with the load generator. The parent talks to it over the
 * IPC channel of `child_process.fork`: the child announces `ready`, then answers commands (`eld`, `mem`, role
 * commands) and exits on `stop`.
 *
 * From the compiled tree (`npm run bench` compiles bench/ to dist-bench/) the child is `dist-bench/bench/child.js`; from
 * sources (vitest) it is `bench/child.ts` run with `--import tsx`.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EldStats } from './stats.js';

/** What a role's start function gives the child host. */
export interface WorkerRole {
  /** Sent to the parent once started (URLs, counts). */
  ready: unknown;
  /** Commands the parent may call, by name. */
  commands?: Record<string, (arg: unknown) => unknown>;
  close(): Promise<void>;
}

export type RoleStarter = (arg: unknown) => Promise<WorkerRole>;

export interface WorkerOptions {
  /** Extra node flags, e.g. `--cpu-prof`, `--expose-gc`. */
  execArgv?: string[];
  /** How long the child may take to become ready (default 120 s). */
  readyTimeoutMs?: number;
}

export interface Worker<R> {
  readonly ready: R;
  readonly pid: number;
  call<T>(cmd: string, arg?: unknown): Promise<T>;
  /** Event-loop statistics of the child since the last call (or its start). */
  eld(): Promise<EldStats>;
  /** Asks the child to close and exit; kills it (by its pid) if it has not exited after 15 s. */
  stop(): Promise<void>;
}

/** Messages over the IPC channel. */
export type ToChild = { id: number; cmd: string; arg?: unknown };
export type FromChild =
  | { type: 'ready'; value: unknown }
  | { type: 'failed'; error: string }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string };

/**
 * Runs `fn` with the worker's CPU profiled (inspector, 0.5 ms sampling) when `dir` is set; the profile is written to
 * `<dir>/<name>.cpuprofile` (summarise it with scripts/bench-profile-top.mjs).
 */
export async function withProfile<T>(w: Worker<unknown>, dir: string | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  if (dir === undefined) return fn();
  await w.call('profile-start');
  try {
    return await fn();
  } finally {
    await w.call('profile-stop', join(dir, `${name}.cpuprofile`));
  }
}

/**
 * Waits until the worker is idle (under 3 % of a core over 250 ms), at most `maxMs`: e.g. until a daemon has applied
 * the offlines it held, so that work does not steal CPU from the next measurement. Returns the ms waited.
 */
export async function waitIdle(w: Worker<unknown>, maxMs = 8000): Promise<number> {
  const started = performance.now();
  for (;;) {
    const a = await w.call<NodeJS.CpuUsage>('cpu');
    const t = performance.now();
    await new Promise((r) => setTimeout(r, 250));
    const b = await w.call<NodeJS.CpuUsage>('cpu');
    const share = (b.user - a.user + b.system - a.system) / 1000 / (performance.now() - t);
    if (share < 0.03 || performance.now() - started > maxMs) return performance.now() - started;
  }
}

function childEntry(): { path: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return { path: fileURLToPath(new URL('./child.ts', here)), execArgv: ['--import', 'tsx'] };
  return { path: fileURLToPath(new URL('./child.js', here)), execArgv: [] };
}

export async function startWorker<R>(role: string, arg: unknown, opts: WorkerOptions = {}): Promise<Worker<R>> {
  const entry = childEntry();
  const child: ChildProcess = fork(entry.path, [role, JSON.stringify(arg)], {
    execArgv: [...entry.execArgv, ...(opts.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const pid = child.pid ?? -1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exitedP = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error(`bench worker ${role} exited (code ${code}, signal ${signal})`));
      pending.clear();
      resolve();
    });
  });

  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`bench worker ${role} was not ready after ${opts.readyTimeoutMs ?? 120_000} ms`));
      child.kill('SIGKILL');
    }, opts.readyTimeoutMs ?? 120_000);
    const onExit = (): void => {
      clearTimeout(timer);
      reject(new Error(`bench worker ${role} exited before it was ready`));
    };
    child.once('exit', onExit);
    child.on('message', (raw) => {
      const m = raw as FromChild;
      if (m.type === 'ready') {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(m.value as R);
      } else if (m.type === 'failed') {
        clearTimeout(timer);
        child.off('exit', onExit);
        reject(new Error(`bench worker ${role} failed to start: ${m.error}`));
      } else {
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(`bench worker ${role}: ${m.error}`));
      }
    });
  });

  const call = <T>(cmd: string, a?: unknown): Promise<T> => {
    if (exited) return Promise.reject(new Error(`bench worker ${role} has exited`));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const msg: ToChild = { id, cmd, arg: a };
      child.send(msg);
    });
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (!exited) {
        call('stop').catch(() => undefined);
        const timer = setTimeout(() => {
          if (!exited) process.kill(pid, 'SIGKILL');
        }, 15_000);
        await exitedP;
        clearTimeout(timer);
      }
    })());

  return { ready, pid, call, eld: () => call<EldStats>('eld'), stop };
}
