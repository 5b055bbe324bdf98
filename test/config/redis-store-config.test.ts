import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envVarName } from '../../src/config/config-reference.js';
import { formatConfigIssue, loadConfig } from '../../src/config/load-config.js';
import { REDACTED } from '../../src/config/redact.js';
import { configSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { issueAt, issuesOf, makeTempDir } from './helpers.js';

const REDIS_PASSWORD = 'redis-password-value-4321';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => {
  tmp.cleanup();
});

describe('store.backend and store.redis', () => {
  it('default to the SQLite backend with the documented Redis defaults', () => {
    const { store } = loadConfig({ env: {} });
    expect(store.backend).toBe('sqlite');
    expect(store.redis).toEqual({
      url: 'redis://127.0.0.1:6379/0',
      keyPrefix: 'opr:',
      connectTimeoutMs: 5000,
      commandTimeoutMs: 5000,
      durability: 'always',
      leaseTtlMs: 10_000,
      snapshotEveryEntries: 50_000,
    });
    expect(store.redis.password).toBeUndefined();
    expect(store).toEqual(configSchema.parse({}).store);
  });

  it('load from a YAML file', () => {
    const file = tmp.write(
      'config.yaml',
      [
        'store:',
        '  backend: redis',
        '  path: ./data/replica-a.db',
        '  redis:',
        '    url: rediss://redis.internal:6380/3',
        '    keyPrefix: "{opr-prod}:"',
        '    connectTimeoutMs: 2000',
        '    commandTimeoutMs: 1500',
        '    durability: everysec',
        '    leaseTtlMs: 4000',
        '    replicaName: replica-a',
      ].join('\n'),
    );
    const { store } = loadConfig({ file, env: {} });
    expect(store.backend).toBe('redis');
    expect(store.path).toBe('./data/replica-a.db');
    expect(store.redis).toEqual({
      url: 'rediss://redis.internal:6380/3',
      keyPrefix: '{opr-prod}:',
      connectTimeoutMs: 2000,
      commandTimeoutMs: 1500,
      durability: 'everysec',
      leaseTtlMs: 4000,
      replicaName: 'replica-a',
      snapshotEveryEntries: 50_000,
    });
  });

  it('load from OPR_ environment variables, which override the YAML file', () => {
    const file = tmp.write(
      'config.yaml',
      'store:\n  backend: sqlite\n  redis:\n    url: redis://from-yaml:6379\n    leaseTtlMs: 3000\n',
    );
    const { store } = loadConfig({
      file,
      env: {
        [envVarName('store.backend')]: 'redis',
        [envVarName('store.redis.url')]: 'redis://from-env:6379/1',
        [envVarName('store.redis.durability')]: 'everysec',
        [envVarName('store.redis.commandTimeoutMs')]: '750',
      },
    });
    expect(envVarName('store.redis.commandTimeoutMs')).toBe('OPR_STORE__REDIS__COMMAND_TIMEOUT_MS');
    expect(store.backend).toBe('redis');
    expect(store.redis.url).toBe('redis://from-env:6379/1');
    expect(store.redis.durability).toBe('everysec');
    expect(store.redis.commandTimeoutMs).toBe(750);
    expect(store.redis.leaseTtlMs).toBe(3000);
  });
});

