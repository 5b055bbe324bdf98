import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceAtPage, PresencePage, UserPresence } from '../../src/api/presence-routes.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { applyEvents, produce, readAllEvents, sleep, userIDs } from './stream-fixtures.js';

type TestDaemon = Daemon & { cleanupDir: () => void };

interface Answer<T> {
  status: number;
  body: T;
}

async function get<T = unknown>(d: Daemon, path: string): Promise<Answer<T>> {
  const res = await fetch(`${d.apiUrl}${path}`);
  const body: unknown = await res.json();
  return { status: res.status, body: body as T };
}

/** Every page of the snapshot, following `next`. */
async function snapshot(d: Daemon, query = ''): Promise<PresencePage[]> {
  const pages: PresencePage[] = [];
  let after = '';
  for (;;) {
    const r = await get<PresencePage>(d, `/v1/presence?limit=7${query}${after === '' ? '' : `&after=${after}`}`);
    expect(r.status).toBe(200);
    pages.push(r.body);
    if (r.body.next === null) return pages;
    after = r.body.next;
  }
}

function stateOf(pages: readonly PresencePage[]): Map<string, boolean> {
  return new Map(pages.flatMap((p) => p.items.map((i) => [`${i.userID}|${i.platformID}`, i.online] as const)));
}

