import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthToJson, isTimeField } from '../../src/api/health-json.js';
import type { DaemonHealth } from '../../src/health/health-service.js';
import type { SimPair } from '../helpers/sim-pair.js';
import { daemonOnlineKeys, eventually, startSimPair } from '../helpers/sim-pair.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Epoch milliseconds of any date from 2001 to 2286. */
const EPOCH_MS_MIN = 1e12;

/**
 * Every place in a JSON answer that carries a time as something other than an ISO-8601 string: a time-named field
 * (…At, …Until, since, at, t) that is not an ISO string or null, or any number that looks like epoch milliseconds.
 * `seq` is left alone: OpenIM's webhook `seq` is the gateway's own clock and is shown as OpenIM sent it.
 */
function nonIsoTimes(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => nonIsoTimes(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  const found: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const p = `${path}.${k}`;
    const timeNamed = isTimeField(k) || k === 'at' || k === 't';
    if (timeNamed && v !== null && !(typeof v === 'string' && ISO.test(v))) found.push(`${p}=${JSON.stringify(v)}`);
    else if (typeof v === 'number' && v >= EPOCH_MS_MIN && k !== 'seq') found.push(`${p}=${v}`);
    else found.push(...nonIsoTimes(v, p));
  }
  return found;
}

describe('times in API answers', () => {
  describe('the health answer', () => {
    const base: DaemonHealth = {
      status: 'degraded',
      mode: 'active',
      checkedAt: '2026-11-28T10:00:00.000Z',
      webhooks: { state: 'unknown', byCommand: { online: 'unknown', offline: 'unknown' }, entries: [] },
      poll: {
        enabled: true,
        lastCycleAt: Date.parse('2026-11-28T09:59:55.000Z'),
        lastSuccessAt: Date.parse('2026-11-28T09:59:56.000Z'),
        lastError: null,
        consecutiveFailures: 0,
        backoffUntil: null,
        cycles: 17,
        running: false,
        lastDiscoveryAt: Date.parse('2026-11-28T09:50:00.000Z'),
        trackedUsers: 1000,
        openDisagreements: 2,
        guard: {
          since: Date.parse('2026-11-28T09:59:30.000Z'),
          holdUntil: Date.parse('2026-11-28T10:00:30.000Z'),
          mismatchID: 12,
          readOffline: 31,
          believedOnline: 90,
        },
      },
      api: { state: 'ok', message: 'ok' },
      stream: { headSeq: 42, onlineUsers: 90, keys: 120, heldOfflines: 0 },
    };

    it('says every poller and guard time as ISO-8601 and keeps counts as numbers', () => {
      const json = healthToJson(base);
      expect(json.poll).toEqual({
        enabled: true,
        lastCycleAt: '2026-11-28T09:59:55.000Z',
        lastSuccessAt: '2026-11-28T09:59:56.000Z',
        lastError: null,
        consecutiveFailures: 0,
        backoffUntil: null,
        cycles: 17,
        running: false,
        lastDiscoveryAt: '2026-11-28T09:50:00.000Z',
        trackedUsers: 1000,
        excludedUsers: 0,
        polledUsers: 1000,
        openDisagreements: 2,
        guard: { since: '2026-11-28T09:59:30.000Z', holdUntil: '2026-11-28T10:00:30.000Z', mismatchID: 12, readOffline: 31, believedOnline: 90 },
      });
      expect(nonIsoTimes(json)).toEqual([]);
    });

    it('converts a backoff in progress and leaves a lowered guard null', () => {
      if (!base.poll.enabled) throw new Error('unreachable');
      const json = healthToJson({ ...base, poll: { ...base.poll, backoffUntil: Date.parse('2026-11-28T10:01:00.000Z'), guard: null } });
      expect(json.poll.enabled && json.poll.backoffUntil).toBe('2026-11-28T10:01:00.000Z');
      expect(json.poll.enabled && json.poll.guard).toBeNull();
    });

    it('says how many tracked users are polled: poll.excludeUsers that discovery listed are tracked, never polled', () => {
      const json = healthToJson(base, { excludedUsers: 1 });
      expect(json.poll.enabled && [json.poll.trackedUsers, json.poll.excludedUsers, json.poll.polledUsers]).toEqual([1000, 1, 999]);
    });

    it('passes a health without polling through unchanged', () => {
      const off = { ...base, poll: { enabled: false as const } };
      expect(healthToJson(off).poll).toEqual({ enabled: false });
    });
  });

  describe('every route of a daemon that polls, while the mass-disagreement guard holds', () => {
    let pair: SimPair;
    let answers: Map<string, unknown>;

    beforeAll(async () => {
      pair = await startSimPair(
        { users: 60, gateways: 2, seed: 11, workload: false },
        { reconcile: { massGuardHoldMs: 120_000 }, poll: { discoveryIntervalSeconds: 10 } },
      );
      const p = pair;
      for (let i = 1; i <= 40; i++) p.sim.connect(`u${i}`, 2, i % 2);
      await p.sim.quiesce({ timeoutMs: 10_000 });
      await eventually(() => daemonOnlineKeys(p.daemon).size === 40, 8000);
      await eventually(() => Array.from({ length: 40 }, (_, i) => p.daemon.engine.key(`u${i + 1}`, 2)).every((k) => k?.lastVerifiedAt != null), 8000);
      // A slow gateway: its users read offline, the guard holds (for two minutes: longer than this test).
      p.sim.setGatewaySlow(0, true);
      await eventually(() => { const poll = p.daemon.health.health().poll; return poll.enabled && poll.guard !== null; }, 10_000);
      const paths = [
        '/v1/health',
        '/v1/presence',
        '/v1/presence/u1',
        '/v1/events?after=0&limit=5',
        '/v1/mismatches?since=1h',
        '/v1/report?since=1h',
        '/v1/users/u1/timeline?since=1h',
        '/v1/stats/timeseries?since=1h',
        '/v1/subscribers',
      ];
      answers = new Map();
      for (const path of paths) {
        const res = await fetch(`${p.daemon.apiUrl}${path}`);
        answers.set(path, res.ok ? await res.json() : `HTTP ${res.status}`);
      }
    }, 60_000);
    afterAll(async () => {
      await pair.close();
    });

    it('holds the guard (the answers below include it)', () => {
      const health = answers.get('/v1/health') as { poll: { guard: { since: string; holdUntil: string; readOffline: number } | null } };
      expect(health.poll.guard).not.toBeNull();
      expect(health.poll.guard!.readOffline).toBeGreaterThan(0);
      expect(Date.parse(health.poll.guard!.holdUntil) - Date.parse(health.poll.guard!.since)).toBe(120_000);
    });

    it('counts the 60 simulated users as polled and the admin user OpenIM lists as tracked but excluded', () => {
      const health = answers.get('/v1/health') as { poll: { trackedUsers: number; excludedUsers: number; polledUsers: number } };
      expect([health.poll.trackedUsers, health.poll.excludedUsers, health.poll.polledUsers]).toEqual([61, 1, 60]);
    });

    it('answers every time as an ISO-8601 string', () => {
      const problems: string[] = [];
      for (const [path, body] of answers) {
        if (typeof body === 'string') problems.push(`${path}: ${body}`);
        else problems.push(...nonIsoTimes(body).map((p) => `${path} ${p}`));
      }
      expect(problems).toEqual([]);
    });
  });
});
