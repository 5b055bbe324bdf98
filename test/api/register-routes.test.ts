import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';

describe('the API server', () => {
  let d: Daemon & { cleanupDir: () => void };
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('says X-Content-Type-Options: nosniff on every answer: data, errors, probes, metrics and the dashboard', async () => {
    const paths = ['/v1/events?after=0', '/v1/presence', '/v1/health', '/v1/events?limit=-1', '/v1/no-such-route', '/healthz', '/readyz', '/metrics', '/'];
    const headers = await Promise.all(
      paths.map(async (p) => {
        const res = await fetch(`${d.apiUrl}${p}`);
        await res.text();
        return [p, res.status, res.headers.get('x-content-type-options')] as const;
      }),
    );
    expect(headers.map(([p, , h]) => [p, h])).toEqual(paths.map((p) => [p, 'nosniff']));
    expect(headers.map(([, s]) => s)).toEqual([200, 200, 200, 400, 404, 200, 200, 200, 200]);
  });
});
