import { afterEach, describe, expect, it } from 'vitest';
import type { SubscriberList } from '../../src/api/subscriber-routes.js';
import { subscribersTable } from '../../src/cli/subscribers-command.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { runCli } from '../api/ops-fixtures.js';
import { produce, waitUntil } from '../api/stream-fixtures.js';
import type { Receiver } from '../push/receiver.js';
import { SECRET, startPushDaemon, startReceiver } from '../push/receiver.js';

describe('openim-presence subscribers', () => {
  let d: (Daemon & { cleanupDir: () => void }) | undefined;
  let r: Receiver | undefined;
  afterEach(async () => {
    await d?.close();
    d?.cleanupDir();
    await r?.close();
    d = undefined;
    r = undefined;
  });

  it('lists, retries a dead-lettered subscriber and replays one from a seq', async () => {
    r = await startReceiver(() => 500);
    d = await startPushDaemon([
      { name: 'billing', url: r.url, secret: SECRET, maxAttempts: 1 },
      { name: 'audit', url: r.url, secret: SECRET, users: ['nobody'] },
    ]);
    await produce(d, 4);
    const daemon = d;
    await waitUntil(() => daemon.store.getSubscriberCursor('billing')?.state === 'dead', 'the dead-letter state');

    const list = await runCli(['subscribers', 'list', '--url', d.apiUrl]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+CURSOR\s+LAG\s+ATTEMPTS\s+NEXT ATTEMPT\s+LAST ERROR$/);
    expect(lines.find((l) => l.startsWith('billing'))).toMatch(/^billing\s+dead\s+0\s+4\s+1\s+HTTP 500 \(1 attempts\)$/);
    expect(lines.find((l) => l.startsWith('audit'))).toMatch(/^audit\s+active\s+\d+\s+\d+\s+0\s+-$/);

    const json = await runCli(['subscribers', 'list', '--url', d.apiUrl, '--json']);
    expect((JSON.parse(json.stdout) as SubscriberList).subscribers.map((s) => s.name)).toEqual(['billing', 'audit']);

    r.respond = () => 200;
    const retry = await runCli(['subscribers', 'retry', 'billing', '--url', d.apiUrl]);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toContain('billing: retrying now');
    const rec = r;
    // The failed attempt and the delivery after the retry.
    await waitUntil(() => rec.seqs().length === 8, 'the delivery after the retry');

    const replay = await runCli(['subscribers', 'replay', 'billing', '--from', '3', '--url', d.apiUrl]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('billing: replaying from #3');
    await waitUntil(() => rec.seqs().length === 10, 'the replayed events');
    expect(rec.seqs().slice(8)).toEqual([3, 4]);
  });

  it('fails clearly for an unknown subscriber, a bad --from, and a seq removed by retention', async () => {
    r = await startReceiver();
    d = await startPushDaemon([{ name: 'billing', url: r.url, secret: SECRET }]);
    await produce(d, 3);
    d.store.prune(Date.now() + 60_000);
    const unknown = await runCli(['subscribers', 'retry', 'nobody', '--url', d.apiUrl]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no push subscriber named "nobody"');
    const bad = await runCli(['subscribers', 'replay', 'billing', '--from', 'x', '--url', d.apiUrl]);
    expect(bad.code).toBe(2);
    const gone = await runCli(['subscribers', 'replay', 'billing', '--from', '1', '--url', d.apiUrl]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('HTTP 410');
  });
});

describe('subscribersTable', () => {
  it('says when no subscriber is configured', () => {
    expect(subscribersTable({ head: 0, subscribers: [] })).toContain('no push subscribers are configured');
  });
});
