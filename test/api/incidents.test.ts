import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentPage } from '../../src/api/incident-routes.js';
import type { MismatchPage } from '../../src/api/mismatch-json.js';
import type { OpsReport } from '../../src/api/ops-report.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { IncidentJson } from '../../src/incidents/incident-json.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { getJson, newMismatch, postJson, runCli } from './ops-fixtures.js';

type Detail = IncidentJson & { latestMismatches: { id: number }[] };

describe('incidents over the API and the CLI', () => {
  let d: Daemon & { cleanupDir: () => void };
  const now = Date.now();

  beforeAll(async () => {
    d = await startTestDaemon();
    const e = d.engine;
    // A gateway crash: the guard's suspect poll, then 30 users corrected offline after its 60 s hold.
    e.recordMismatch(newMismatch({ userID: 'crashed-0', kind: 'suspect_poll', platformID: null, platform: '', detectedAt: now - 10 * 60_000 }));
    for (let i = 0; i < 30; i++) e.recordMismatch(newMismatch({ userID: `crashed-${i}`, kind: 'missed_offline', platformID: 2, platform: 'Android', detectedAt: now - 10 * 60_000 + 65_000 }));
    // A run of lost online webhooks on iOS.
    for (let i = 0; i < 5; i++) e.recordMismatch(newMismatch({ userID: `ios-${i}`, kind: 'missed_online', platformID: 1, platform: 'IOS', detectedAt: now - 60_000 + i * 1000 }));
    // A race: not grouped.
    e.recordMismatch(newMismatch({ userID: 'racer', kind: 'transient', status: 'resolved', detectedAt: now }));
  });

  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('lists incidents newest first with a title, counts by kind and users', async () => {
    const r = await getJson<IncidentPage>(`${d.apiUrl}/v1/incidents`);
    expect(r.status).toBe(200);
    expect(r.body.counts).toEqual({ open: 2, acknowledged: 0, closed: 0 });
    const [ios, crash] = r.body.incidents;
    expect(ios).toMatchObject({ cause: 'webhook_loss', kind: 'missed_online', platform: 'IOS', mismatches: 5, users: 5, status: 'open' });
    expect(ios!.title).toMatch(/^lost online webhooks on IOS .*: 5 users corrected online$/);
    expect(crash).toMatchObject({ cause: 'mass_disagreement', mismatches: 31, platformID: null });
    expect(crash!.byKind).toEqual([
      { kind: 'missed_offline', count: 30, users: 30 },
      { kind: 'suspect_poll', count: 1, users: 1 },
    ]);
    expect(crash!.title).toMatch(/^gateway crash at \d\d:\d\d UTC: the guard held, then 30 users corrected offline$/);
    expect(crash!.firstAt).toBe(new Date(now - 10 * 60_000).toISOString());
  });

  it('shows one incident with its latest mismatches, and pages all of them through /v1/mismatches?incident=', async () => {
    const { body: page } = await getJson<IncidentPage>(`${d.apiUrl}/v1/incidents?status=open`);
    const crash = page.incidents.find((i) => i.cause === 'mass_disagreement')!;
    const one = await getJson<Detail>(`${d.apiUrl}/v1/incidents/${crash.id}`);
    expect(one.status).toBe(200);
    expect(one.body.latestMismatches).toHaveLength(20);
    const all = await getJson<MismatchPage>(`${d.apiUrl}/v1/mismatches?incident=${crash.id}&limit=100`);
    expect(all.body.mismatches).toHaveLength(31);
    expect(new Set(all.body.mismatches.map((m) => m.kind))).toEqual(new Set(['missed_offline', 'suspect_poll']));
  });

  it('answers 404 for an unknown incident and 400 for a bad status', async () => {
    expect((await getJson(`${d.apiUrl}/v1/incidents/9999`)).status).toBe(404);
    expect((await postJson(`${d.apiUrl}/v1/incidents/9999/ack`, {})).status).toBe(404);
    const bad = await getJson<{ error: { code: string; message: string } }>(`${d.apiUrl}/v1/incidents?status=done`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('open, acknowledged, closed');
  });

  it('leads the report with incidents', async () => {
    const r = await getJson<OpsReport>(`${d.apiUrl}/v1/report?since=24h`);
    expect(Object.keys(r.body).indexOf('incidents')).toBeLessThan(Object.keys(r.body).indexOf('mismatches'));
    expect(r.body.incidents.counts.open).toBeGreaterThanOrEqual(1);
    expect(r.body.incidents.list.map((i) => i.cause)).toContain('mass_disagreement');
  });

  it('lists, shows and acknowledges incidents from the CLI; acknowledging reviews their mismatches', async () => {
    const { body: page } = await getJson<IncidentPage>(`${d.apiUrl}/v1/incidents`);
    const ios = page.incidents.find((i) => i.platform === 'IOS')!;
    const list = await runCli(['incidents', 'list', '--url', d.apiUrl]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('lost online webhooks on IOS');
    const show = await runCli(['incidents', 'show', String(ios.id), '--url', d.apiUrl]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`incident #${ios.id}`);
    expect(show.stdout).toContain('ios-4');
    const ack = await runCli(['incidents', 'ack', String(ios.id), '--note', 'known', '--url', d.apiUrl]);
    expect(ack.code).toBe(0);
    expect(ack.stdout).toContain('is now acknowledged');
    const after = await getJson<MismatchPage>(`${d.apiUrl}/v1/mismatches?incident=${ios.id}`);
    expect(after.body.mismatches.map((m) => m.status)).toEqual(Array(5).fill('acknowledged'));
    const report = await runCli(['report', '--url', d.apiUrl]);
    expect(report.stdout.indexOf('Incidents:')).toBeLessThan(report.stdout.indexOf('Mismatches:'));
    expect((await runCli(['incidents', 'list', '--status', 'done', '--url', d.apiUrl])).code).toBe(2);
  }, 60_000);
});
