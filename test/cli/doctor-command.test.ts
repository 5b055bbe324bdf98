import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorCheck } from '../../src/cli/doctor-command.js';
import { runDoctor, webhooksYml } from '../../src/cli/doctor-command.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { configSchema } from '../../src/config/schema.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { Simulator } from '../../src/simulator/index.js';
import { startSimulator } from '../../src/simulator/index.js';
import { startTestDaemon, TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { runCli } from '../api/ops-fixtures.js';

const API_TOKEN = 'doctor-test-api-token-0123456789';

type TestDaemon = Daemon & { cleanupDir: () => void; dir: string };

function check(checks: DoctorCheck[], prefix: string): DoctorCheck {
  const c = checks.find((x) => x.name.startsWith(prefix));
  if (!c) throw new Error(`no check starting with ${prefix}: ${checks.map((x) => x.name).join(' | ')}`);
  return c;
}

/** A loopback port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe('openim-presence doctor', () => {
  let sim: Simulator;
  let sim380: Simulator;
  let d: TestDaemon;
  let webhookBase: string;

  beforeAll(async () => {
    sim = await startSimulator({ users: 5, workload: false, secret: 'doctor-openim-secret' });
    sim380 = await startSimulator({ users: 5, workload: false, version: '3.8.0', secret: 'doctor-openim-secret' });
    d = await startTestDaemon({ api: { tokens: [API_TOKEN] } });
    webhookBase = d.webhookUrl.slice(0, -(TEST_PATH_SECRET.length + 1));
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
    await sim.close();
    await sim380.close();
  });

  function config(over: { openim?: Partial<ConfigInput['openim']>; webhook?: Partial<ConfigInput['webhook']> } = {}): Config {
    return configSchema.parse({
      openim: { apiUrl: sim.apiUrl, secret: sim.secret, adminUserID: sim.adminUserID, timeoutMs: 2000, retries: 0, ...over.openim },
      webhook: { pathSecret: TEST_PATH_SECRET, publicUrl: webhookBase, ...over.webhook },
      api: { tokens: [API_TOKEN] },
    });
  }

  it('passes every check against a 3.8.x OpenIM and a running daemon, and prints the webhooks.yml block', async () => {
    const r = await runDoctor(config());
    expect(r.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(r.ok).toBe(true);
    expect(check(r.checks, 'status form').detail).toContain('numeric 0/1: OpenIM v3.8.1 or later');
    expect(r.text).toContain(webhooksYml(`${webhookBase}/${TEST_PATH_SECRET}`));
    expect(r.text).toContain(
      [
        `url: ${webhookBase}/${TEST_PATH_SECRET}`,
        'afterUserOnline:',
        '  enable: true',
        '  timeout: 5',
        'afterUserOffline:',
        '  enable: true',
        '  timeout: 5',
        '# afterUserKickOff is never sent by OpenIM 3.8.x',
      ].join('\n'),
    );
    expect(r.text).toContain('OpenIM v3.8.0 and v3.8.1 never send presence webhooks, whatever webhooks.yml says: upgrade to v3.8.2 or later.');
    expect(r.text).toContain('All checks passed.');
  });

  it('shows the path secret only in the url line, and never the OpenIM secret or an API token', async () => {
    for (const cfg of [config(), config({ openim: { secret: 'wrong-secret-value' } }), config({ webhook: { publicUrl: 'http://127.0.0.1:1' } })]) {
      const r = await runDoctor(cfg);
      expect(occurrences(r.text, TEST_PATH_SECRET)).toBe(1);
      expect(r.text).toMatch(new RegExp(`^url: \\S+/${TEST_PATH_SECRET}$`, 'm'));
      expect(r.text).not.toContain(sim.secret);
      expect(r.text).not.toContain('wrong-secret-value');
      expect(r.text).not.toContain(API_TOKEN);
    }
  });

  describe('when a check fails it says what to fix', () => {
    it('fails the token check for a wrong secret', async () => {
      const r = await runDoctor(config({ openim: { secret: 'wrong-secret-value' } }));
      expect(r.ok).toBe(false);
      expect(check(r.checks, 'OpenIM API reachable').status).toBe('ok');
      const c = check(r.checks, 'admin token');
      expect(c.status).toBe('fail');
      expect(c.detail).toContain('wrong secret (errCode 1002)');
      expect(c.fix).toContain("make openim.secret equal `secret` in OpenIM's share.yml");
      expect(check(r.checks, 'admin permission').status).toBe('skip');
      expect(r.text).toMatch(/^\[FAIL\] admin token for "imAdmin": .*\n {7}fix: make openim.secret equal/m);
    });

    it('fails the token check for a user that is not an admin', async () => {
      const r = await runDoctor(config({ openim: { adminUserID: 'u1' } }));
      expect(r.ok).toBe(false);
      const c = check(r.checks, 'admin token');
      expect(c.status).toBe('fail');
      expect(c.detail).toContain('errCode 1001');
      expect(c.detail).toContain('imAdminUserID');
      expect(c.fix).toContain('openim.adminUserID ("u1") one of share.yml `imAdminUserID`');
    });

    it('fails the status-form check for v3.8.0, which answers string statuses and sends no webhooks', async () => {
      const r = await runDoctor(config({ openim: { apiUrl: sim380.apiUrl } }));
      expect(r.ok).toBe(false);
      const c = check(r.checks, 'status form');
      expect(c.status).toBe('fail');
      expect(c.detail).toContain('v3.8.0, which never sends presence webhooks');
      expect(c.fix).toContain('upgrade OpenIM to v3.8.2 or later');
      expect(check(r.checks, 'admin permission').status).toBe('ok');
    });

    it('fails the reachability check when nothing listens at openim.apiUrl', async () => {
      const r = await runDoctor(config({ openim: { apiUrl: 'http://127.0.0.1:1' } }));
      const c = check(r.checks, 'OpenIM API reachable at http://127.0.0.1:1');
      expect(c.status).toBe('fail');
      expect(c.detail).toContain('cannot reach');
      expect(c.fix).toContain('set openim.apiUrl to the address of openim-api');
      expect(check(r.checks, 'admin token').status).toBe('skip');
    });

    it('fails when openim.secret is not set, without asking OpenIM', async () => {
      const r = await runDoctor(configSchema.parse({ openim: { apiUrl: sim.apiUrl }, webhook: { pathSecret: TEST_PATH_SECRET, publicUrl: webhookBase } }));
      const c = check(r.checks, 'openim.secret is set');
      expect(c.status).toBe('fail');
      expect(c.fix).toContain('set openim.secret (or openim.secretFile');
      expect(check(r.checks, 'OpenIM API reachable').status).toBe('skip');
    });

    it('fails the listener check when nothing answers at the webhook URL', async () => {
      const port = await freePort();
      const r = await runDoctor(config({ webhook: { publicUrl: `http://127.0.0.1:${port}` } }));
      const c = check(r.checks, `webhook listener answers at http://127.0.0.1:${port}/<webhook.pathSecret>`);
      expect(c.status).toBe('fail');
      expect(c.detail).toContain('ECONNREFUSED');
      expect(c.fix).toContain('start the daemon');
    });

    it('fails the listener check when the daemon there has another path secret', async () => {
      const r = await runDoctor(config({ webhook: { pathSecret: 'some-other-path-secret' } }));
      const c = check(r.checks, 'webhook listener answers');
      expect(c.status).toBe('fail');
      expect(c.detail).toContain('answered 404');
      expect(c.fix).toContain('same webhook.pathSecret');
    });

    it('fails when webhook.pathSecret is not set, and prints a placeholder in the url line', async () => {
      const r = await runDoctor(configSchema.parse({ openim: { apiUrl: sim.apiUrl, secret: sim.secret }, webhook: { publicUrl: webhookBase } }));
      expect(check(r.checks, 'webhook.pathSecret is set').status).toBe('fail');
      expect(r.text).toContain(`url: ${webhookBase}/<webhook.pathSecret>`);
    });

    it('warns, without trying, when the listener or the API is on a port browsers and fetch refuse', async () => {
      const r = await runDoctor(
        configSchema.parse({
          openim: { apiUrl: sim.apiUrl, secret: sim.secret, adminUserID: sim.adminUserID, timeoutMs: 2000, retries: 0 },
          webhook: { pathSecret: TEST_PATH_SECRET, publicUrl: 'http://127.0.0.1:6000' },
          api: { port: 10080 },
        }),
      );
      const listener = check(r.checks, 'webhook listener answers at http://127.0.0.1:6000/');
      expect(listener.status).toBe('warn');
      expect(listener.detail).toContain("not checked: port 6000 is on the Fetch standard's list of blocked ports");
      const api = check(r.checks, 'API port 10080 opens in a browser');
      expect(api.status).toBe('warn');
      expect(api.fix).toContain('the default is 10088');
      expect(r.text).toContain('[warn] API port 10080 opens in a browser: port 10080 is on the Fetch standard');
    });

    it('warns when webhook.publicUrl is not set and the listener is on loopback', async () => {
      const port = Number(new URL(webhookBase).port);
      const r = await runDoctor(config({ webhook: { publicUrl: undefined, host: '127.0.0.1', port } }));
      expect(check(r.checks, 'webhook listener answers').status).toBe('ok');
      const c = check(r.checks, 'webhook.publicUrl is set');
      expect(c.status).toBe('warn');
      expect(c.fix).toContain('set webhook.publicUrl');
      expect(r.ok).toBe(true);
    });
  });

  it('runs as a command: exit 0 when all pass, 1 when a check fails, 2 for an unreadable configuration', async () => {
    const good = join(d.dir, 'doctor-good.yaml');
    const bad = join(d.dir, 'doctor-bad.yaml');
    const yaml = (secret: string): string =>
      `openim:\n  apiUrl: ${sim.apiUrl}\n  secret: ${secret}\n  retries: 0\nwebhook:\n  pathSecret: ${TEST_PATH_SECRET}\n  publicUrl: ${webhookBase}\napi:\n  tokens: [${API_TOKEN}]\n`;
    writeFileSync(good, yaml(sim.secret));
    writeFileSync(bad, yaml('wrong-secret-value'));
    const ok = await runCli(['doctor', '--config', good]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('All checks passed.');
    const failed = await runCli(['doctor', '--config', bad]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('[FAIL] admin token');
    for (const out of [ok.stdout, failed.stdout]) {
      expect(out).not.toContain(sim.secret);
      expect(out).not.toContain('wrong-secret-value');
      expect(out).not.toContain(API_TOKEN);
      expect(occurrences(out, TEST_PATH_SECRET)).toBe(1);
    }
    const missing = await runCli(['doctor', '--config', join(d.dir, 'no-such.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: cannot read .*no-such\.yaml/);
  });
});

describe('the webhook listener doctor probe GET /<pathSecret>/_doctor', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('answers 200 {"ok":true} with the right secret, also to HEAD', async () => {
    const res = await fetch(`${d.webhookUrl}/_doctor`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"ok":true}');
    expect((await fetch(`${d.webhookUrl}/_doctor`, { method: 'HEAD' })).status).toBe(200);
  });

  it('answers 404 with a wrong secret', async () => {
    const base = d.webhookUrl.slice(0, -(TEST_PATH_SECRET.length + 1));
    const res = await fetch(`${base}/not-the-path-secret/_doctor`);
    expect(res.status).toBe(404);
  });

  it('records nothing and counts no webhook', async () => {
    for (let i = 0; i < 3; i++) await (await fetch(`${d.webhookUrl}/_doctor`)).text();
    expect(d.store.countReceipts()).toBe(0);
    expect(d.store.headSeq()).toBe(0);
    const metrics = await (await fetch(`${d.apiUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/^opr_webhooks_(received|rejected)_total\{.*\} [1-9]/m);
  });

  it('answers 403 to a source outside webhook.allowlist', async () => {
    const fenced = await startTestDaemon({ webhook: { allowlist: ['10.0.0.0/8'] } });
    try {
      const res = await fetch(`${fenced.webhookUrl}/_doctor`);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ ok: false, reason: 'source address not in webhook.allowlist' });
    } finally {
      await fenced.close();
      fenced.cleanupDir();
    }
  });
});
