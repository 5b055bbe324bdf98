/**
 * Hostile input that the listener used to store: userIDs with control characters (which then reached operators'
 * terminals through the CLI) and platformIDs outside OpenIM's table (each one a new metric series and /v1/health
 * entry). The listener refuses both with a 400 in OpenIM's reply shape and stores nothing; whatever is already in the
 * store (older data, or a platform the status API reports) is printed escaped by the CLI and bucketed as `other` in
 * webhook health and its metric.
 */
import { execFile, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { IngestItem } from '../../src/engine/presence-engine.js';
import { PLATFORMS } from '../../src/openim/platforms.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { printable } from '../../src/cli/http-client.js';
import { CLI, JSON_HEADERS, OFFLINE, ONLINE, REPO_ROOT, WEBHOOK_OK, getJson, killAllChildren, sleep } from './helpers.js';

type TestDaemon = Daemon & { cleanupDir: () => void };
const daemons: TestDaemon[] = [];
afterEach(async () => {
  killAllChildren();
  for (const d of daemons.splice(0)) {
    await d.close();
    d.cleanupDir();
  }
});

async function daemon(overrides: Parameters<typeof startTestDaemon>[0] = {}): Promise<TestDaemon> {
  const d = await startTestDaemon(overrides);
  daemons.push(d);
  return d;
}

async function post(url: string, body: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method: 'POST', headers: JSON_HEADERS, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** A webhook body with any userID and platformID (the fixture's webhookBody only knows a few platforms). */
function body(userID: string, platformID: number, seq = Date.now()): string {
  return `${JSON.stringify({ callbackCommand: ONLINE, operationID: `p_1_${seq}`, platformID, platform: (PLATFORMS as Record<number, string>)[platformID] ?? '', userID, seq, isAppBackground: false, connID: '' })}\n`;
}

/** Records webhooks without the listener's checks, as data stored before them (or by the poller) would be. */
function ingestDirectly(d: Daemon, items: { userID: string; platformID: number; command?: string }[]): void {
  const t = Date.now();
  const batch: IngestItem[] = items.map((it, i) => ({
    webhook: { callbackCommand: it.command ?? ONLINE, operationID: `p_9_${i}`, platformID: it.platformID, platform: '', userID: it.userID, seq: t + i, isAppBackground: false, connID: '' } as IngestItem['webhook'],
    body: body(it.userID, it.platformID, t + i),
    receivedAt: t + i,
    remoteAddress: '127.0.0.1',
  }));
  d.engine.ingest(batch);
}

/** What a terminal would act on: C0, DEL and C1 controls, line and paragraph separators, bidi controls (test it with line feeds removed). */
const TERMINAL_CONTROL = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

describe('control characters in userIDs', () => {
  const HOSTILE = ['probe\u0007\u001b[31m\r\nX', 'nul\u0000', 'del\u007f', 'csi\u009b2J', 'tab\there', 'lf\n'];

  it('are refused at the listener with a 400 in OpenIM reply shape, and nothing is stored', async () => {
    const d = await daemon();
    const answers: string[] = [];
    for (const userID of HOSTILE) {
      const r = await post(`${d.webhookUrl}/${ONLINE}`, body(userID, 5));
      const reply = JSON.parse(r.body) as Record<string, unknown>;
      answers.push(`${printable(JSON.stringify(userID))}→${r.status}`);
      expect(r.status, JSON.stringify(userID)).toBe(400);
      expect(Object.keys(reply).sort()).toEqual(['actionCode', 'errCode', 'errDlt', 'errMsg', 'nextCode']);
      expect(reply.errMsg).toMatch(/^invalid userID: userID must not contain control characters .*U\+00[0-9A-F]{2} at index \d+$/);
    }
    expect(d.store.countReceipts()).toBe(0);
    expect(d.store.headSeq()).toBe(0);
    // Printable non-ASCII userIDs are OpenIM's to choose and still accepted.
    expect((await post(`${d.webhookUrl}/${ONLINE}`, body('用户-ü-1', 5))).body).toBe(WEBHOOK_OK);
    expect(d.store.countReceipts()).toBe(1);
    console.log(`[hostile/control-chars] ${answers.join(' ')}; printable non-ASCII accepted`);
  });

  it('are printed escaped by tail, mismatches list, user and report, in every output form', async () => {
    const d = await daemon();
    const evil = HOSTILE[0]!;
    const evilC1 = HOSTILE[3]!;
    ingestDirectly(d, [{ userID: evil, platformID: 5 }, { userID: evilC1, platformID: 2 }]);
    const t = Date.now();
    for (const userID of [evil, evilC1]) {
      d.store.insertMismatch({
        kind: 'missed_online', userID, platformID: 5, platform: 'Web', detectedAt: t, occurredAfter: null, occurredBefore: t, eventSeq: null,
        lateByMs: null, lateAt: null, status: 'open', shadow: false, evidence: [{ at: t, what: 'note', detail: evil }], note: `note ${evil}`, updatedAt: t,
      });
    }
    await d.store.durable();
    // The daemon runs in this process: the CLI is run asynchronously.
    const run = (args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile(process.execPath, ['--import', 'tsx', CLI, ...args, '--url', d.apiUrl], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${args.join(' ')}: ${err.message} ${stderr}`));
          else resolve(stdout);
        });
      });
    const outputs: Record<string, string> = {
      'mismatches list': await run(['mismatches', 'list']),
      'mismatches list --format csv': await run(['mismatches', 'list', '--format', 'csv']),
      'mismatches list --format json': await run(['mismatches', 'list', '--format', 'json']),
      user: await run(['user', evil]),
      'user --json': await run(['user', evil, '--json']),
      report: await run(['report']),
      'report --format csv': await run(['report', '--format', 'csv']),
      'report --format json': await run(['report', '--format', 'json']),
      tail: await tailUntil(d.apiUrl, [], 2),
      'tail --json': await tailUntil(d.apiUrl, ['--json'], 2),
    };
    // CSV rows end in CRLF (RFC 4180): that CR is the format's own.
    const raw = Object.entries(outputs).filter(([, text]) => TERMINAL_CONTROL.test(text.replace(/\r?\n/g, ''))).map(([k]) => k);
    const escaped = Object.entries(outputs).filter(([, text]) => text.includes('\\u001b[31m')).map(([k]) => k);
    const c1Escaped = Object.entries(outputs).filter(([, text]) => text.includes('\\u009b2J')).map(([k]) => k);
    console.log(`[hostile/cli-escaping] outputs=${Object.keys(outputs).length} withRawControls=${JSON.stringify(raw)} showingEscapedESC=${escaped.length} showingEscapedC1=${c1Escaped.length}`);
    expect(raw, 'no output carries a raw control character').toEqual([]);
    // The strings are shown, escaped, not dropped (the user timeline is of the ESC user only).
    expect(escaped.sort()).toEqual(Object.keys(outputs).sort());
    expect(c1Escaped.sort()).toEqual(Object.keys(outputs).filter((k) => !k.startsWith('user')).sort());
    // JSON output still parses to the very strings stored.
    const page = JSON.parse(outputs['mismatches list --format json']!) as { mismatches: { userID: string }[] };
    expect(page.mismatches.map((m) => m.userID).sort()).toEqual([evil, evilC1].sort());
  }, 120_000);
});

/** Runs `tail --after 0` until it printed `lines` lines on stdout (or 30 s passed), then stops it. */
async function tailUntil(apiUrl: string, extra: string[], lines: number): Promise<string> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'tail', '--after', '0', ...extra, '--url', apiUrl], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  for (let i = 0; i < 300 && out.split('\n').length <= lines; i++) await sleep(100);
  proc.kill('SIGTERM');
  await exited;
  return out;
}

describe('platformIDs', () => {
  it("accepts OpenIM's 1-11 and webhook.extraPlatforms only, refusing any other with a 400 in OpenIM reply shape", async () => {
    const d = await daemon({ webhook: { extraPlatforms: [42] } });
    for (const id of Object.keys(PLATFORMS).map(Number)) expect((await post(`${d.webhookUrl}/${ONLINE}`, body(`p-ok-${id}`, id))).status, `platform ${id}`).toBe(200);
    expect((await post(`${d.webhookUrl}/${ONLINE}`, body('p-extra', 42))).status).toBe(200);
    const before = d.store.countReceipts();
    const refused: string[] = [];
    for (const id of [0, 12, 43, 999, 1_000_000]) {
      const r = await post(`${d.webhookUrl}/${ONLINE}`, body(`p-bad-${id}`, id));
      const reply = JSON.parse(r.body) as { errMsg: string; errCode: number };
      refused.push(`${id}→${r.status}`);
      expect(r.status, `platform ${id}`).toBe(400);
      expect(reply.errMsg).toBe(`unknown platformID ${id}: OpenIM's platforms are 1-11, plus 42 from webhook.extraPlatforms; a fork's own IDs go in webhook.extraPlatforms`);
    }
    expect(d.store.countReceipts()).toBe(before);
    const metrics = await (await fetch(`${d.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/opr_webhooks_rejected_total\{command="callbackAfterUserOnlineCommand",reason="unknown_platform"\} 5/);
    console.log(`[hostile/platforms] accepted 1-11 and 42; refused ${refused.join(' ')}`);
  });

  it('keep webhook health and its metric bounded: platforms outside the known set share one "other" entry', async () => {
    const d = await daemon();
    // 300 platforms outside the table reach the store (as a fork's corrections or older data would), online and offline.
    const ids = Array.from({ length: 300 }, (_, i) => 100 + i);
    ingestDirectly(d, ids.map((id) => ({ userID: `card-${id}`, platformID: id })));
    ingestDirectly(d, [...ids.map((id) => ({ userID: `card-${id}`, platformID: id, command: OFFLINE })), { userID: 'card-web', platformID: 5 }]);
    await d.store.durable();
    const health = await getJson<{ webhooks: { entries: { command: string; platformID: number; platform: string; receipts: number }[] } }>(`${d.apiUrl}/v1/health`);
    const metrics = await (await fetch(`${d.apiUrl}/metrics`)).text();
    const labels = new Set([...metrics.matchAll(/^opr_webhook_health\{[^}]*platform="([^"]*)"/gm)].map((m) => m[1]));
    const series = [...metrics.matchAll(/^opr_webhook_health\{/gm)].length;
    const other = health.webhooks.entries.filter((e) => e.platform === 'other');
    console.log(
      `[hostile/cardinality] platformsOutsideTheTable=300 healthEntries=${health.webhooks.entries.length} metricSeries=${series} platformLabels=${JSON.stringify([...labels])} ` +
        `other=${JSON.stringify(other.map((e) => ({ command: e.command, platformID: e.platformID, receipts: e.receipts })))} metricsBytes=${metrics.length}`,
    );
    expect(health.webhooks.entries.length).toBeLessThanOrEqual(2 * (11 + 1));
    expect(other.map((e) => e.platformID)).toEqual([-1, -1]);
    expect(other.reduce((n, e) => n + e.receipts, 0)).toBe(600);
    expect([...labels].sort()).toEqual(['Web', 'other']);
    expect(series).toBeLessThanOrEqual(4 * 2 * (11 + 1));
  });
});
