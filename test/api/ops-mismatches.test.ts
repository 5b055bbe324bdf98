import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MismatchJson, MismatchPage } from '../../src/api/mismatch-json.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { getJson, HOUR, newMismatch, postJson } from './ops-fixtures.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

describe('GET /v1/mismatches', () => {
  let d: TestDaemon;
  const now = Date.now();
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    d = await startTestDaemon({ api: { maxPageSize: 50 } });
    const rec = (name: string, m: Parameters<typeof newMismatch>[0]): void => {
      ids[name] = d.engine.recordMismatch(newMismatch(m));
    };
    rec('oldWeb', { userID: 'alice', kind: 'missed_offline', platformID: 5, platform: 'Web', detectedAt: now - 48 * HOUR });
    rec('aliceIos', { userID: 'alice', kind: 'missed_online', platformID: 1, platform: 'IOS', detectedAt: now - 3 * HOUR });
    rec('bobLate', { userID: 'bob', kind: 'late_webhook', platformID: 5, platform: 'Web', detectedAt: now - 2 * HOUR, lateByMs: 4000, lateAt: now - 2 * HOUR + 4000 });
    rec('bobTransient', { userID: 'bob', kind: 'transient', platformID: 2, platform: 'Android', detectedAt: now - HOUR, status: 'resolved' });
    rec('carolSuspect', { userID: 'carol', kind: 'suspect_poll', platformID: null, platform: '', detectedAt: now - 30 * 60_000 });
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  const list = (query: string) => getJson<MismatchPage>(`${d.apiUrl}/v1/mismatches${query}`);
  const idsOf = (page: MismatchPage): number[] => page.mismatches.map((m) => m.id);

  it('lists every mismatch newest first with ISO times and no next page', async () => {
    const r = await list('');
    expect(r.status).toBe(200);
    expect(idsOf(r.body)).toEqual([ids.carolSuspect, ids.bobTransient, ids.bobLate, ids.aliceIos, ids.oldWeb]);
    expect(r.body.next).toBeNull();
    const late = r.body.mismatches.find((m) => m.id === ids.bobLate)!;
    expect(late).toMatchObject({ kind: 'late_webhook', userID: 'bob', platform: 'Web', lateByMs: 4000, status: 'open', shadow: false });
    expect(late.detectedAt).toBe(new Date(now - 2 * HOUR).toISOString());
    expect(late.lateAt).toBe(new Date(now - 2 * HOUR + 4000).toISOString());
    expect(late.evidence[0]!.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('filters by a comma list of kinds', async () => {
    const r = await list('?kind=missed_online,late_webhook');
    expect(idsOf(r.body)).toEqual([ids.bobLate, ids.aliceIos]);
  });

  it('filters by status, user and platform (ID or name)', async () => {
    expect(idsOf((await list('?status=resolved')).body)).toEqual([ids.bobTransient]);
    expect(idsOf((await list('?user=alice')).body)).toEqual([ids.aliceIos, ids.oldWeb]);
    expect(idsOf((await list('?platform=5')).body)).toEqual([ids.bobLate, ids.oldWeb]);
    expect(idsOf((await list('?platform=web')).body)).toEqual([ids.bobLate, ids.oldWeb]);
    expect(idsOf((await list('?user=bob&status=open')).body)).toEqual([ids.bobLate]);
  });

  it('filters by since and until given as durations, ISO times or epoch milliseconds', async () => {
    expect(idsOf((await list('?since=24h')).body)).toEqual([ids.carolSuspect, ids.bobTransient, ids.bobLate, ids.aliceIos]);
    expect(idsOf((await list('?since=24h&until=90m')).body)).toEqual([ids.bobLate, ids.aliceIos]);
    const iso = new Date(now - 2.5 * HOUR).toISOString();
    expect(idsOf((await list(`?since=${iso}`)).body)).toEqual([ids.carolSuspect, ids.bobTransient, ids.bobLate]);
    expect(idsOf((await list(`?until=${now - 24 * HOUR}`)).body)).toEqual([ids.oldWeb]);
  });

  it('pages with limit and the before cursor until next is null', async () => {
    const seen: number[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const r: { body: MismatchPage } = await list(`?limit=2${cursor === null ? '' : `&before=${cursor}`}`);
      expect(r.body.mismatches.length).toBeLessThanOrEqual(2);
      seen.push(...idsOf(r.body));
      cursor = r.body.next;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual([ids.carolSuspect, ids.bobTransient, ids.bobLate, ids.aliceIos, ids.oldWeb]);
  });

  it('gives next = null when the last page is exactly full', async () => {
    const r = await list('?limit=5');
    expect(r.body.mismatches).toHaveLength(5);
    expect(r.body.next).toBeNull();
  });

  describe('when a parameter is wrong', () => {
    it.each([
      ['kind=missed', 'kind', 'missed_online, missed_offline, late_webhook, transient, suspect_poll'],
      ['status=closed', 'status', 'open, acknowledged, resolved'],
      ['since=yesterday', 'since', 'duration'],
      ['until=24x', 'until', 'ISO-8601'],
      ['limit=51', 'limit', 'from 1 to 50'],
      ['limit=0', 'limit', 'from 1 to 50'],
      ['before=abc', 'before', 'integer'],
      ['platform=Desktop', 'platform', 'Web'],
      ['since=1h&until=2h', 'since', 'must not be after until'],
    ])('answers 400 for %s, naming %s and what is allowed', async (query, name, allowed) => {
      const r = await getJson<{ error: { code: string; message: string } }>(`${d.apiUrl}/v1/mismatches?${query}`);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('OPR_ERR_BAD_REQUEST');
      expect(r.body.error.message).toContain(name);
      expect(r.body.error.message).toContain(allowed);
    });
  });
});

describe('one mismatch: GET, ack and resolve', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('returns one mismatch by id', async () => {
    const id = d.engine.recordMismatch(newMismatch({ userID: 'dave', kind: 'missed_online' }));
    const r = await getJson<MismatchJson>(`${d.apiUrl}/v1/mismatches/${id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, userID: 'dave', kind: 'missed_online', status: 'open' });
  });

  it('acknowledges with a note, then resolves, keeping both steps as evidence', async () => {
    const id = d.engine.recordMismatch(newMismatch({ userID: 'erin' }));
    const acked = await postJson<MismatchJson>(`${d.apiUrl}/v1/mismatches/${id}/ack`, { note: 'gateway 2 restarted at 10:02' });
    expect(acked.status).toBe(200);
    expect(acked.body).toMatchObject({ id, status: 'acknowledged', note: 'gateway 2 restarted at 10:02' });
    const resolved = await postJson<MismatchJson>(`${d.apiUrl}/v1/mismatches/${id}/resolve`);
    expect(resolved.body).toMatchObject({ id, status: 'resolved', note: 'gateway 2 restarted at 10:02' });
    const notes = resolved.body.evidence.filter((e) => e.what === 'note').map((e) => e.detail);
    expect(notes).toEqual(['marked acknowledged: gateway 2 restarted at 10:02', 'marked resolved']);
    const listed = await getJson<MismatchPage>(`${d.apiUrl}/v1/mismatches?status=resolved&user=erin`);
    expect(listed.body.mismatches.map((m) => m.id)).toEqual([id]);
  });

  it('answers 404 naming the id for an unknown mismatch', async () => {
    for (const url of ['/v1/mismatches/9999', '/v1/mismatches/9999/ack', '/v1/mismatches/9999/resolve']) {
      const r = url.endsWith('9999') ? await getJson<{ error: { code: string; message: string } }>(`${d.apiUrl}${url}`) : await postJson<{ error: { code: string; message: string } }>(`${d.apiUrl}${url}`, {});
      expect(r.status).toBe(404);
      expect(r.body.error).toEqual({ code: 'OPR_ERR_NOT_FOUND', message: 'no mismatch with id 9999' });
    }
  });

  it('answers 400 for an id that is not a positive integer and for a note that is not a string', async () => {
    const bad = await getJson<{ error: { message: string } }>(`${d.apiUrl}/v1/mismatches/abc`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('id must be a positive integer');
    const id = d.engine.recordMismatch(newMismatch({ userID: 'frank' }));
    const note = await postJson<{ error: { message: string } }>(`${d.apiUrl}/v1/mismatches/${id}/ack`, { note: 42 });
    expect(note.status).toBe(400);
    expect(note.body.error.message).toContain('note must be a string');
    const long = await postJson<{ error: { message: string } }>(`${d.apiUrl}/v1/mismatches/${id}/ack`, { note: 'x'.repeat(2001) });
    expect(long.status).toBe(400);
    expect((await getJson<MismatchJson>(`${d.apiUrl}/v1/mismatches/${id}`)).body.status).toBe('open');
  });

  it('does not count an acknowledgement as a new mismatch in the metrics', async () => {
    const before = await (await fetch(`${d.apiUrl}/metrics`)).text();
    const count = (text: string): number => Number(/^opr_mismatches_total\{kind="missed_offline"\} (\d+)$/m.exec(text)?.[1]);
    const id = d.engine.recordMismatch(newMismatch({ userID: 'gina' }));
    await postJson(`${d.apiUrl}/v1/mismatches/${id}/ack`, {});
    const after = await (await fetch(`${d.apiUrl}/metrics`)).text();
    expect(count(after) - count(before)).toBe(1);
  });
});
