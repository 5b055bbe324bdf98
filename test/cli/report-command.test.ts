import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpsReport } from '../../src/api/ops-report.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postWebhook, startTestDaemon, TEST_PATH_SECRET, webhookBody } from '../helpers/daemon-fixture.js';
import { HOUR, newMismatch, runCli } from '../api/ops-fixtures.js';

const API_TOKEN = 'report-cli-test-token-0123456789';
const OPENIM_SECRET = 'report-cli-openim-secret';

describe('openim-presence report', () => {
  let d: Daemon & { cleanupDir: () => void; dir: string };
  const now = Date.now();

  beforeAll(async () => {
    d = await startTestDaemon({ openim: { secret: OPENIM_SECRET }, api: { tokens: [API_TOKEN] } });
    for (const ms of [1000, 2000, 3000, 4000]) {
      d.engine.recordMismatch(newMismatch({ userID: 'late-user', kind: 'late_webhook', platformID: 5, platform: 'Web', detectedAt: now - HOUR, lateByMs: ms, lateAt: now - HOUR }));
    }
    d.engine.recordMismatch(newMismatch({ userID: '=cmd()', kind: 'missed_offline', platformID: 2, platform: 'Android', detectedAt: now - 2 * HOUR }));
    d.engine.recordMismatch(newMismatch({ userID: 'old', kind: 'missed_online', platformID: 1, platform: 'IOS', detectedAt: now - 30 * HOUR }));
    await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'w1', 5, now));
    const runs: [kind: 'cycle' | 'confirm', errors: number, disagreements: number, corrections: number][] = [
      ['cycle', 0, 2, 0],
      ['cycle', 2, 0, 0],
      ['cycle', 0, 1, 0],
      ['confirm', 0, 0, 1],
      ['confirm', 0, 0, 0],
    ];
    for (const [i, [kind, errors, disagreements, corrections]] of runs.entries()) {
      d.store.insertPollRun({
        kind,
        startedAt: now - HOUR + i * 1000,
        endedAt: now - HOUR + i * 1000 + 100,
        usersPolled: 10,
        requests: 1,
        errors,
        disagreements,
        confirmations: corrections,
        corrections,
        overBudget: false,
        note: '',
      });
    }
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('prints a table with counts by kind and platform, webhook health, top users, late percentiles and polling', async () => {
    const r = await runCli(['report', '--url', d.apiUrl]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Report since \S+ \(generated \S+\)\n/);
    expect(r.stdout).toContain('Mismatches: 5\n');
    expect(r.stdout).toMatch(/^late_webhook\s+4$/m);
    expect(r.stdout).toMatch(/^missed_offline\s+1$/m);
    expect(r.stdout).toMatch(/^Web\s+4$/m);
    expect(r.stdout).toMatch(/^online\s+Web\s+healthy\s+1\s+0\s+0%\s+1\s+/m);
    expect(r.stdout).toMatch(/^late-user\s+4$/m);
    expect(r.stdout).toContain('Late webhooks: 4 (p50 2.0 s, p90 4.0 s, p99 4.0 s, max 4.0 s)');
    expect(r.stdout).toContain('Polling: 5 runs (3 cycles, 2 confirm polls, 0 discovery sweeps); last cycle ');
    // Errors are counted over every run, and say how many runs had them: never "N errors in 0 runs" after cycles ran.
    expect(r.stdout).toContain('  failed: 1 of 5 runs recorded errors (2 errors in all)\n');
    expect(r.stdout).toContain('  found: 3 disagreements, 1 correction\n');
    expect(r.stdout).toContain('  work: 5 requests, 50 user polls (a user polled by 10 runs counts 10 times)\n');
    expect(r.stdout).toMatch(/^COMMAND\s+PLATFORM\s+STATE\s+BY WEBHOOK\s+BY CORRECTION\s+CORRECTED\s+WEBHOOKS RECEIVED\s+/m);
  });

  it('prints the JSON of GET /v1/report with --format json, honouring --since', async () => {
    const r = await runCli(['report', '--url', d.apiUrl, '--format', 'json', '--since', '48h']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as OpsReport;
    expect(report.mismatches.total).toBe(6);
    expect(report.lateWebhooks).toEqual({ count: 4, p50Ms: 2000, p90Ms: 4000, p99Ms: 4000, maxMs: 4000 });
  });

  it('prints one CSV row per figure with --format csv, neutralising spreadsheet formulas', async () => {
    const r = await runCli(['report', '--url', d.apiUrl, '--format', 'csv']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\r\n');
    expect(lines[0]).toBe('section,name,platform,value,detail');
    expect(lines).toContain('mismatches,total,,5,');
    expect(lines).toContain('mismatches_by_kind,late_webhook,,4,');
    expect(lines).toContain('mismatches_by_platform,,Web,4,');
    expect(lines).toContain('late_webhook_ms,p50,,2000,');
    expect(lines).toContain('late_webhook_ms,p99,,4000,');
    expect(lines).toContain("top_user,'=cmd(),,1,");
    expect(lines).toContain('poll,runs,,5,');
    expect(lines).toContain('poll,cycles,,3,');
    expect(lines).toContain('poll,runs_with_errors,,1,');
    expect(lines.some((l) => l.startsWith('webhook_health,online,Web,healthy,'))).toBe(true);
  });

  it('finds the daemon and its token through --config', async () => {
    const file = join(d.dir, 'cli.yaml');
    const port = new URL(d.apiUrl).port;
    writeFileSync(file, `api:\n  host: 127.0.0.1\n  port: ${port}\n  tokens: [${API_TOKEN}]\n`);
    const r = await runCli(['report', '--config', file, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as OpsReport).mismatches.total).toBe(5);
  });

  it('shows no secret in any output form', async () => {
    for (const format of ['table', 'json', 'csv']) {
      const r = await runCli(['report', '--url', d.apiUrl, '--token', API_TOKEN, '--format', format]);
      for (const secret of [API_TOKEN, OPENIM_SECRET, TEST_PATH_SECRET]) {
        expect(r.stdout).not.toContain(secret);
        expect(r.stderr).not.toContain(secret);
      }
    }
  });

  describe('when the arguments are wrong', () => {
    it.each([
      [['--format', 'xml'], '--format must be one of table, json, csv'],
      [['--since', 'last-week'], '--since must be'],
      [['--top', '0'], '--top must be an integer from 1 to 100'],
      [['--url', 'ftp://x'], '--url must be an http:// or https:// URL'],
      [['--no-such-option'], "unknown option '--no-such-option'"],
    ])('exits 2 for %j with a message naming the argument', async (args, message) => {
      const r = await runCli(['report', '--url', d.apiUrl, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe('');
    });
  });

  it('exits 1 with one line saying so when the daemon is unreachable', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const r = await runCli(['report', '--url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot reach the daemon at http://127.0.0.1:${port} (ECONNREFUSED): is \`openim-presence run\` running there? Pass its API address with --url or --config\n`);
  });

  describe('when the daemon address is on a port browsers and fetch refuse', () => {
    it('exits 2 naming the port and the reason given with --url, instead of saying the daemon is not running', async () => {
      const r = await runCli(['report', '--url', 'http://127.0.0.1:10080']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        "error: cannot use the daemon's API at http://127.0.0.1:10080: port 10080 is on the Fetch standard's list of blocked ports: " +
          "browsers (net::ERR_UNSAFE_PORT) and Node's fetch refuse to connect to it. Run the daemon with another api.port (the default is 10088) and pass that address with --url\n",
      );
      expect(r.stdout).toBe('');
    });

    it('says the same when api.port in the configuration is blocked', async () => {
      const file = join(d.dir, 'blocked-port.yaml');
      writeFileSync(file, `api:\n  port: 6667\n  tokens: [${API_TOKEN}]\n`);
      const r = await runCli(['report', '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('port 6667 is on the Fetch standard');
      expect(r.stderr).toContain('set the same api.port here');
      expect(r.stderr).not.toContain('cannot reach');
    });
  });

  it('exits 1 with one line when the daemon refuses the token (401), sending it but never printing it', async () => {
    let seenAuth: string | undefined;
    const server = http.createServer((req, res) => {
      seenAuth = req.headers.authorization;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"OPR_ERR_UNAUTHORIZED","message":"missing or invalid bearer token"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await runCli(['report', '--url', url, '--token', API_TOKEN]);
      expect(seenAuth).toBe(`Bearer ${API_TOKEN}`);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`error: the daemon at ${url} refused the API token (401): check --token or api.tokens matches one of the daemon's api.tokens\n`);
      const without = await runCli(['report', '--url', url]);
      expect(without.code).toBe(1);
      expect(without.stderr).toContain('requires an API token (401): pass --token');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