describe('store.redis.password', () => {
  it('is read from its OPR_ variable', () => {
    expect(envVarName('store.redis.password')).toBe('OPR_STORE__REDIS__PASSWORD');
    const config = loadConfig({ env: { [envVarName('store.redis.password')]: REDIS_PASSWORD } });
    expect(config.store.redis.password).toBe(REDIS_PASSWORD);
  });

  it('is read from the file named by store.redis.passwordFile, set by its OPR_ variable', () => {
    const secretFile = tmp.write('redis-password', `${REDIS_PASSWORD}\n`);
    expect(envVarName('store.redis.passwordFile')).toBe('OPR_STORE__REDIS__PASSWORD_FILE');
    const config = loadConfig({ env: { [envVarName('store.redis.passwordFile')]: secretFile } });
    expect(config.store.redis.password).toBe(REDIS_PASSWORD);
  });

  it('is read from a passwordFile named in the YAML file, relative to cwd', () => {
    tmp.write('redis-password', REDIS_PASSWORD);
    const file = tmp.write('config.yaml', 'store:\n  backend: redis\n  redis:\n    passwordFile: redis-password\n');
    expect(loadConfig({ file, env: {}, cwd: tmp.dir }).store.redis.password).toBe(REDIS_PASSWORD);
  });

  it('from a file in the environment replaces a password written in the YAML file', () => {
    const file = tmp.write('config.yaml', 'store:\n  redis:\n    password: from-yaml-password\n');
    const secretFile = tmp.write('redis-password', REDIS_PASSWORD);
    const config = loadConfig({ file, env: { [envVarName('store.redis.passwordFile')]: secretFile } });
    expect(config.store.redis.password).toBe(REDIS_PASSWORD);
  });

  it('and its file in the same source are refused, naming both keys and not showing the password', () => {
    const file = tmp.write(
      'config.yaml',
      `store:\n  redis:\n    password: ${REDIS_PASSWORD}\n    passwordFile: /run/secrets/redis\n`,
    );
    const issue = issueAt(
      issuesOf(() => loadConfig({ file, env: {} })),
      'store.redis.passwordFile',
    );
    expect(issue.message).toContain('both store.redis.password and store.redis.passwordFile are set');
    expect(JSON.stringify(issue)).not.toContain(REDIS_PASSWORD);
  });

  it('from a file that cannot be read is reported, naming the key and the variable', () => {
    const missing = `${tmp.dir}/no-such-redis-password`;
    const issue = issueAt(
      issuesOf(() => loadConfig({ env: { [envVarName('store.redis.passwordFile')]: missing } })),
      'store.redis.passwordFile',
    );
    expect(issue.message).toContain('cannot read the file holding store.redis.password: no such file');
    expect(issue.message).toContain('OPR_STORE__REDIS__PASSWORD_FILE');
  });

  it('that is empty is refused without showing a value', () => {
    const issue = issueAt(
      issuesOf(() => loadConfig({ env: { [envVarName('store.redis.password')]: '' } })),
      'store.redis.password',
    );
    expect(issue.value).toBe(REDACTED);
    expect(issue.message).toContain('must not be empty');
  });
});

