/**
 * Three replicas (real child processes) on one real redis-server, behind an in-process round-robin proxy that
 * spreads OpenIM's webhooks over them (the simulator posts to the proxy, with webhook loss, so polls must correct).
 * The writer is killed with SIGKILL mid-burst, twice; then Redis itself is killed and restarted (AOF, appendfsync
 * always) mid-burst. Throughout and after quiescence:
 * - every webhook a replica answered 200 has its receipt in every replica's copy;
 * - the stream is the same on every replica, seqs 1..head with no gap and none twice;
 * - an SSE client that moves to another replica whenever its own dies sees no gap and no duplicate;
 * - another replica becomes the writer and polls within the lease TTL plus a poll cycle;
 * - no correction is published twice (per key, events alternate online/offline; one event per mismatch);
 * - once quiet, the stream's online keys are OpenIM's truth.
 * Seeded (CLUSTER_SEED overrides).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PresenceEventJson } from '../../src/domain.js';
import type { Simulator } from '../../src/simulator/index.js';
import { startSimulator } from '../../src/simulator/index.js';
import type { DaemonChildReady } from '../helpers/daemon-child.js';
import { TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { freePort } from '../helpers/free-port.js';
import type { TestRedisServer } from '../helpers/redis-server.js';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from '../helpers/redis-server.js';
import { FAST_RECONCILE } from '../helpers/sim-pair.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { ChildHandle } from '../reliability/helpers.js';
import {
  compareWithOpenIm,
  getJson,
  inspectDb,
  killAllChildren,
  readAllEvents,
  sleep,
  spawnDaemonChild,
  SseSubscriber,
} from '../reliability/helpers.js';
import { until } from '../helpers/until.js';

const SEED = Number(process.env.CLUSTER_SEED ?? 20_261_206);
const LEASE_TTL_MS = 1500;
const POLL_INTERVAL_S = 1;

const cleanups: (() => void | Promise<void>)[] = [];
describe.skipIf(!HAS_REDIS)(`with a real redis-server${REDIS_SKIP_REASON}`, () => {
  afterEach(async () => {
    killAllChildren();
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => killAllChildren());

  interface Replica {
    name: string;
    dbPath: string;
    apiPort: number;
    webhookPort: number;
    child: ChildHandle<DaemonChildReady> | undefined;
  }

  const apiUrl = (r: Replica): string => `http://127.0.0.1:${r.apiPort}`;

  /**
   * Round-robin over the live replicas. A replica that refuses the connection is skipped (the request never reached
   * it); any other failure is answered 502. Every body answered 200 is recorded.
   */
  async function startProxy(replicas: () => Replica[]): Promise<{
    url: string;
    acked: string[];
    statuses: Map<number, number>;
    refused: () => number;
    close: () => Promise<void>;
  }> {
    const acked: string[] = [];
    const statuses = new Map<number, number>();
    let turn = 0;
    let refused = 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const forward = (
      r: Replica,
      req: http.IncomingMessage,
      body: Buffer,
    ): Promise<{ status: number; body: Buffer } | 'refused'> =>
      new Promise((resolve) => {
        const out = http.request(
          {
            host: '127.0.0.1',
            port: r.webhookPort,
            method: req.method,
            path: req.url,
            headers: { 'content-type': req.headers['content-type'] ?? '' },
            agent,
            timeout: 10_000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 502, body: Buffer.concat(chunks) }));
            res.on('error', () => resolve({ status: 502, body: Buffer.alloc(0) }));
          },
        );
        out.on('error', (e: NodeJS.ErrnoException) =>
          resolve(e.code === 'ECONNREFUSED' ? 'refused' : { status: 502, body: Buffer.alloc(0) }),
        );
        out.end(body);
      });
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        void (async () => {
          const live = replicas().filter((r) => r.child !== undefined);
          for (let i = 0; i < live.length; i++) {
            const r = live[turn++ % live.length]!;
            const answer = await forward(r, req, body);
            if (answer === 'refused') {
              refused++;
              continue;
            }
            if (answer.status === 200) acked.push(body.toString('utf8'));
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8' });
            res.end(answer.body);
            return;
          }
          res.writeHead(502).end();
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return {
      url: `http://127.0.0.1:${port}`,
      acked,
      statuses,
      refused: () => refused,
      close: () =>
        new Promise((resolve) => {
          agent.destroy();
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  interface HealthCluster {
    cluster?: { role: 'writer' | 'follower'; replica: string };
    poll: { cycles?: number };
  }

  async function roleOf(r: Replica): Promise<HealthCluster | undefined> {
    if (!r.child) return undefined;
    try {
      return await getJson<HealthCluster>(`${apiUrl(r)}/v1/health`, 2000);
    } catch {
      return undefined;
    }
  }

  /** The replica that reports itself the writer and has run a poll cycle. */
  async function writerPolling(replicas: Replica[]): Promise<Replica | undefined> {
    for (const r of replicas) {
      const h = await roleOf(r);
      if (h?.cluster?.role === 'writer' && (h.poll.cycles ?? 0) > 0) return r;
    }
    return undefined;
  }

  /** Per key, events must alternate online/offline (the stream never repeats a state); one event per mismatch. */
  function correctionProblems(events: readonly PresenceEventJson[]): string[] {
    const problems: string[] = [];
    const last = new Map<string, string>();
    const byMismatch = new Map<number, number>();
    for (const e of events) {
      const k = `${e.userID}:${e.platformID}`;
      if (last.get(k) === e.type) problems.push(`seq ${e.seq}: ${k} ${e.type} twice in a row (${e.source})`);
      last.set(k, e.type);
      if (e.mismatchID !== undefined) {
        if (byMismatch.has(e.mismatchID))
          problems.push(`mismatch ${e.mismatchID} published by seq ${byMismatch.get(e.mismatchID)} and ${e.seq}`);
        byMismatch.set(e.mismatchID, e.seq);
      }
    }
    return problems;
  }

  describe('three replicas on one redis', () => {
    it('lose nothing acknowledged when the writer is killed mid-burst or redis restarts, and publish every correction once', async () => {
      const redis: TestRedisServer = await startRedisServer({ appendfsync: 'always' });
      cleanups.push(() => redis.stop());
      const dir = tempDir('opr-cluster-');
      cleanups.push(dir.cleanup);
      const replicas: Replica[] = [];
      for (const name of ['r1', 'r2', 'r3']) {
        replicas.push({
          name,
          dbPath: join(dir.path, `${name}.db`),
          apiPort: await freePort(),
          webhookPort: await freePort(),
          child: undefined,
        });
      }
      const proxy = await startProxy(() => replicas);
      cleanups.push(() => proxy.close());
      const sim: Simulator = await startSimulator({
        users: 150,
        gateways: 2,
        seed: SEED,
        speed: 4,
        loss: 0.3,
        webhookUrl: `${proxy.url}/${TEST_PATH_SECRET}`,
        workload: { onlineFraction: 0.3, connectRatePerSec: 20, sessionMeanMs: 8000, multiDeviceProb: 0.3 },
      });
      cleanups.push(() => sim.close());
      const configOf = (r: Replica): Record<string, unknown> => ({
        openim: { apiUrl: sim.apiUrl, secret: sim.secret, retries: 1, timeoutMs: 2000 },
        webhook: { host: '127.0.0.1', port: r.webhookPort, pathSecret: TEST_PATH_SECRET },
        api: { host: '127.0.0.1', port: r.apiPort, sseHeartbeatSeconds: 1 },
        store: {
          backend: 'redis',
          path: r.dbPath,
          redis: {
            url: redis.url,
            keyPrefix: 'fo:',
            leaseTtlMs: LEASE_TTL_MS,
            replicaName: r.name,
            commandTimeoutMs: 2000,
          },
        },
        reconcile: { ...FAST_RECONCILE, massGuardMinUsers: 1000 },
        poll: {
          enabled: true,
          intervalSeconds: POLL_INTERVAL_S,
          coverageSeconds: 1,
          discoveryIntervalSeconds: 10,
          requestsPerSecond: 1000,
        },
        log: { level: 'silent' },
      });
      /** Replicas that stopped by themselves (a writer that lost its lease in the Redis outage), and why. */
      const exits: string[] = [];
      let stopping = false;
      const start = async (r: Replica): Promise<void> => {
        r.child = await spawnDaemonChild(configOf(r));
        const child = r.child;
        void child.exited.then(({ code, signal }) => {
          if (r.child === child) r.child = undefined;
          if (signal === null && !stopping)
            exits.push(
              `${r.name} exited ${code ?? '?'}: ${/"message":"([^"]*)"/.exec(child.stderr())?.[1] ?? child.stderr().slice(-300)}`,
            );
        });
      };
      for (const r of replicas) await start(r);

      const figures: { kill: string; ackedBefore: number; failoverMs: number }[] = [];
      let writer = await until('a writer that polls', () => writerPolling(replicas), 20_000);
      // An SSE client on the first writer (so the first kill moves it), then on whichever replica is alive.
      let sseReplica: Replica | undefined = writer;
      const sseServedBy: string[] = [];
      const sse = new SseSubscriber(() => {
        if (sseReplica?.child === undefined) sseReplica = replicas.find((r) => r.child !== undefined) ?? replicas[0]!;
        if (sseServedBy[sseServedBy.length - 1] !== sseReplica.name) sseServedBy.push(sseReplica.name);
        return apiUrl(sseReplica);
      });
      cleanups.push(() => sse.stop());
      let sseMoves = 0;

      for (let round = 1; round <= 2; round++) {
        await sleep(1500);
        const ackedBefore = proxy.acked.length;
        const killedAt = Date.now();
        if (sseReplica === writer) sseMoves++;
        await writer.child!.kill9();
        writer.child = undefined;
        const next = await until(
          `a new writer after killing ${writer.name} (round ${round})`,
          () => writerPolling(replicas.filter((r) => r !== writer)),
          4 * LEASE_TTL_MS + 10_000,
        );
        figures.push({ kill: writer.name, ackedBefore, failoverMs: Date.now() - killedAt });
        // Taken over within the TTL plus a cycle (and the catch-up); generous for a loaded machine, never below.
        expect(Date.now() - killedAt, `round ${round}: failover`).toBeLessThan(
          LEASE_TTL_MS + POLL_INTERVAL_S * 1000 + 8000,
        );
        await start(writer); // rejoins as a follower
        writer = next;
      }

      // Redis killed and restarted mid-burst (AOF always): replicas reconnect by themselves.
      await sleep(1000);
      const ackedBeforeRedis = proxy.acked.length;
      await redis.kill();
      await sleep(300);
      await redis.restart();
      await until('a writer that polls after the redis restart', () => writerPolling(replicas), 30_000);
      await sleep(2000);

      // Quiescence: no more changes in OpenIM; polls settle what webhooks lost.
      sim.pauseWorkload();
      await sim.quiesce({ timeoutMs: 60_000 });
      const live = replicas.filter((r) => r.child !== undefined);
      expect(live.length).toBeGreaterThanOrEqual(2);
      const settled = await until(
        'the stream to agree with OpenIM',
        async () => {
          const events = await readAllEvents(apiUrl(live[0]!));
          const online = new Set<string>();
          for (const e of events) {
            const k = `${e.userID}:${e.platformID}`;
            if (e.type === 'presence.online') online.add(k);
            else online.delete(k);
          }
          const { problems } = compareWithOpenIm(online, sim);
          return problems.length === 0 ? events : undefined;
        },
        30_000,
      );

      // The same stream everywhere, gap-free from 1.
      expect(
        settled.every((e, i) => e.seq === i + 1),
        'gap-free from seq 1',
      ).toBe(true);
      const head = settled.length;
      for (const r of live) {
        const events = await until(
          `${r.name} at head ${head}`,
          async () => {
            const ev = await readAllEvents(apiUrl(r));
            return ev.length >= head ? ev.slice(0, head) : undefined;
          },
          15_000,
        );
        expect(events, `${r.name} has the same stream`).toEqual(settled);
      }
      expect(correctionProblems(settled)).toEqual([]);
    // A writer may give its lease up in the Redis outage (when it outlasts the TTL); any other stop is a defect.
    expect(exits.filter((e) => !/writer lease lost|FENCED/.test(e))).toEqual([]);

      // The SSE client saw everything, in order, once.
      await until(
        'the SSE client at the head',
        () => Promise.resolve(sse.record.cursor >= head ? true : undefined),
        15_000,
      );
      expect(sse.record.problems).toEqual([]);
      expect(sseMoves).toBeGreaterThanOrEqual(1);
      expect(
        sseServedBy.length - 1,
        'the SSE client moved to another replica whenever its own was killed',
      ).toBeGreaterThanOrEqual(sseMoves);

      // Every acknowledged webhook has its receipt in every live replica's copy (read once the replicas stopped).
      stopping = true;
      for (const r of live) {
        r.child!.proc.kill('SIGTERM');
        await r.child!.exited;
      }
      for (const r of live) {
        const img = inspectDb(r.dbPath);
        const lost = proxy.acked.filter((b) => !img.receipts.has(b));
        expect(lost.length, `${r.name}: acknowledged but not stored`).toBe(0);
        expect(img.head).toBeGreaterThanOrEqual(head);
      }
      console.log(
        `cluster failover (seed ${SEED}): ${proxy.acked.length} webhooks acknowledged, 0 lost; ${head} events; kills: ${figures
          .map((f) => `${f.kill} after ${f.ackedBefore} acked, writer polling again in ${f.failoverMs} ms`)
          .join(
            '; ',
          )}; redis restarted after ${ackedBeforeRedis} acked; answers ${JSON.stringify(Object.fromEntries(proxy.statuses))}; refused connections skipped ${proxy.refused()}; SSE served by ${sseServedBy.join(' → ')}; replicas that stopped by themselves: ${exits.length === 0 ? 'none' : exits.join('; ')}`,
      );
    }, 240_000);
  });
});
