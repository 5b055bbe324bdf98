/**
 * Every rule `run` enforces is checked when the configuration loads, so `check-config` and `run` never disagree: a
 * configuration `check-config` accepts can run, and one it refuses is refused by `run` with the same message.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRunnableConfig } from '../../src/cli/run-command.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { SubscriberConfig } from '../../src/config/schema.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { ALLOWED_POLL_INTERVALS, pollIntervalIssue } from '../../src/config/semantic-checks.js';
import { EventBus } from '../../src/engine/event-bus.js';
import { ConfigError } from '../../src/errors.js';
import type { ConfigIssue } from '../../src/errors.js';
import { cronForInterval } from '../../src/poller/cron-expression.js';
import { PushDispatcher } from '../../src/push/push-dispatcher.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { issueAt, issuesOf, makeTempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GOOD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRETS = { OPR_OPENIM__SECRET: 'openim-secret-1234', OPR_WEBHOOK__PATH_SECRET: 'path-secret-5678' };

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('OPR_')) env[name] = value;
  return { ...env, ...extra };
}

/** Runs `openim-presence <command> …` from the sources as a real subprocess. */
function cli(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stderr: result.stderr };
}

/** The line of `stderr` about `key` (`key: message (where it was set) (got: value)`). */
function lineAbout(stderr: string, key: string): string | undefined {
  return stderr.split('\n').find((l) => l.startsWith(`${key}: `));
}

/** What both commands answer for `file` (its store path is inside the temp dir and never opened). */
function bothCommands(file: string, env: Record<string, string>, checkArgs: string[] = []): { check: ReturnType<typeof cli>; run: ReturnType<typeof cli> } {
  return {
    check: cli(['check-config', '--config', file, ...checkArgs], cleanEnv(env)),
    run: cli(['run', '--config', file], cleanEnv(env)),
  };
}

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => {
  tmp.cleanup();
});

function configWith(lines: string[]): string {
  return tmp.write('config.yaml', [`store:`, `  path: ${tmp.dir}/never-opened.db`, 'poll:', '  enabled: false', ...lines].join('\n'));
}