describe('store.redis.url', () => {
  it('accepts redis:// and rediss:// URLs, with credentials and a database number', () => {
    for (const url of [
      'redis://127.0.0.1:6379',
      'redis://redis.internal:6379/15',
      'rediss://redis.internal:6380/0',
      'redis://default:some-password@redis.internal:6379/2',
      'redis://[::1]:6379',
    ]) {
      expect(loadConfig({ env: { [envVarName('store.redis.url')]: url } }).store.redis.url).toBe(url);
    }
  });

  it.each([
    ['an http:// URL', 'http://redis.internal:6379'],
    ['an https:// URL', 'https://redis.internal'],
    ['a host and port without a scheme', 'redis.internal:6379'],
    ['garbage', 'not a url at all'],
    ['a redis:// URL without a host', 'redis://'],
    ['an empty string', ''],
  ])('refuses %s with a ConfigError naming store.redis.url', (_what, url) => {
    let error: unknown;
    try {
      loadConfig({ env: { [envVarName('store.redis.url')]: url } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.issues.map((i) => i.path)).toEqual(['store.redis.url']);
    expect(configError.message).toContain('store.redis.url');
    const issue = issueAt(configError.issues, 'store.redis.url');
    expect(issue.message).toContain('redis:// or rediss://');
    expect(issue.message).toContain('OPR_STORE__REDIS__URL');
    expect(formatConfigIssue(issue)).toMatch(/^store\.redis\.url: must be a redis:\/\/ or rediss:\/\/ URL/);
  });

  it('refuses a bad URL from the YAML file, saying the line', () => {
    const file = tmp.write('config.yaml', 'store:\n  redis:\n    url: http://redis.internal:6379\n');
    const issue = issueAt(
      issuesOf(() => loadConfig({ file, env: {} })),
      'store.redis.url',
    );
    expect(issue.message).toContain('redis:// or rediss://');
    expect(issue.message).toContain('config.yaml line 3');
  });
});

describe('store.redis.keyPrefix', () => {
  it('accepts prefixes of the allowed characters, hash tags included', () => {
    for (const keyPrefix of ['opr:', 'a', '{opr}:', 'tenant_1.opr-prod:', 'x'.repeat(64)]) {
      expect(loadConfig({ env: { [envVarName('store.redis.keyPrefix')]: keyPrefix } }).store.redis.keyPrefix).toBe(
        keyPrefix,
      );
    }
  });

  it.each([
    ['empty', ''],
    ['with a space', 'opr prod:'],
    ['with a wildcard', 'opr*:'],
    ['with a slash', 'opr/prod:'],
    ['longer than 64 characters', 'x'.repeat(65)],
  ])('refuses a prefix %s, saying what is allowed', (_what, keyPrefix) => {
    const issues = issuesOf(() => loadConfig({ env: { [envVarName('store.redis.keyPrefix')]: keyPrefix } }));
    expect(issues.map((i) => i.path)).toEqual(['store.redis.keyPrefix']);
    const issue = issueAt(issues, 'store.redis.keyPrefix');
    expect(issue.value).toBe(keyPrefix);
    expect(issue.message).toContain('must be 1-64 characters');
  });

  it('refuses a prefix that is not a string in the YAML file', () => {
    const file = tmp.write('config.yaml', 'store:\n  redis:\n    keyPrefix: [a, b]\n');
    expect(issuesOf(() => loadConfig({ file, env: {} })).map((i) => i.path)).toEqual(['store.redis.keyPrefix']);
  });
});

describe('store.redis.durability and store.backend', () => {
  it('accept always and everysec', () => {
    for (const durability of ['always', 'everysec']) {
      expect(loadConfig({ env: { [envVarName('store.redis.durability')]: durability } }).store.redis.durability).toBe(
        durability,
      );
    }
  });

  it.each(['never', 'no', 'EVERYSEC', 'appendfsync always', ''])(
    'refuse durability %j, listing the allowed values',
    (durability) => {
      const issue = issueAt(
        issuesOf(() => loadConfig({ env: { [envVarName('store.redis.durability')]: durability } })),
        'store.redis.durability',
      );
      expect(issue.message).toContain('must be one of "always", "everysec"');
    },
  );

  it('refuse a durability given in the YAML file, saying the line', () => {
    const file = tmp.write('config.yaml', 'store:\n  backend: redis\n  redis:\n    durability: sometimes\n');
    const issue = issueAt(
      issuesOf(() => loadConfig({ file, env: {} })),
      'store.redis.durability',
    );
    expect(issue.message).toContain('must be one of "always", "everysec"');
    expect(issue.message).toContain('config.yaml line 4');
  });

  it('refuse a backend other than sqlite or redis', () => {
    const issue = issueAt(
      issuesOf(() => loadConfig({ env: { [envVarName('store.backend')]: 'postgres' } })),
      'store.backend',
    );
    expect(issue.message).toContain('must be one of "sqlite", "redis"');
  });

  it('refuse an unknown key under store.redis, suggesting the key it resembles', () => {
    const file = tmp.write('config.yaml', 'store:\n  redis:\n    keyPrefx: "opr:"\n');
    const issue = issueAt(
      issuesOf(() => loadConfig({ file, env: {} })),
      'store.redis.keyPrefx',
    );
    expect(issue.message).toContain('did you mean store.redis.keyPrefix?');
  });
});
