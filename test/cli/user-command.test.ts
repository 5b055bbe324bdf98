import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Timeline } from '../../src/api/ops-timeline.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { runCli } from '../api/ops-fixtures.js';

const ON = 'callbackAfterUserOnlineCommand';

describe('openim-presence user', () => {
  let d: Daemon & { cleanupDir: () => void };

  beforeAll(async () => {
    d = await startTestDaemon();
    const t = Date.now();
    await postWebhook(d, ON, webhookBody(ON, 'zoe', 5, t));
    d.store.insertPollObservation({ userID: 'zoe', at: Date.now() + 1, runID: 3, platforms: { '5': 1, '2': 1 }, purpose: 'disagreement' });
    await new Promise((r) => setTimeout(r, 5));
    d.engine.correct([{ userID: 'zoe', platformID: 2, toOnline: true, occurredAfter: null, occurredBefore: t + 1, pollAt: t + 1, evidence: [] }]);
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('prints the presence, then one aligned line per timeline item, oldest first', async () => {
    const r = await runCli(['user', 'zoe', '--url', d.apiUrl, '--since', '1h']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^zoe: online on Android \(since \S+\), Web \(since \S+\)$/);
    expect(lines[1]).toMatch(/^timeline since \S+: 5 items$/);
    const items = lines.slice(2);
    expect(items.map((l) => l.slice(26, 34).trimEnd())).toEqual(['webhook', 'event', 'poll', 'mismatch', 'event']);
    for (const l of items) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}(webhook |event {3}|poll {4}|mismatch) {2}\S/);
    expect(items[2]).toContain('poll read online on Android, Web (disagrees with the stream)');
    expect(items[4]).toContain('#2 presence.online Android correction for mismatch #1; user online');
  });

  it('prints the timeline as JSON with --json', async () => {
    const r = await runCli(['user', 'zoe', '--url', d.apiUrl, '--json']);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout) as Timeline;
    expect(t.userID).toBe('zoe');
    expect(t.items.map((i) => i.kind)).toEqual(['webhook', 'event', 'poll', 'mismatch', 'event']);
  });

  it('says never seen for an unknown user', async () => {
    const r = await runCli(['user', 'nobody', '--url', d.apiUrl]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^nobody: never seen\ntimeline since \S+: 0 items\n$/);
  });

  it('exits 2 for a bad --since or a missing userID', async () => {
    const since = await runCli(['user', 'zoe', '--url', d.apiUrl, '--since', 'tomorrow']);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/^error: --since must be /);
    const missing = await runCli(['user', '--url', d.apiUrl]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'userID'");
  });
});
