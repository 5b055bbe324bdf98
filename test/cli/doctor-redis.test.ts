import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorCheck } from '../../src/cli/doctor-command.js';
import { runDoctor } from '../../src/cli/doctor-command.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { configSchema } from '../../src/config/schema.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { Simulator } from '../../src/simulator/index.js';
import { startSimulator } from '../../src/simulator/index.js';
import { runCli } from '../api/ops-fixtures.js';
import { startTestDaemon, TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { freePort } from '../helpers/free-port.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

type TestDaemon = Daemon & { cleanupDir: () => void; dir: string };
type RedisInput = NonNullable<NonNullable<ConfigInput['store']>['redis']>;

const REDIS_CHECKS = ['redis reachable at', 'redis durability', 'writer lease'];
const PASSWORD = 'doctor-redis-password-0123';

function check(checks: DoctorCheck[], prefix: string): DoctorCheck {
  const c = checks.find((x) => x.name.startsWith(prefix));
  if (!c) throw new Error(`no check starting with ${prefix}: ${checks.map((x) => x.name).join(' | ')}`);
  return c;
}

describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  describe('openim-presence doctor with store.backend redis', () => {
    let strict: TestRedisServer;
    let lax: TestRedisServer;
    let locked: TestRedisServer;
    let sim: Simulator;
    let prefixN = 0;
    const running: TestDaemon[] = [];

    beforeAll(async () => {
      [strict, lax, locked, sim] = await Promise.all([
        startRedisServer(),
        startRedisServer({ appendfsync: 'everysec' }),
        startRedisServer({ requirePass: PASSWORD }),
        startSimulator({ users: 3, workload: false, secret: 'doctor-redis-openim-secret' }),
      ]);
    });
    afterEach(async () => {
      for (const d of running.splice(0)) {
        await d.close();
        d.cleanupDir();
      }
    });
    afterAll(async () => {
      await Promise.all([strict?.stop(), lax?.stop(), locked?.stop(), sim?.close()]);
    });

    const prefix = (): string => `doc${++prefixN}:`;

    /** Only the Redis checks matter here: OpenIM and the listener checks fail fast (no secret, no path secret). */
    function config(redis: RedisInput | undefined, backend: 'sqlite' | 'redis' = 'redis'): Config {
      return configSchema.parse({ store: { backend, ...(redis ? { redis } : {}) } });
    }

    it('adds no Redis check with store.backend sqlite', async () => {
      const r = await runDoctor(config({ url: strict.url }, 'sqlite'));
      for (const name of REDIS_CHECKS) expect(r.checks.some((c) => c.name.startsWith(name))).toBe(false);
      expect(r.text).not.toContain('redis');
    });

    it('checks reachability and durability, and warns when no replica holds the writer lease', async () => {
      const keyPrefix = prefix();
      const r = await runDoctor(config({ url: strict.url, keyPrefix }));
      const reach = check(r.checks, `redis reachable at ${strict.url}`);
      expect(reach.status).toBe('ok');
      const durability = check(r.checks, 'redis durability');
      expect(durability.status).toBe('ok');
      expect(durability.detail).toContain('appendfsync always (store.redis.durability always)');
      const lease = check(r.checks, 'writer lease');
      expect(lease.status).toBe('warn');
      expect(lease.detail).toContain(`nobody holds it (key ${keyPrefix}lease)`);
      expect(lease.detail).toContain(`no replica has used key prefix "${keyPrefix}" yet`);
      expect(lease.fix).toContain('start a replica');
      expect(r.text).toMatch(/^\[warn\] writer lease: nobody holds it/m);
      // Listed after the listener checks, in the order the brief gives.
      const names = r.checks.map((c) => c.name);
      expect(names.indexOf(reach.name)).toBeLessThan(names.indexOf('redis durability'));
      expect(names.indexOf('redis durability')).toBeLessThan(names.indexOf('writer lease'));
    });

    it('passes every check with a replica holding the lease, and names that replica', async () => {
      const keyPrefix = prefix();
      const d = await startTestDaemon({
        store: { backend: 'redis', redis: { url: strict.url, keyPrefix, leaseTtlMs: 1000, replicaName: 'doc-a' } },
      });
      running.push(d);
      await until('replica doc-a is the writer', () => d.cluster!.status().role === 'writer');
      const webhookBase = d.webhookUrl.slice(0, -(TEST_PATH_SECRET.length + 1));
      const r = await runDoctor(
        configSchema.parse({
          openim: { apiUrl: sim.apiUrl, secret: sim.secret, adminUserID: sim.adminUserID, timeoutMs: 2000, retries: 0 },
          webhook: { pathSecret: TEST_PATH_SECRET, publicUrl: webhookBase },
          store: { backend: 'redis', redis: { url: strict.url, keyPrefix } },
        }),
      );
      expect(r.checks.filter((c) => c.status !== 'ok')).toEqual([]);
      expect(r.ok).toBe(true);
      const lease = check(r.checks, 'writer lease');
      expect(lease.detail).toMatch(/^held by replica "doc-a" \(fencing token \d+, API at http:\/\/127\.0\.0\.1:\d+\)$/);
      expect(lease.detail).toContain(d.apiUrl);
      expect(r.text).toContain('All checks passed.');
    });

    it('warns (not "never used") when the deployment exists but nobody holds the lease now', async () => {
      const keyPrefix = prefix();
      const d = await startTestDaemon({
        store: { backend: 'redis', redis: { url: strict.url, keyPrefix, leaseTtlMs: 1000, replicaName: 'doc-b' } },
      });
      await until('replica doc-b is the writer', () => d.cluster!.status().role === 'writer');
      // A clean shutdown releases the lease.
      await d.close();
      d.cleanupDir();
      const lease = check((await runDoctor(config({ url: strict.url, keyPrefix }))).checks, 'writer lease');
      expect(lease.status).toBe('warn');
      expect(lease.detail).toContain('no replica is the writer now');
    });

    it('fails the durability check when redis persists less than store.redis.durability asks, and says what to set', async () => {
      const r = await runDoctor(config({ url: lax.url, keyPrefix: prefix(), durability: 'always' }));
      expect(check(r.checks, 'redis reachable').status).toBe('ok');
      const c = check(r.checks, 'redis durability');
      expect(c.status).toBe('fail');
      expect(c.detail).toContain('redis is weaker than store.redis.durability always');
      expect(c.detail).toContain('appendfsync everysec');
      expect(c.fix).toContain('`appendonly yes` and `appendfsync always` in redis.conf');
      expect(c.fix).toContain('set store.redis.durability to everysec');
      expect(r.ok).toBe(false);
      expect(r.text).toMatch(
        /^\[FAIL\] redis durability: redis is weaker .*\n {7}fix: set `appendonly yes` and `appendfsync always` in redis.conf/m,
      );
      // The lease is still checked.
      expect(check(r.checks, 'writer lease').status).toBe('warn');

      const asked = await runDoctor(config({ url: lax.url, keyPrefix: prefix(), durability: 'everysec' }));
      const ok = check(asked.checks, 'redis durability');
      expect(ok.status).toBe('ok');
      expect(ok.detail).toContain('appendfsync everysec (store.redis.durability everysec)');
    });

    it('fails reachability with the reason when nothing listens at store.redis.url, and skips the rest', async () => {
      const port = await freePort();
      const r = await runDoctor(config({ url: `redis://127.0.0.1:${port}/0`, connectTimeoutMs: 1000 }));
      const c = check(r.checks, `redis reachable at redis://127.0.0.1:${port}/0`);
      expect(c.status).toBe('fail');
      expect(c.detail).toContain(`cannot reach redis at redis://127.0.0.1:${port}/0`);
      expect(c.detail).toContain('ECONNREFUSED');
      expect(c.fix).toContain('set store.redis.url');
      expect(check(r.checks, 'redis durability').status).toBe('skip');
      expect(check(r.checks, 'writer lease').status).toBe('skip');
      expect(r.ok).toBe(false);
    });

    it('never prints the redis password, whether it is in the url or in store.redis.password', async () => {
      // `locked.url` carries the password.
      const good = await runDoctor(config({ url: locked.url, keyPrefix: prefix() }));
      expect(check(good.checks, 'redis reachable at redis://:***@127.0.0.1:').status).toBe('ok');
      const viaSetting = await runDoctor(
        config({ url: `redis://127.0.0.1:${locked.port}`, password: PASSWORD, keyPrefix: prefix() }),
      );
      expect(check(viaSetting.checks, 'redis reachable').status).toBe('ok');
      const wrongInUrl = await runDoctor(
        config({ url: `redis://:wrong-redis-password-x@127.0.0.1:${locked.port}`, keyPrefix: prefix() }),
      );
      const wrong = check(wrongInUrl.checks, 'redis reachable at redis://:***@127.0.0.1:');
      expect(wrong.status).toBe('fail');
      expect(wrong.detail).toContain('WRONGPASS');
      const wrongSetting = await runDoctor(
        config({ url: `redis://127.0.0.1:${locked.port}`, password: 'wrong-redis-password-y', keyPrefix: prefix() }),
      );
      expect(check(wrongSetting.checks, 'redis reachable').status).toBe('fail');
      const none = await runDoctor(config({ url: `redis://127.0.0.1:${locked.port}`, keyPrefix: prefix() }));
      const noAuth = check(none.checks, 'redis reachable');
      expect(noAuth.status).toBe('fail');
      expect(noAuth.detail).toContain('NOAUTH');
      expect(noAuth.fix).toContain('store.redis.password');
      for (const r of [good, viaSetting, wrongInUrl, wrongSetting, none]) {
        const all = JSON.stringify(r.checks) + r.text;
        expect(all).not.toContain(PASSWORD);
        expect(all).not.toContain('wrong-redis-password');
      }
    });

    it('disconnects from redis afterwards', async () => {
      const admin = strict.client();
      await runDoctor(config({ url: strict.url, keyPrefix: prefix() }));
      await until(
        'the doctor connection gone',
        async () => !String(await admin.client('LIST')).includes('name=openim-presence-doctor'),
      );
    });

    it('runs as a command: exit 1 when redis is weaker than asked, and the process ends', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'opr-doctor-redis-'));
      try {
        const file = join(dir, 'doctor-redis.yaml');
        writeFileSync(
          file,
          `openim:\n  apiUrl: ${sim.apiUrl}\n  secret: ${sim.secret}\n  retries: 0\nwebhook:\n  pathSecret: ${TEST_PATH_SECRET}\n  publicUrl: http://127.0.0.1:${await freePort()}\nstore:\n  backend: redis\n  redis:\n    url: ${lax.url}\n    keyPrefix: '${prefix()}'\n    durability: always\n`,
        );
        const run = await runCli(['doctor', '--config', file]);
        expect(run.stderr).toBe('');
        expect(run.code).toBe(1);
        expect(run.stdout).toContain(`[ ok ] redis reachable at ${lax.url}`);
        expect(run.stdout).toContain('[FAIL] redis durability: redis is weaker than store.redis.durability always');
        expect(run.stdout).toContain('[warn] writer lease: nobody holds it');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