describe('a rule run enforces', () => {
  describe('when a subscriber secret is not a whsec_ secret', () => {
    it('check-config refuses it with exit 2 and the message run gives, without showing the secret', () => {
      const file = configWith(['subscribers:', '  - name: billing', '    url: https://billing.internal/hook', '    secret: not-a-signing-secret!']);
      const { check, run } = bothCommands(file, SECRETS);
      const line = lineAbout(check.stderr, 'subscribers.0.secret');
      expect(check.status).toBe(2);
      expect(line).toBe(
        `subscribers.0.secret: must be "whsec_" followed by base64 (A-Z a-z 0-9 + / and = padding), e.g. ${GOOD_SECRET} (at ${file} line 8) (got: [REDACTED])`,
      );
      expect(run.status).toBe(2);
      expect(lineAbout(run.stderr, 'subscribers.0.secret')).toBe(line);
      expect(check.stderr + run.stderr).not.toContain('not-a-signing-secret');
    });

    it('check-config refuses a whsec_ secret with fewer than 16 bytes of key', () => {
      const issue = issueAt(
        issuesOf(() => loadConfig({ env: { OPR_SUBSCRIBERS: JSON.stringify([{ name: 'billing', url: 'https://b.internal/', secret: 'whsec_c2hvcnQ=' }]) } })),
        'subscribers.0.secret',
      );
      expect(issue.message).toBe('must hold at least 16 bytes of key (24+ base64 characters), got 5 (set by OPR_SUBSCRIBERS)');
    });

    it('accepts a valid secret, and an empty one (unsigned delivery), as push delivery does', () => {
      for (const secret of [GOOD_SECRET, '']) {
        const config = loadConfig({ env: { OPR_SUBSCRIBERS: JSON.stringify([{ name: 'billing', url: 'https://b.internal/', secret }]) } });
        expect(config.subscribers[0]?.secret).toBe(secret);
      }
    });

    it('push delivery, given the same configuration in code, refuses it with the same path and message', () => {
      const subscriber = { name: 'billing', url: 'http://127.0.0.1:1/x', secret: 'not-a-signing-secret!' };
      const loaded = issueAt(issuesOf(() => loadConfig({ env: { OPR_SUBSCRIBERS: JSON.stringify([subscriber]) } })), 'subscribers.0.secret');
      const store = new SqliteStore({ path: ':memory:' });
      try {
        const make = (): PushDispatcher =>
          new PushDispatcher({
            subscribers: [{ ...subscriber, users: [], types: [], batchSize: 10, maxAttempts: 3, timeoutMs: 1000 }],
            store,
            bus: new EventBus(),
            log: pino({ level: 'silent' }),
          });
        expect(make).toThrow(ConfigError);
        // The same problem; loadConfig adds where the value was set.
        const thrown = (() => {
          try {
            make();
          } catch (err) {
            return (err as ConfigError).issues;
          }
          return [];
        })();
        expect(thrown).toEqual([{ ...loaded, message: loaded.message.replace(' (set by OPR_SUBSCRIBERS)', '') }]);
        expect(loaded.message).toMatch(/ \(set by OPR_SUBSCRIBERS\)$/);
      } finally {
        store.close();
      }
    });
  });

  describe('when two subscribers have the same name', () => {
    it('check-config refuses it with exit 2 and the message run gives', () => {
      const file = configWith([
        'subscribers:',
        '  - name: billing',
        '    url: https://a.internal/hook',
        '  - name: billing',
        '    url: https://b.internal/hook',
      ]);
      const { check, run } = bothCommands(file, SECRETS);
      const line = lineAbout(check.stderr, 'subscribers.1.name');
      expect(check.status).toBe(2);
      expect(line).toBe(`subscribers.1.name: must be unique; subscribers.0.name has the same name (at ${file} line 8) (got: "billing")`);
      expect(run.status).toBe(2);
      expect(lineAbout(run.stderr, 'subscribers.1.name')).toBe(line);
    });
  });

  describe('when the poll interval does not divide a minute, an hour or a day', () => {
    it('check-config refuses it with exit 2 and the message run gives', () => {
      const file = configWith(['  intervalSeconds: 7']);
      const { check, run } = bothCommands(file, SECRETS);
      const line = lineAbout(check.stderr, 'poll.intervalSeconds');
      expect(check.status).toBe(2);
      expect(line).toBe(`poll.intervalSeconds: ${pollIntervalIssue(7)!.message} (at ${file} line 5) (got: 7)`);
      expect(run.status).toBe(2);
      expect(lineAbout(run.stderr, 'poll.intervalSeconds')).toBe(line);
    });

    it('allows exactly the intervals the poll scheduler can schedule', () => {
      const schedulable: number[] = [];
      for (let s = 1; s <= 86_400; s++) if (cronForInterval(s) !== undefined) schedulable.push(s);
      expect([...ALLOWED_POLL_INTERVALS].sort((a, b) => a - b)).toEqual(schedulable);
    });
  });

  describe('when webhook.pathSecret is missing', () => {
    it('check-config --strict refuses it with exit 2 and the message run gives (without --strict it is a warning)', () => {
      const file = configWith([]);
      const env = { OPR_OPENIM__SECRET: SECRETS.OPR_OPENIM__SECRET };
      const { check, run } = bothCommands(file, env, ['--strict']);
      const runLine = lineAbout(run.stderr, 'webhook.pathSecret');
      expect(run.status).toBe(2);
      expect(runLine).toMatch(/is required to run the daemon/);
      expect(check.status).toBe(2);
      expect(lineAbout(check.stderr, 'webhook.pathSecret')).toBe(runLine);
      const lenient = cli(['check-config', '--config', file], cleanEnv(env));
      expect(lenient.status).toBe(0);
      expect(lenient.stderr.split('\n')).toContain(`warning: ${runLine}`);
    });
  });

  describe('when a subscriber URL carries credentials with an invalid percent escape', () => {
    it('check-config accepts it and run starts with it', async () => {
      const file = configWith(['subscribers:', '  - name: billing', '    url: https://hook:p%zz@billing.internal/hook']);
      const check = cli(['check-config', '--config', file], cleanEnv(SECRETS));
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
      // What `run` does before it waits for a signal: load and check the configuration, then start the daemon.
      const saved = { ...process.env };
      Object.assign(process.env, SECRETS, { OPR_WEBHOOK__PORT: '0', OPR_API__PORT: '0' });
      let config: ReturnType<typeof loadRunnableConfig>;
      try {
        config = loadRunnableConfig(file);
      } finally {
        for (const name of Object.keys(process.env)) if (!(name in saved)) Reflect.deleteProperty(process.env, name);
        Object.assign(process.env, saved);
      }
      if (config === undefined) throw new Error('run refused a configuration check-config accepted');
      const daemon = await startDaemon(config, { logger: pino({ level: 'silent' }) });
      try {
        const listed = (await (await fetch(`${daemon.apiUrl}/v1/subscribers`)).json()) as { subscribers: { name: string; url: string }[] };
        expect(listed.subscribers).toMatchObject([{ name: 'billing', url: 'https://billing.internal/hook' }]);
      } finally {
        await daemon.close();
      }
    });
  });
});

