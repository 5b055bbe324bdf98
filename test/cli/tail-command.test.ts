import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { eventLine, parseTypeArg } from '../../src/cli/tail-command.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { PresenceEventJson } from '../../src/domain.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { runCli } from '../api/ops-fixtures.js';
import { firstBreak, freePort, produce, userIDs, waitUntil } from '../api/stream-fixtures.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_PATH = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

interface Tail {
  child: ChildProcessWithoutNullStreams;
  lines: () => string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `openim-presence tail <args>` as a real subprocess. */
function startTail(args: readonly string[]): Tail {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPR_')));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_PATH, 'tail', ...args], { cwd: REPO_ROOT, env, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, lines: () => out.split('\n').filter((l) => l !== ''), stderr: () => err, exited };
}

describe('openim-presence tail', () => {
  const cleanup: (() => Promise<unknown> | undefined)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function daemon(overrides: Parameters<typeof startTestDaemon>[0] = {}): Promise<Daemon & { dir: string; cleanupDir: () => void }> {
    const d = await startTestDaemon(overrides);
    cleanup.push(() => {
      d.cleanupDir();
      return undefined;
    });
    cleanup.push(() => d.close());
    return d;
  }

  function tail(args: readonly string[]): Tail {
    const t = startTail(args);
    cleanup.push(async () => {
      if (t.child.exitCode === null) t.child.kill('SIGKILL');
      await t.exited;
    });
    return t;
  }

  it('prints each event as a JSON line, history then live, and exits 0 on SIGTERM', async () => {
    const d = await daemon();
    await produce(d, 3);
    const t = tail(['--url', d.apiUrl, '--json', '--after', '0']);
    await waitUntil(() => t.lines().length === 3, 'the history', 20_000);
    await produce(d, 2);
    await waitUntil(() => t.lines().length === 5, 'the live events');
    const events = t.lines().map((l) => JSON.parse(l) as PresenceEventJson);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(events[0]).toMatchObject({ seq: 1, type: 'presence.online', userID: 'u0', platformID: 5 });
    t.child.kill('SIGTERM');
    expect(await t.exited).toBe(0);
    expect(t.stderr()).toContain(`following ${d.apiUrl}/v1/events after #0`);
  });

  it('follows only new events by default, as readable lines, filtered by --user and --type', async () => {
    const d = await daemon();
    await produce(d, 4, userIDs(2));
    const t = tail(['--url', d.apiUrl, '--user', 'u1', '--type', 'offline']);
    await waitUntil(() => t.stderr().includes('following'), 'the stream', 20_000);
    await produce(d, 4, userIDs(2)); // #5 u0 online, #6 u1 online, #7 u0 offline, #8 u1 offline
    await waitUntil(() => t.lines().length === 1, 'the matching event');
    expect(t.lines()[0]).toMatch(/^#8 {2}\S+Z {2}offline {2}u1 {2}Web\(5\) {2}user offline v4 {2}correction \(mismatch #8, happened between \S+ and \S+\)$/);
  });

  it('resumes by itself across a daemon restart with no gap and no duplicate', async () => {
    const port = await freePort();
    const first = await startTestDaemon({ api: { port } });
    cleanup.push(() => {
      first.cleanupDir();
      return undefined;
    });
    let current: Daemon = first;
    cleanup.push(() => current.close());
    await produce(first, 20);
    const t = tail(['--url', first.apiUrl, '--json', '--after', '0']);
    await waitUntil(() => t.lines().length === 20, 'the history', 20_000);
    await first.close();
    const second = await startTestDaemon({ api: { port }, store: { path: `${first.dir}/presence.db` } });
    cleanup.push(() => {
      second.cleanupDir();
      return undefined;
    });
    current = second;
    await produce(second, 10);
    await waitUntil(() => t.lines().length >= 30, 'the events after the restart', 20_000);
    const seqs = t.lines().map((l) => (JSON.parse(l) as PresenceEventJson).seq);
    expect(seqs).toHaveLength(30);
    expect(firstBreak(seqs, 1)).toBe(-1);
    expect(t.stderr()).toMatch(/reconnecting in/);
  });

  it('exits 1 saying what to do when its cursor is older than retention', async () => {
    const d = await daemon();
    await produce(d, 5);
    d.store.prune(Date.now() + 60_000);
    const r = await runCli(['tail', '--url', d.apiUrl, '--after', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('HTTP 410');
    expect(r.stderr).toContain('GET /v1/presence');
  });

  it('exits 2 for a bad --after or --type', async () => {
    const r = await runCli(['tail', '--url', 'http://127.0.0.1:1', '--after', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--after');
    const t = await runCli(['tail', '--url', 'http://127.0.0.1:1', '--type', 'away']);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('--type');
  });
});

describe('eventLine', () => {
  it('shows a webhook event with its occurrence time', () => {
    const line = eventLine({
      seq: 12,
      type: 'presence.online',
      userID: 'ann',
      platformID: 1,
      platform: 'IOS',
      userOnline: true,
      userVersion: 3,
      source: 'webhook',
      occurredAt: '2024-11-25T10:00:00.000Z',
      recordedAt: '2024-11-25T10:00:00.120Z',
    });
    expect(line).toBe('#12  2024-11-25T10:00:00.120Z  online   ann  IOS(1)  user online v3  webhook (occurred 2024-11-25T10:00:00.000Z)');
  });

  it('accepts short and full type names', () => {
    expect(parseTypeArg('online')).toBe('presence.online');
    expect(parseTypeArg('presence.offline')).toBe('presence.offline');
  });
});
