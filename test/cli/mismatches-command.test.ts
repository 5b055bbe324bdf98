import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MismatchJson, MismatchPage } from '../../src/api/mismatch-json.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { getJson, HOUR, newMismatch, runCli } from '../api/ops-fixtures.js';

describe('openim-presence mismatches', () => {
  let d: Daemon & { cleanupDir: () => void };
  const ids: number[] = [];
  const now = Date.now();

  beforeAll(async () => {
    d = await startTestDaemon();
    ids.push(d.engine.recordMismatch(newMismatch({ userID: 'amy', kind: 'missed_offline', detectedAt: now - 2 * HOUR })));
    ids.push(d.engine.recordMismatch(newMismatch({ userID: 'ben', kind: 'late_webhook', platformID: 2, platform: 'Android', detectedAt: now - HOUR, lateByMs: 12_000, lateAt: now - HOUR })));
    ids.push(d.engine.recordMismatch(newMismatch({ userID: 'amy', kind: 'missed_online', platformID: 1, platform: 'IOS', detectedAt: now - 30 * 60_000, note: 'a, "quoted" note' })));
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('lists mismatches as an aligned table, newest first', async () => {
    const r = await runCli(['mismatches', 'list', '--url', d.apiUrl]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+DETECTED\s+KIND\s+STATUS\s+USER\s+PLATFORM\s+LATE BY\s+NOTE$/);
    expect(lines.slice(1).map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual([ids[2], ids[1], ids[0]]);
    expect(lines[2]).toMatch(/late_webhook\s+open\s+ben\s+Android\s+12\.0 s$/);
  });

  it('passes the filters on and pages with --before', async () => {
    const r = await runCli(['mismatches', 'list', '--url', d.apiUrl, '--user', 'amy', '--kind', 'missed_offline,missed_online', '--limit', '1', '--format', 'json']);
    expect(r.code).toBe(0);
    const page = JSON.parse(r.stdout) as MismatchPage;
    expect(page.mismatches.map((m) => m.id)).toEqual([ids[2]]);
    expect(page.next).toBe(ids[2]);
    const next = await runCli(['mismatches', 'list', '--url', d.apiUrl, '--user', 'amy', '--limit', '1', '--before', String(page.next), '--format', 'json']);
    expect((JSON.parse(next.stdout) as MismatchPage).mismatches.map((m) => m.id)).toEqual([ids[0]]);
  });

  it('prints CSV with one row per mismatch, quoting as RFC 4180 says', async () => {
    const r = await runCli(['mismatches', 'list', '--url', d.apiUrl, '--since', '90m', '--format', 'csv']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\r\n');
    expect(lines[0]).toBe('id,kind,status,userID,platformID,platform,detectedAt,occurredAfter,occurredBefore,eventSeq,lateByMs,shadow,note');
    expect(lines[1]).toMatch(new RegExp(`^${ids[2]},missed_online,open,amy,1,IOS,.*,false,"a, ""quoted"" note"$`));
    expect(lines[2]).toMatch(new RegExp(`^${ids[1]},late_webhook,open,ben,2,Android,.*,12000,false,$`));
    expect(lines).toHaveLength(4);
  });

  it('acknowledges a mismatch with a note and resolves it', async () => {
    const ack = await runCli(['mismatches', 'ack', String(ids[0]), '--note', 'gateway restarted', '--url', d.apiUrl]);
    expect(ack.stderr).toBe('');
    expect(ack.code).toBe(0);
    expect(ack.stdout).toBe(`mismatch #${ids[0]} (missed_offline, user amy, Web) is now acknowledged\n`);
    let m = (await getJson<MismatchJson>(`${d.apiUrl}/v1/mismatches/${ids[0]}`)).body;
    expect(m).toMatchObject({ status: 'acknowledged', note: 'gateway restarted' });

    const resolve = await runCli(['mismatches', 'resolve', String(ids[0]), '--url', d.apiUrl]);
    expect(resolve.code).toBe(0);
    expect(resolve.stdout).toBe(`mismatch #${ids[0]} (missed_offline, user amy, Web) is now resolved\n`);
    m = (await getJson<MismatchJson>(`${d.apiUrl}/v1/mismatches/${ids[0]}`)).body;
    expect(m.status).toBe('resolved');
  });

  it('exits 1 with the daemon\'s one-line message for an unknown id (404)', async () => {
    const r = await runCli(['mismatches', 'ack', '424242', '--url', d.apiUrl]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: no mismatch with id 424242\n');
    expect(r.stdout).toBe('');
  });

  describe('when the arguments are wrong', () => {
    it.each([
      [['list', '--kind', 'missed'], '--kind: unknown value "missed"'],
      [['list', '--status', 'done'], '--status: unknown value "done"'],
      [['list', '--until', 'soon'], '--until must be'],
      [['list', '--limit', 'many'], '--limit must be a positive integer'],
      [['list', '--format', 'yaml'], '--format must be one of table, json, csv'],
      [['list', '--platform', 'Desktop'], 'platform must be a platform ID'],
      [['ack', 'x1'], 'id must be a positive integer'],
      [['resolve'], "missing required argument 'id'"],
      [['frobnicate'], "unknown command 'frobnicate'"],
    ])('exits 2 for mismatches %j', async (args, message) => {
      const r = await runCli(['mismatches', ...args, '--url', d.apiUrl]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    });
  });
});
