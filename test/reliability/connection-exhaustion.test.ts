/**
 * Connection exhaustion, the daemon in a process of its own with its default limits (webhook.maxConnections 1 000,
 * api.maxConnections 2 000, head and body timeouts of seconds), attacked over loopback: a flood that holds as many
 * connections as the cap allows, idle (never a byte) or trickling a request head that never ends, reopening every
 * connection the daemon closes. Meanwhile legitimate requests, each on a connection of its own, must be answered
 * within 1 s from the start of the attack to its end.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TEST_PATH_SECRET, webhookBody } from '../helpers/daemon-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { ChildHandle } from './helpers.js';
import { ONLINE, getJson, killAllChildren, spawnDaemonChild } from './helpers.js';
import type { DaemonChildReady } from '../helpers/daemon-child.js';
import type { FloodMode } from './slow-clients.js';
import { ConnectionFlood, probe, probeThroughout, summary } from './slow-clients.js';

/** How long each attack runs: longer than the default head timeout (5 s webhook, 10 s API), so flood connections are cut and reopened meanwhile. */
const ATTACK_MS = 12_000;
/** The functional bound: every legitimate request is answered within this long. */
const DEADLINE_MS = 1000;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => killAllChildren());

async function daemonChild(): Promise<ChildHandle<DaemonChildReady>> {
  const dir = tempDir('opr-exhaust-');
  const child = await spawnDaemonChild({
    webhook: { host: '127.0.0.1', port: 0, pathSecret: TEST_PATH_SECRET },
    api: { host: '127.0.0.1', port: 0 },
    store: { path: join(dir.path, 'presence.db') },
    poll: { enabled: false },
  });
  cleanups.push(dir.cleanup, () => child.kill9());
  return child;
}

/** The `opr_http_connections_closed_total` series of /metrics, as `listener/reason=value`. */
async function closedCounters(apiUrl: string): Promise<string> {
  const res = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return [...text.matchAll(/^opr_http_connections_closed_total\{listener="(\w+)",reason="(\w+)"\} (\d+)/gm)]
    .filter((m) => m[3] !== '0')
    .map((m) => `${m[1]}/${m[2]}=${m[3]}`)
    .join(',');
}

describe('connection exhaustion', () => {
  for (const mode of ['idle', 'trickle-head'] as FloodMode[]) {
    it(`acknowledges webhooks within 1 s from the start to the end of a flood of 1 000 ${mode} connections to the webhook port`, async () => {
      const child = await daemonChild();
      const { webhookUrl, apiUrl } = child.ready;
      const port = Number(new URL(webhookUrl).port);
      const flood = new ConnectionFlood(port, 1000, mode, { reopenAfterMs: 100, maxReopens: 20_000 });
      cleanups.push(() => flood.stop());
      // The attack starts; probes go out from the same moment, every 250 ms, until it ends.
      const filling = flood.start();
      let user = 0;
      const results = await probeThroughout(ATTACK_MS, 250, () =>
        probe(`${webhookUrl}/${ONLINE}`, 'POST', webhookBody(ONLINE, `legit-${mode}-${user++}`, 5, Date.now()), DEADLINE_MS),
      );
      await filling;
      const held = flood.open;
      flood.stop();
      const receipts = await getJson<{ events: unknown[] }>(`${apiUrl}/v1/events?after=0&limit=1000`);
      const counters = await closedCounters(apiUrl);
      const failed = results.filter((r) => r.status !== 200 || r.ms > DEADLINE_MS);
      console.log(
        `[exhaustion/webhook-${mode}] flood=1000 heldAtEnd=${held} cutByDaemon=${flood.closedByServer} reopened=${flood.reopens} ${summary(results)} ` +
          `events=${receipts.events.length} daemonCounters=${counters} failures=${JSON.stringify(failed.slice(0, 5))}`,
      );
      expect(results.length).toBeGreaterThanOrEqual(40);
      expect(failed, 'every legitimate webhook is answered 200 within 1 s').toEqual([]);
      expect(receipts.events.length, 'each acknowledged webhook was recorded').toBe(results.length);
      // The flood really held the port: the daemon had to cut its connections (head timeout or to make room).
      expect(flood.closedByServer).toBeGreaterThanOrEqual(results.length);
    }, 90_000);
  }

  it('answers /healthz, /readyz and /v1/presence within 1 s throughout a flood of 2 050 idle connections to the API port', async () => {
    const child = await daemonChild();
    const { apiUrl } = child.ready;
    const flood = new ConnectionFlood(Number(new URL(apiUrl).port), 2050, 'idle', { reopenAfterMs: 100, maxReopens: 30_000 });
    cleanups.push(() => flood.stop());
    const filling = flood.start();
    const paths = ['/healthz', '/readyz', '/v1/presence'];
    const results = await probeThroughout(ATTACK_MS, 250, (i) => probe(`${apiUrl}${paths[i % paths.length]!}`, 'GET', undefined, DEADLINE_MS));
    await filling;
    flood.stop();
    const counters = await closedCounters(apiUrl);
    const failed = results.filter((r) => r.status !== 200 || r.ms > DEADLINE_MS);
    console.log(
      `[exhaustion/api-idle] flood=2050 cutByDaemon=${flood.closedByServer} reopened=${flood.reopens} ${summary(results)} daemonCounters=${counters} failures=${JSON.stringify(failed.slice(0, 5))}`,
    );
    expect(results.length).toBeGreaterThanOrEqual(40);
    expect(failed, 'every probe is answered 200 within 1 s').toEqual([]);
    expect(flood.closedByServer).toBeGreaterThanOrEqual(50);
  }, 90_000);
});