describe('GET /v1/presence', () => {
  let d: TestDaemon | undefined;
  afterEach(async () => {
    await d?.close();
    d?.cleanupDir();
    d = undefined;
  });

  it('lists every key with its state and the seq it corresponds to, in pages', async () => {
    d = await startTestDaemon();
    await produce(d, 30, userIDs(20)); // u0..u9 end offline, u10..u19 online
    const pages = await snapshot(d);
    expect(pages).toHaveLength(3);
    expect(pages.every((p) => p.seq === 30)).toBe(true);
    const items = pages.flatMap((p) => p.items);
    expect(items).toHaveLength(20);
    expect(items.filter((i) => i.online).map((i) => i.userID).sort()).toEqual(userIDs(20).slice(10).sort());
    expect(items[0]).toMatchObject({ userID: 'u0', platformID: 5, platform: 'Web', online: false, pendingOffline: false });
    expect(items[0]!.changedAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    const online = await snapshot(d, '&online=true');
    expect(online.flatMap((p) => p.items).map((i) => i.userID).sort()).toEqual(userIDs(20).slice(10).sort());
  });

  it('refuses a cursor it did not issue and a bad online flag with 400', async () => {
    d = await startTestDaemon();
    expect((await get(d, '/v1/presence?after=not-a-cursor!')).status).toBe(400);
    expect((await get(d, '/v1/presence?after=e30')).status).toBe(400);
    expect((await get(d, '/v1/presence?online=yes')).status).toBe(400);
  });

  describe('while events are committed between its pages', () => {
    it('gives the current state once the events after the first page’s seq are applied', async () => {
      d = await startTestDaemon();
      const users = userIDs(40);
      await produce(d, 60, users);
      let producing = true;
      const daemon = d;
      const producer = (async () => {
        for (let i = 0; producing; i++) {
          await produce(daemon, 3, users.slice((i * 3) % 36, ((i * 3) % 36) + 3));
          await sleep(1);
        }
      })();
      const pages = await snapshot(d);
      producing = false;
      await producer;
      // Pages were read at different seqs.
      expect(new Set(pages.map((p) => p.seq)).size).toBeGreaterThan(1);
      const state = stateOf(pages);
      const later = await readAllEvents(d.apiUrl, pages[0]!.seq);
      applyEvents(state, later);
      const now = stateOf(await snapshot(d));
      expect(state).toEqual(now);
      for (const u of users) expect(state.get(`${u}|5`)).toBe(d.engine.key(u, 5)?.online ?? false);
      // And replaying the whole stream from 0 gives the same state (nothing was pruned).
      expect(applyEvents(new Map(), await readAllEvents(d.apiUrl, 0))).toEqual(now);
    });
  });

  describe('/:userID', () => {
    it("gives the user's platforms, userOnline and userVersion", async () => {
      d = await startTestDaemon();
      const t = Date.now();
      await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'ann', 1, t));
      await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'ann', 5, t + 1));
      const r = await get<UserPresence>(d, '/v1/presence/ann');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ userID: 'ann', seq: 2, userOnline: true, userVersion: 2 });
      expect(r.body.platforms.map((p) => [p.platformID, p.platform, p.online])).toEqual([
        [1, 'IOS', true],
        [5, 'Web', true],
      ]);
      const unknown = await get<UserPresence>(d, '/v1/presence/nobody');
      expect(unknown.body).toEqual({ userID: 'nobody', seq: 2, userOnline: false, userVersion: 0, platforms: [] });
    });
  });

  describe('?at=', () => {
    it('says who was online at that moment and which event set each key', async () => {
      d = await startTestDaemon();
      await produce(d, 3, userIDs(3)); // #1-#3: u0, u1, u2 online
      await sleep(5);
      const at = Date.now();
      await sleep(5);
      await produce(d, 4, userIDs(4)); // #4-#7: u0, u1, u2 offline, u3 online
      const r = await get<PresenceAtPage>(d, `/v1/presence?at=${new Date(at).toISOString()}`);
      expect(r.status).toBe(200);
      expect(r.body.seq).toBe(3);
      expect(r.body.at).toBe(new Date(at).toISOString());
      const byUser = new Map(r.body.items.map((i) => [i.userID, i]));
      expect(byUser.get('u1')).toMatchObject({ online: true, knownFrom: 'event', setBy: { seq: 2, type: 'presence.online', source: 'poll' } });
      expect(byUser.get('u1')!.setBy!.occurredAfter).toBeDefined();
      expect(byUser.get('u3')).toMatchObject({ online: false, knownFrom: 'no-event', nextSeq: 7 });
      const online = await get<PresenceAtPage>(d, `/v1/presence?at=${at}&online=true`);
      expect(online.body.items.map((i) => i.userID)).toEqual(['u0', 'u1', 'u2']);
      // A replay of the stream through that seq agrees.
      const replay = applyEvents(new Map(), (await readAllEvents(d.apiUrl, 0)).filter((e) => e.seq <= 3));
      for (const i of r.body.items) expect(i.online).toBe(replay.get(`${i.userID}|5`) ?? false);
    });

    it('works past retention from later events and the current state, and answers 410 before it', async () => {
      d = await startTestDaemon();
      const t0 = Date.now();
      await produce(d, 5, userIDs(5)); // #1-#5: u0..u4 online
      await sleep(5);
      const horizon = Date.now();
      await sleep(5);
      await produce(d, 2, userIDs(2)); // #6, #7: u0, u1 offline
      await sleep(5);
      const at = Date.now();
      await sleep(5);
      await produce(d, 1, ['u0']); // #8: u0 online
      await produce(d, 1, ['u2']); // #9: u2 offline
      expect(d.store.prune(horizon).events).toBe(5);

      const r = await get<PresenceAtPage>(d, `/v1/presence?at=${at}`);
      expect(r.status).toBe(200);
      expect(r.body.seq).toBe(7);
      const byUser = new Map(r.body.items.map((i) => [i.userID, i]));
      expect(byUser.get('u0')).toMatchObject({ online: false, knownFrom: 'event', setBy: { seq: 6 } });
      expect(byUser.get('u2')).toMatchObject({ online: true, knownFrom: 'before-retention', nextSeq: 9 });
      expect(byUser.get('u3')).toMatchObject({ online: true, knownFrom: 'before-retention' });
      expect(byUser.get('u3')!.setBy).toBeUndefined();

      const before = await get<{ error: { code: string; message: string; oldestSeq: number } }>(d, `/v1/presence?at=${t0}`);
      expect(before.status).toBe(410);
      expect(before.body.error).toMatchObject({ code: 'OPR_ERR_CURSOR_EXPIRED', oldestSeq: 6 });
      expect(before.body.error.message).toContain('retention');
    });

    it('takes a duration back from now, and refuses a future or unreadable time with 400', async () => {
      d = await startTestDaemon();
      await produce(d, 2);
      const r = await get<PresenceAtPage>(d, '/v1/presence?at=1s');
      expect(r.status).toBe(200);
      expect((await get(d, `/v1/presence?at=${Date.now() + 60_000}`)).status).toBe(400);
      expect((await get(d, '/v1/presence?at=yesterday')).status).toBe(400);
    });
  });
});
