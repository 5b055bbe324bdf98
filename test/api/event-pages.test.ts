import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import type { PageAnswer } from './stream-fixtures.js';
import { firstBreak, produce, readAllEvents, sleep, userIDs } from './stream-fixtures.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

async function page(d: Daemon, query: string): Promise<{ status: number; body: PageAnswer }> {
  const res = await fetch(`${d.apiUrl}/v1/events?${query}`);
  return { status: res.status, body: (await res.json()) as PageAnswer };
}

describe('GET /v1/events as JSON pages', () => {
  let d: TestDaemon | undefined;
  afterEach(async () => {
    await d?.close();
    d?.cleanupDir();
    d = undefined;
  });

  it('pages through the log with after and limit, giving next and head', async () => {
    d = await startTestDaemon();
    await produce(d, 25);
    const first = await page(d, 'after=0&limit=10');
    expect(first.status).toBe(200);
    expect(first.body.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(first.body).toMatchObject({ next: 10, head: 25 });
    const last = await page(d, 'after=20&limit=10');
    expect(last.body.events.map((e) => e.seq)).toEqual([21, 22, 23, 24, 25]);
    expect(last.body.next).toBe(25);
    const all = await readAllEvents(d.apiUrl);
    expect(firstBreak(all.map((e) => e.seq), 1)).toBe(-1);
    expect(all).toHaveLength(25);
  });

  it('filters by users and types and advances next past what it left out', async () => {
    d = await startTestDaemon();
    await produce(d, 30, userIDs(3));
    const r = await page(d, 'after=0&users=u2&types=presence.online');
    expect(r.body.events.map((e) => [e.userID, e.type])).toEqual(Array.from({ length: 5 }, () => ['u2', 'presence.online']));
    expect(r.body.next).toBe(30);
    const none = await page(d, 'after=0&users=nobody');
    expect(none.body).toMatchObject({ events: [], next: 30, head: 30 });
  });

  it('refuses bad parameters with 400 naming them', async () => {
    d = await startTestDaemon({ api: { maxPageSize: 50 } });
    for (const [query, name] of [
      ['limit=51', 'limit'],
      ['after=-1', 'after'],
      ['wait=999', 'wait'],
      ['types=presence.away', 'types'],
    ] as const) {
      const r = await fetch(`${d.apiUrl}/v1/events?${query}`);
      expect(r.status).toBe(400);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('OPR_ERR_BAD_REQUEST');
      expect(body.error.message).toContain(name);
    }
  });

  describe('with wait (long poll)', () => {
    it('answers as soon as an event is committed', async () => {
      d = await startTestDaemon();
      await produce(d, 2);
      const started = Date.now();
      const pending = page(d, 'after=2&wait=20');
      await sleep(150);
      await produce(d, 1);
      const r = await pending;
      expect(r.body.events.map((e) => e.seq)).toEqual([3]);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('answers with no events when the wait runs out', async () => {
      d = await startTestDaemon();
      await produce(d, 1);
      const started = Date.now();
      const r = await page(d, 'after=1&wait=1');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(r.body).toMatchObject({ events: [], next: 1, head: 1 });
    });

    it('keeps waiting while only events outside the filter are committed', async () => {
      d = await startTestDaemon();
      const pending = page(d, 'after=0&wait=10&users=u3');
      await sleep(100);
      await produce(d, 3, userIDs(3)); // u0, u1, u2
      await sleep(100);
      await produce(d, 4, userIDs(4)); // u3 is the fourth
      const r = await pending;
      expect(r.body.events.map((e) => e.userID)).toEqual(['u3']);
      expect(r.body.next).toBe(7);
    });
  });
});