/** A subscriber as the schema leaves it (defaults filled in), for push delivery built in code. */
function withDefaults(raw: { name: string; url: string; secret?: string }): SubscriberConfig {
  return { users: [], types: [], batchSize: 100, maxAttempts: 12, timeoutMs: 5000, ...raw };
}

/** The problems push delivery refuses `subscribers` with, or none. */
function pushIssues(subscribers: readonly SubscriberConfig[], store: SqliteStore): ConfigIssue[] {
  try {
    new PushDispatcher({ subscribers, store, bus: new EventBus(), log: pino({ level: 'silent' }) });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues;
  }
}

/** The problems loadConfig refuses `OPR_SUBSCRIBERS` with, without where it was set, or none. */
function loadIssues(subscribers: unknown[]): ConfigIssue[] {
  try {
    loadConfig({ env: { OPR_SUBSCRIBERS: JSON.stringify(subscribers) } });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => ({ ...i, message: i.message.replace(/ \(set by OPR_SUBSCRIBERS\)$/, '') }));
  }
}

const byPath = (issues: ConfigIssue[]): ConfigIssue[] => [...issues].sort((a, b) => a.path.localeCompare(b.path));

describe('check-config and run agree on every configuration', () => {
  // Names, secrets and URLs as an operator might write them: valid and invalid signing secrets, repeated names,
  // credentials with any percent escapes. Whatever loadConfig says, push delivery must say the same.
  const name = fc.constantFrom('billing', 'audit', 'crm');
  const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  const secret = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => `whsec_${base64(b)}`),
    fc.uint8Array({ minLength: 0, maxLength: 40 }).map(base64),
    fc.constantFrom('', 'whsec_', 'not-a-signing-secret!', 'whsec_???', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
    fc.string({ maxLength: 50 }),
  );
  const userinfo = fc.stringMatching(/^([A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{0,2}|%[0-9A-Fa-f]{2}){0,10}$/);
  const url = fc.oneof(
    fc.constant('https://hooks.internal/presence'),
    fc.tuple(userinfo, userinfo).map(([u, p]) => `https://${u}:${p}@hooks.internal/presence`),
  );
  const subscriber = fc.record({ name, url, secret: fc.option(secret, { nil: undefined }) }, { requiredKeys: ['name', 'url'] });

  it('push delivery refuses exactly the subscribers loadConfig refuses, with the same problems', () => {
    const store = new SqliteStore({ path: ':memory:' });
    try {
      fc.assert(
        fc.property(fc.array(subscriber, { maxLength: 4 }), (subscribers) => {
          const raw = subscribers.map((s) => (s.secret === undefined ? { name: s.name, url: s.url } : s));
          expect(byPath(pushIssues(raw.map(withDefaults), store))).toEqual(byPath(loadIssues(raw)));
        }),
        { numRuns: 300 },
      );
    } finally {
      store.close();
    }
  });

  it('loadConfig accepts exactly the poll intervals the poll scheduler can run', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 1, max: 86_400 }), fc.constantFrom(...ALLOWED_POLL_INTERVALS)), (seconds) => {
        let accepted = true;
        try {
          loadConfig({ env: { OPR_POLL__INTERVAL_SECONDS: String(seconds) } });
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          accepted = false;
        }
        expect(accepted).toBe(cronForInterval(seconds) !== undefined);
      }),
      { numRuns: 300 },
    );
  });
});
