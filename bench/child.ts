/**
 * Entry point of a benchmark child process (see workers.ts): `node dist-bench/bench/child.js <role> '<arg JSON>'`.
 * Runs one role, measures its own event loop from the start, and answers the parent's commands over IPC.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { correctionRole } from './correction-bench.js';
import { bareSseRole, subscribersRole } from './fanout-bench.js';
import { bareRole, daemonRole, durableBareRole } from './roles.js';
import { EldMonitor } from './stats.js';
import { simRole, sweepRole } from './sweep-bench.js';
import type { FromChild, RoleStarter, ToChild, WorkerRole } from './workers.js';

const ROLES: Record<string, RoleStarter> = {
  daemon: daemonRole,
  bare: bareRole,
  'bare-durable': durableBareRole,
  sim: simRole,
  sweep: sweepRole,
  correction: correctionRole,
  subscribers: subscribersRole,
  'sse-bare': bareSseRole,
};

function send(m: FromChild): void {
  process.send?.(m);
}

const eld = new EldMonitor().start();
const roleName = process.argv[2] ?? '';
const start = ROLES[roleName];
let role: WorkerRole | undefined;
try {
  if (!start) throw new Error(`unknown role ${JSON.stringify(roleName)}; known: ${Object.keys(ROLES).join(', ')}`);
  role = await start(JSON.parse(process.argv[3] ?? '{}') as unknown);
  eld.take();
  send({ type: 'ready', value: role.ready });
} catch (e) {
  send({ type: 'failed', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exitCode = 1;
  process.disconnect?.();
}

/** CPU profiling of a measured phase only (`profile-start` … `profile-stop <path>`), through the inspector. */
let session: Session | undefined;
async function profileStart(): Promise<null> {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return null;
}
async function profileStop(path: unknown): Promise<string> {
  if (!session) throw new Error('profile-start was not called');
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  session = undefined;
  writeFileSync(String(path), JSON.stringify(profile));
  return String(path);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  eld.stop();
  try {
    await role?.close();
  } finally {
    process.disconnect?.();
    // Leftover keep-alive sockets must not keep the process (and a --cpu-prof profile) waiting.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  }
}

process.on('message', (raw) => {
  const m = raw as ToChild;
  void (async () => {
    try {
      let value: unknown;
      if (m.cmd === 'eld') value = eld.take();
      else if (m.cmd === 'mem') value = process.memoryUsage();
      else if (m.cmd === 'cpu') value = process.cpuUsage();
      else if (m.cmd === 'profile-start') value = await profileStart();
      else if (m.cmd === 'profile-stop') value = await profileStop(m.arg);
      else if (m.cmd === 'stop') {
        send({ type: 'reply', id: m.id, ok: true, value: null });
        await stop();
        return;
      } else {
        const fn = role?.commands?.[m.cmd];
        if (!fn) throw new Error(`unknown command ${JSON.stringify(m.cmd)} for role ${roleName}`);
        value = await fn(m.arg);
      }
      send({ type: 'reply', id: m.id, ok: true, value });
    } catch (e) {
      send({ type: 'reply', id: m.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  })();
});
// The parent went away: do not linger.
process.on('disconnect', () => void stop());
