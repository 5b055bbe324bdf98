import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatConfigIssue, loadConfig, requireSecrets } from '../../src/config/load-config.js';
import { REDACTED } from '../../src/config/redact.js';
import { configSchema } from '../../src/config/schema.js';
import { ConfigFileError } from '../../src/errors.js';
import { issueAt, issuesOf, makeTempDir } from './helpers.js';

const OPENIM_SECRET = 'openim-secret-value-1234';
const PATH_SECRET = 'path-secret-value-5678';
const TOKEN_A = 'token-aaaaaaaaaaaaaaaa';
const TOKEN_B = 'token-bbbbbbbbbbbbbbbb';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => {
  tmp.cleanup();
});

describe('loadConfig', () => {
  describe('with no file and no environment', () => {
    it('returns the schema defaults', () => {
      const config = loadConfig({ env: {} });
      expect(config).toEqual(configSchema.parse({}));
      expect(config.openim.apiUrl).toBe('http://127.0.0.1:10002');
      expect(config.poll.intervalSeconds).toBe(30);
      expect(config.poll.excludeUsers).toEqual(['imAdmin']);
      expect(config.openim.secret).toBeUndefined();
    });

    it('ignores environment variables without the OPR_ prefix', () => {
      expect(loadConfig({ env: { PATH: '/usr/bin', OPENIM_API_URL: 'x' } })).toEqual(configSchema.parse({}));
    });
  });

  describe('with a YAML file', () => {
    it('overrides the defaults with the values in the file and keeps the defaults for the rest', () => {
      const file = tmp.write(
        'config.yaml',
        [
          'mode: shadow',
          'openim:',
          '  apiUrl: https://im.example.com/api',
          '  concurrency: 8',
          'poll:',
          '  users: [alice, bob]',
        ].join('\n'),
      );
      const config = loadConfig({ file, env: {} });
      expect(config.mode).toBe('shadow');
      expect(config.openim.apiUrl).toBe('https://im.example.com/api');
      expect(config.openim.concurrency).toBe(8);
      expect(config.openim.timeoutMs).toBe(5000);
      expect(config.poll.users).toEqual(['alice', 'bob']);
      expect(config.api.port).toBe(10088);
    });

    it('treats a section whose keys are all commented out as empty', () => {
      const file = tmp.write('config.yaml', 'webhook:\n  # port: 10007\npoll:\n  intervalSeconds: 60\n');
      const config = loadConfig({ file, env: {} });
      expect(config.webhook.port).toBe(10006);
      expect(config.poll.intervalSeconds).toBe(60);
    });

    it('treats an empty file as no overrides', () => {
      expect(loadConfig({ file: tmp.write('empty.yaml', '# nothing yet\n'), env: {} })).toEqual(configSchema.parse({}));
    });
  });

  describe('with environment variables', () => {
    it('lets them override the YAML file', () => {
      const file = tmp.write('config.yaml', 'openim:\n  apiUrl: http://from-yaml:10002\n  retries: 5\nmode: shadow\n');
      const config = loadConfig({ file, env: { OPR_OPENIM__API_URL: 'http://from-env:10002', OPR_MODE: 'active' } });
      expect(config.openim.apiUrl).toBe('http://from-env:10002');
      expect(config.mode).toBe('active');
      expect(config.openim.retries).toBe(5);
    });

    it('converts numbers, booleans and comma-separated lists by the type of the key', () => {
      const config = loadConfig({
        env: {
          OPR_POLL__INTERVAL_SECONDS: '15',
          OPR_RECONCILE__MASS_GUARD_SHARE: '0.35',
          OPR_POLL__ENABLED: 'false',
          OPR_POLL__DISCOVERY_ENABLED: 'TRUE',
          OPR_API__TOKENS: `${TOKEN_A}, ${TOKEN_B}`,
          OPR_POLL__EXCLUDE_USERS: '',
          OPR_SUBSCRIBERS__X: undefined,
        },
      });
      expect(config.poll.intervalSeconds).toBe(15);
      expect(config.reconcile.massGuardShare).toBe(0.35);
      expect(config.poll.enabled).toBe(false);
      expect(config.poll.discoveryEnabled).toBe(true);
      expect(config.api.tokens).toEqual([TOKEN_A, TOKEN_B]);
      expect(config.poll.excludeUsers).toEqual([]);
    });

    it('maps camelCase keys with acronyms to UPPER_SNAKE segments', () => {
      const config = loadConfig({ env: { OPR_OPENIM__ADMIN_USER_ID: 'root', OPR_OPENIM__OPERATION_ID_PREFIX: 'ci' } });
      expect(config.openim.adminUserID).toBe('root');
      expect(config.openim.operationIDPrefix).toBe('ci');
    });

    it('reads subscribers as a JSON array from OPR_SUBSCRIBERS', () => {
      const config = loadConfig({
        env: { OPR_SUBSCRIBERS: JSON.stringify([{ name: 'billing', url: 'https://billing.internal/hook' }]) },
      });
      expect(config.subscribers).toHaveLength(1);
      expect(config.subscribers[0]).toMatchObject({ name: 'billing', batchSize: 100 });
    });

    it('reports an OPR_ variable that maps to no key, naming the variable and the closest name', () => {
      const issues = issuesOf(() => loadConfig({ env: { OPR_OPENIM__API_ULR: 'http://x' } }));
      const issue = issueAt(issues, 'OPR_OPENIM__API_ULR');
      expect(issue.message).toContain('maps to no configuration key');
      expect(issue.message).toContain('OPR_OPENIM__API_URL');
    });

    it('reports a value that is not a number, naming the key, the variable, the value and the allowed range', () => {
      const issues = issuesOf(() => loadConfig({ env: { OPR_OPENIM__TIMEOUT_MS: 'soon' } }));
      const issue = issueAt(issues, 'openim.timeoutMs');
      expect(issue.value).toBe('soon');
      expect(issue.message).toContain('an integer from 100 to 300000');
      expect(issue.message).toContain('OPR_OPENIM__TIMEOUT_MS');
    });

    it('reports OPR_SUBSCRIBERS that is not a JSON array without echoing it', () => {
      const issues = issuesOf(() => loadConfig({ env: { OPR_SUBSCRIBERS: '{not json' } }));
      const issue = issueAt(issues, 'subscribers');
      expect(issue.message).toContain('OPR_SUBSCRIBERS is not valid JSON');
      expect(issue.value).toBe(REDACTED);
    });
  });

  describe('when the configuration has problems', () => {
    it('reports an unknown YAML key by its full path and suggests the key it resembles', () => {
      const file = tmp.write('config.yaml', 'openim:\n  apiUlr: http://127.0.0.1:10002\n');
      const issue = issueAt(
        issuesOf(() => loadConfig({ file, env: {} })),
        'openim.apiUlr',
      );
      expect(issue.message).toContain('unknown key');
      expect(issue.message).toContain('did you mean openim.apiUrl?');
      expect(issue.message).toContain('config.yaml line 2');
    });

    it('reports an unknown top-level key', () => {
      const file = tmp.write('config.yaml', 'pol:\n  intervalSeconds: 30\n');
      expect(
        issueAt(
          issuesOf(() => loadConfig({ file, env: {} })),
          'pol',
        ).message,
      ).toContain('did you mean poll?');
    });

    it('reports a wrong type naming the key, the value and the expected type', () => {
      const file = tmp.write('config.yaml', 'webhook:\n  port: "ten thousand"\npoll:\n  enabled: "yes"\n');
      const issues = issuesOf(() => loadConfig({ file, env: {} }));
      const port = issueAt(issues, 'webhook.port');
      expect(port.value).toBe('ten thousand');
      expect(port.message).toContain('expected an integer from 0 to 65535');
      expect(formatConfigIssue(port)).toMatch(
        /^webhook\.port: expected an integer from 0 to 65535 .*\(got: "ten thousand"\)$/,
      );
      expect(issueAt(issues, 'poll.enabled').message).toContain('expected true or false');
    });

    it('rejects a URL that is not an absolute http(s) URL', () => {
      const issues = issuesOf(() => loadConfig({ env: { OPR_OPENIM__API_URL: 'openim-api:10002' } }));
      const issue = issueAt(issues, 'openim.apiUrl');
      expect(issue.value).toBe('openim-api:10002');
      expect(issue.message).toContain('absolute http:// or https:// URL');
    });

    it('reports an out-of-range number with the allowed range', () => {
      const issues = issuesOf(() => loadConfig({ env: { OPR_OPENIM__CONCURRENCY: '500' } }));
      const issue = issueAt(issues, 'openim.concurrency');
      expect(issue.value).toBe(500);
      expect(issue.message).toBe('out of range: must be an integer from 1 to 64 (set by OPR_OPENIM__CONCURRENCY)');
    });

    it('reports a value outside an enum with every allowed value', () => {
      const issue = issueAt(
        issuesOf(() => loadConfig({ env: { OPR_MODE: 'passive' } })),
        'mode',
      );
      expect(issue.message).toContain('must be one of "active", "shadow"');
    });

    it('collects every problem into one error', () => {
      const file = tmp.write('config.yaml', 'openim:\n  apiUlr: x\n  retries: 99\napi:\n  requireAuth: sometimes\n');
      const issues = issuesOf(() => loadConfig({ file, env: { OPR_LOG__LEVL: 'debug' } }));
      expect(issues.map((i) => i.path).sort()).toEqual([
        'OPR_LOG__LEVL',
        'api.requireAuth',
        'openim.apiUlr',
        'openim.retries',
      ]);
    });

    it('rejects a poll interval that does not divide a minute, an hour or a day, listing the allowed values', () => {
      const issue = issueAt(
        issuesOf(() => loadConfig({ env: { OPR_POLL__INTERVAL_SECONDS: '45' } })),
        'poll.intervalSeconds',
      );
      expect(issue.value).toBe(45);
      expect(issue.message).toContain('must divide a minute, an hour or a day evenly');
      expect(issue.message).toContain('nearest: 30 or 60');
      expect(issue.message).toContain('1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30');
    });

    it('accepts poll intervals of whole minutes dividing an hour and whole hours dividing a day', () => {
      for (const seconds of [20, 60, 300, 1800, 3600, 21_600, 86_400]) {
        expect(loadConfig({ env: { OPR_POLL__INTERVAL_SECONDS: String(seconds) } }).poll.intervalSeconds).toBe(seconds);
      }
      for (const seconds of [7, 90, 420, 5400, 18_000]) {
        expect(
          issuesOf(() => loadConfig({ env: { OPR_POLL__INTERVAL_SECONDS: String(seconds) } })).map((i) => i.path),
        ).toEqual(['poll.intervalSeconds']);
      }
    });

    it('reports two subscribers with the same name', () => {
      const subscribers = [
        { name: 'billing', url: 'https://a.internal/' },
        { name: 'billing', url: 'https://b.internal/' },
      ];
      const issue = issueAt(
        issuesOf(() => loadConfig({ env: { OPR_SUBSCRIBERS: JSON.stringify(subscribers) } })),
        'subscribers.1.name',
      );
      expect(issue.message).toContain('must be unique');
    });

    it('never shows the value of a secret key in a problem', () => {
      const file = tmp.write('config.yaml', 'webhook:\n  pathSecret: "sh rt"\napi:\n  tokens: [tiny-token]\n');
      const issues = issuesOf(() => loadConfig({ file, env: { OPR_OPENIM__SECRTE: 'hunter2' } }));
      expect(issueAt(issues, 'webhook.pathSecret').value).toBe(REDACTED);
      expect(issueAt(issues, 'api.tokens.0').value).toBe(REDACTED);
      expect(issueAt(issues, 'OPR_OPENIM__SECRTE').value).toBe(REDACTED);
      const text = issues.map(formatConfigIssue).join('\n');
      expect(text).not.toContain('sh rt');
      expect(text).not.toContain('tiny-token');
      expect(text).not.toContain('hunter2');
    });
  });

  describe('when the YAML file cannot be used', () => {
    it('throws ConfigFileError naming the file and the line of invalid YAML', () => {
      const file = tmp.write('broken.yaml', 'openim:\n  apiUrl: http://x\n poll: [\n');
      expect(() => loadConfig({ file, env: {} })).toThrow(ConfigFileError);
      expect(() => loadConfig({ file, env: {} })).toThrow(/broken\.yaml: invalid YAML at line 3/);
    });

    it('throws ConfigFileError for a file that does not exist', () => {
      const file = `${tmp.dir}/missing.yaml`;
      expect(() => loadConfig({ file, env: {} })).toThrow(`cannot read ${file}: no such file`);
    });

    it('throws ConfigFileError when the top level is not a mapping', () => {
      expect(() => loadConfig({ file: tmp.write('list.yaml', '- a\n- b\n'), env: {} })).toThrow(
        /top level must be a mapping/,
      );
    });

    it('throws ConfigFileError for a key given twice', () => {
      expect(() => loadConfig({ file: tmp.write('twice.yaml', 'mode: active\nmode: shadow\n'), env: {} })).toThrow(
        /line 2/,
      );
    });
  });

  describe('with *File keys', () => {
    it('reads openim.secret from the file named by OPR_OPENIM__SECRET_FILE', () => {
      const secretFile = tmp.write('openim-secret', `${OPENIM_SECRET}\n`);
      expect(loadConfig({ env: { OPR_OPENIM__SECRET_FILE: secretFile } }).openim.secret).toBe(OPENIM_SECRET);
    });

    it('reads the files named in the YAML file, one API token per line', () => {
      tmp.write('path-secret', PATH_SECRET);
      tmp.write('tokens', `# operators\n${TOKEN_A}\n\n${TOKEN_B}\r\n`);
      tmp.write('signing', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n');
      const file = tmp.write(
        'config.yaml',
        [
          'webhook:',
          '  pathSecretFile: path-secret',
          'api:',
          '  tokensFile: tokens',
          'subscribers:',
          '  - name: billing',
          '    url: https://billing.internal/hook',
          '    secretFile: signing',
        ].join('\n'),
      );
      const config = loadConfig({ file, env: {}, cwd: tmp.dir });
      expect(config.webhook.pathSecret).toBe(PATH_SECRET);
      expect(config.api.tokens).toEqual([TOKEN_A, TOKEN_B]);
      expect(config.subscribers[0]?.secret).toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    });

    it('reports a secret given together with its file, naming both keys', () => {
      const file = tmp.write('config.yaml', `openim:\n  secret: ${OPENIM_SECRET}\n  secretFile: /run/secrets/openim\n`);
      const issue = issueAt(
        issuesOf(() => loadConfig({ file, env: {} })),
        'openim.secretFile',
      );
      expect(issue.message).toContain('both openim.secret and openim.secretFile are set');
      expect(JSON.stringify(issue)).not.toContain(OPENIM_SECRET);
    });

    it('reports a file it cannot read, naming the key and the path', () => {
      const missing = `${tmp.dir}/no-such-secret`;
      const issue = issueAt(
        issuesOf(() => loadConfig({ env: { OPR_WEBHOOK__PATH_SECRET_FILE: missing } })),
        'webhook.pathSecretFile',
      );
      expect(issue.value).toBe(missing);
      expect(issue.message).toContain('cannot read the file holding webhook.pathSecret: no such file');
      expect(issue.message).toContain('OPR_WEBHOOK__PATH_SECRET_FILE');
    });

    it('reports an empty secret file', () => {
      const empty = tmp.write('empty', '\n');
      expect(
        issueAt(
          issuesOf(() => loadConfig({ env: { OPR_OPENIM__SECRET_FILE: empty } })),
          'openim.secretFile',
        ).message,
      ).toContain('the file is empty');
    });

    it('lets a secret file from the environment replace a secret written in the YAML file', () => {
      const file = tmp.write('config.yaml', 'openim:\n  secret: from-yaml\n');
      const secretFile = tmp.write('openim-secret', OPENIM_SECRET);
      const config = loadConfig({ file, env: { OPR_OPENIM__SECRET_FILE: secretFile } });
      expect(config.openim.secret).toBe(OPENIM_SECRET);
    });

    it('validates the content of a secret file like any other value, without showing it', () => {
      const secretFile = tmp.write('bad-path-secret', 'has spaces in it\n');
      const issue = issueAt(
        issuesOf(() => loadConfig({ env: { OPR_WEBHOOK__PATH_SECRET_FILE: secretFile } })),
        'webhook.pathSecret',
      );
      expect(issue.value).toBe(REDACTED);
      expect(issue.message).toContain(`read from ${secretFile}`);
    });
  });
});

describe('requireSecrets', () => {
  it('reports a missing openim.secret and webhook.pathSecret, saying how to set them', () => {
    const issues = requireSecrets(loadConfig({ env: {} }));
    expect(issues.map((i) => i.path)).toEqual(['openim.secret', 'webhook.pathSecret']);
    expect(issueAt(issues, 'openim.secret').message).toContain('OPR_OPENIM__SECRET_FILE');
  });

  it('reports nothing once both secrets are set', () => {
    const config = loadConfig({ env: { OPR_OPENIM__SECRET: OPENIM_SECRET, OPR_WEBHOOK__PATH_SECRET: PATH_SECRET } });
    expect(requireSecrets(config)).toEqual([]);
  });
});
