import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { makeTempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OPENIM_SECRET = 'openim-secret-never-printed-1234';
const PATH_SECRET = 'path-secret-never-printed-5678';
const TOKEN = 'token-never-printed-abcdefgh';

/** The environment of this process without any OPR_* variable, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('OPR_')) env[name] = value;
  return { ...env, ...extra };
}

/** Runs `openim-presence check-config …` from the sources as a real subprocess. */
function checkConfig(args: string[], env: NodeJS.ProcessEnv) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'check-config', ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => {
  tmp.cleanup();
});

describe('openim-presence check-config', () => {
  describe('when the configuration is valid', () => {
    it('exits 0 and prints the effective configuration as YAML with every secret redacted', () => {
      const file = tmp.write(
        'config.yaml',
        `openim:\n  apiUrl: https://im.example.com\napi:\n  tokensFile: ${tmp.write('tokens', `${TOKEN}\n`)}\n`,
      );
      const result = checkConfig(
        ['--config', file],
        cleanEnv({ OPR_OPENIM__SECRET: OPENIM_SECRET, OPR_WEBHOOK__PATH_SECRET: PATH_SECRET }),
      );
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const printed = parse(result.stdout) as {
        openim: { apiUrl: string; secret: string };
        webhook: { pathSecret: string };
        api: { tokens: string[] };
      };
      expect(printed.openim.apiUrl).toBe('https://im.example.com');
      expect(printed.openim.secret).toBe('[REDACTED]');
      expect(printed.webhook.pathSecret).toBe('[REDACTED]');
      expect(printed.api.tokens).toEqual(['[REDACTED]']);
      for (const secret of [OPENIM_SECRET, PATH_SECRET, TOKEN]) expect(result.stdout).not.toContain(secret);
    });

    it('prints JSON with --json', () => {
      const result = checkConfig(
        ['--json'],
        cleanEnv({ OPR_OPENIM__SECRET: OPENIM_SECRET, OPR_WEBHOOK__PATH_SECRET: PATH_SECRET }),
      );
      expect(result.status).toBe(0);
      const printed = JSON.parse(result.stdout) as { ok: boolean; config: { openim: { secret: string } } };
      expect(printed.ok).toBe(true);
      expect(printed.config.openim.secret).toBe('[REDACTED]');
      expect(result.stdout).not.toContain(OPENIM_SECRET);
    });
  });

  describe('when the configuration has problems', () => {
    it('exits 2 and names a misspelled key on stderr', () => {
      const file = tmp.write('config.yaml', 'openim:\n  apiUlr: http://127.0.0.1:10002\n');
      const result = checkConfig(
        ['--config', file],
        cleanEnv({ OPR_OPENIM__SECRET: OPENIM_SECRET, OPR_WEBHOOK__PATH_SECRET: PATH_SECRET }),
      );
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        /^openim\.apiUlr: unknown key; did you mean openim\.apiUrl\?.*\(got: "http:\/\/127\.0\.0\.1:10002"\)$/m,
      );
    });

    it('exits 2 listing every problem one per line', () => {
      const result = checkConfig([], cleanEnv({ OPR_POLL__INTERVAL_SECONDS: '45', OPR_MODE: 'passive' }));
      expect(result.status).toBe(2);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines.map((line) => line.split(':')[0])).toEqual(['mode', 'poll.intervalSeconds']);
    });

    it('warns about the secrets the daemon needs but exits 0, or 2 with --strict', () => {
      const lenient = checkConfig(['--config', 'config/default.yaml'], cleanEnv());
      expect(lenient.status).toBe(0);
      expect(lenient.stdout).toContain('apiUrl: http://127.0.0.1:10002');
      expect(lenient.stderr).toMatch(/^warning: openim\.secret: is required to run the daemon/m);
      const secrets = checkConfig(['--strict'], cleanEnv());
      expect(secrets.status).toBe(2);
      expect(
        secrets.stderr
          .trimEnd()
          .split('\n')
          .map((line) => line.split(':')[0]),
      ).toEqual(['openim.secret', 'webhook.pathSecret']);
    });

    it('warns, naming the key and the port, when a port is one browsers and fetch refuse', () => {
      const result = checkConfig(
        ['--json'],
        cleanEnv({ OPR_OPENIM__SECRET: OPENIM_SECRET, OPR_WEBHOOK__PATH_SECRET: PATH_SECRET, OPR_API__PORT: '10080' }),
      );
      expect(result.status).toBe(0);
      const printed = JSON.parse(result.stdout) as { ok: boolean; warnings: string[] };
      expect(printed.ok).toBe(true);
      expect(printed.warnings).toHaveLength(1);
      expect(printed.warnings[0]).toMatch(/^api\.port: port 10080 is on the Fetch standard's list of blocked ports.*the dashboard cannot be opened.*\(got: 10080\)$/);
      const plain = checkConfig([], cleanEnv({ OPR_OPENIM__SECRET: OPENIM_SECRET, OPR_WEBHOOK__PATH_SECRET: PATH_SECRET }));
      expect(plain.status).toBe(0);
      expect(plain.stderr).toBe('');
    });

    it('exits 2 with a JSON list of issues with --json', () => {
      const result = checkConfig(
        ['--json'],
        cleanEnv({ OPR_OPENIM__SECRET: OPENIM_SECRET, OPR_WEBHOOK__PATH_SECRET: 'short' }),
      );
      expect(result.status).toBe(2);
      const printed = JSON.parse(result.stdout) as {
        ok: boolean;
        code: string;
        issues: { path: string; value: unknown }[];
      };
      expect(printed).toMatchObject({
        ok: false,
        code: 'OPR_ERR_CONFIG_INVALID',
        issues: [{ path: 'webhook.pathSecret', value: '[REDACTED]' }],
      });
    });

    it('exits 2 naming the file when it does not exist', () => {
      const missing = `${tmp.dir}/nope.yaml`;
      const result = checkConfig(['--config', missing], cleanEnv());
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(`${missing}: cannot read the file: no such file`);
    });
  });
});
