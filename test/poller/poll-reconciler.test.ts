import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/engine/event-bus.js';
import { PresenceEngine } from '../../src/engine/presence-engine.js';
import type { OnlineStatusResult, OpenImApi, UserOnlineStatus } from '../../src/openim/types.js';
import { PollReconciler } from '../../src/poller/poll-reconciler.js';
import type { PollReconcilerOptions, ScheduleFn } from '../../src/poller/poll-reconciler.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

/** A scripted live view: the narrow OpenImApi interface answered from a map, as OpenIM's live API would. */
class ScriptedLiveView implements OpenImApi {
  readonly online = new Map<string, number[]>();
  /** Requests that ask for any of these users fail. */
  readonly failingUsers = new Set<string>();
  failing = false;
  /** No admin token: nothing can be sent. */
  noToken = false;
  calls = 0;
  getUsersOnlineStatus(userIDs: readonly string[]): Promise<OnlineStatusResult> {
    this.calls++;
    if (this.noToken) {
      return Promise.resolve({ statuses: [], failed: [{ userIDs: [...userIDs], error: new Error('no admin token') }], form: undefined, requests: 0 });
    }
    if (this.failing || userIDs.some((u) => this.failingUsers.has(u))) {
      return Promise.resolve({ statuses: [], failed: [{ userIDs: [...userIDs], error: new Error('HTTP 502') }], form: undefined, requests: 1 });
    }
    const statuses: UserOnlineStatus[] = userIDs.map((userID) => {
      const platforms = this.online.get(userID) ?? [];
      return { userID, online: platforms.length > 0, platforms: platforms.map((platformID) => ({ platformID, connections: 1 })) };
    });
    return Promise.resolve({ statuses, failed: [], form: 'numeric', requests: 1 });
  }
  getUsersStatus(): Promise<never[]> {
    return Promise.resolve([]);
  }
  async *allUserIDs(): AsyncIterable<string> {}
  probe(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  close(): void {}
}

const OPTS: PollReconcilerOptions = {
  settleMs: 3000,
  graceMs: 10_000,
  lateWindowMs: 300_000,
  ambiguousHoldMs: 60_000,
  confirmDelayMs: 5000,
  massGuardShare: 0.2,
  massGuardMinUsers: 5,
  massGuardHoldMs: 60_000,
  mode: 'active',
};

describe('the poll reconciler', () => {
  let now: number;
  let store: SqliteStore;
  let engine: PresenceEngine;
  let live: ScriptedLiveView;
  let rec: PollReconciler;
  const clock = (): number => now;
  /** Confirm polls the reconciler scheduled; the tests below run confirm polls by hand instead. */
  let scheduled: { at: number; delayMs: number }[] = [];
  const schedule: ScheduleFn = (_fn, delayMs) => {
    scheduled.push({ at: now, delayMs });
    return () => undefined;
  };
  const setup = (opts: Partial<PollReconcilerOptions> = {}): void => {
    const o = { ...OPTS, ...opts };
    scheduled = [];
    engine = new PresenceEngine(store, new EventBus(), { ...o }, pino({ level: 'silent' }), clock);
    rec = new PollReconciler({ engine, store, api: live, bus: new EventBus(), log: pino({ level: 'silent' }), now: clock, schedule }, o);
  };
  const webhook = (kind: 'online' | 'offline', userID: string, platformID: number): void => {
    const callbackCommand = kind === 'online' ? 'callbackAfterUserOnlineCommand' : 'callbackAfterUserOfflineCommand';
    const body = { callbackCommand, operationID: `p_1_${now}`, platformID, platform: 'Web', userID, seq: now, isAppBackground: false, connID: '' } as const;
    engine.ingest([{ webhook: body, body: JSON.stringify(body), receivedAt: now, remoteAddress: '127.0.0.1' }]);
  };
  const events = () => store.readEvents(0, 1000);
  /** Users online by webhook on platform 5, then verified by a poll (only they count as believed online), then a minute later. */
  const onlineAndVerified = async (users: readonly string[]): Promise<void> => {
    for (const u of users) {
      webhook('online', u, 5);
      live.online.set(u, [5]);
    }
    await rec.pollCycle(users, 0);
    live.calls = 0;
    now += 60_000;
  };

  beforeEach(() => {
    now = 1_700_000_000_000;
    store = new SqliteStore({ path: ':memory:' });
    live = new ScriptedLiveView();
    setup();
  });
  afterEach(async () => {
    await rec.close();
    store.close();
  });

  describe('when the online webhook is lost', () => {
    it('emits a correction after the confirm poll, bounded by the observations', async () => {
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      expect(events()).toHaveLength(0);
      now += 5000;
      const stats = await rec.confirm(['u1']);
      expect(stats.corrections).toBe(1);
      const [ev] = events();
      expect(ev).toMatchObject({ type: 'presence.online', userID: 'u1', platformID: 5, source: 'poll', occurredBefore: now - 5000, userOnline: true });
      const m = store.getMismatch(ev!.mismatchID!);
      expect(m).toMatchObject({ kind: 'missed_online', eventSeq: ev!.seq, status: 'open' });
      expect(m!.evidence.length).toBeGreaterThanOrEqual(2);
    });

    it('marks the mismatch late when the webhook finally arrives, with no second event', async () => {
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      now += 5000;
      await rec.confirm(['u1']);
      now += 7000;
      webhook('online', 'u1', 5);
      expect(events()).toHaveLength(1);
      const m = store.getMismatch(events()[0]!.mismatchID!);
      expect(m).toMatchObject({ kind: 'late_webhook', lateByMs: 12_000 });
    });
  });

  describe('when the offline webhook is lost', () => {
    it('corrects the key offline with occurredAfter at the last agreeing poll', async () => {
      webhook('online', 'u1', 5);
      live.online.set('u1', [5]);
      now += 20_000;
      await rec.pollCycle(['u1'], 1);
      const verifiedAt = now;
      live.online.delete('u1');
      now += 20_000;
      await rec.pollCycle(['u1'], 2);
      const firstSeen = now;
      now += 5000;
      await rec.confirm(['u1']);
      const last = events().at(-1)!;
      expect(last).toMatchObject({ type: 'presence.offline', source: 'poll', occurredAfter: verifiedAt, occurredBefore: firstSeen, userOnline: false });
    });
  });

  describe('when a webhook arrives between the poll and the confirm', () => {
    it('closes the disagreement as transient and corrects nothing', async () => {
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      now += 1500;
      webhook('online', 'u1', 5);
      now += 3500;
      const stats = await rec.confirm(['u1']);
      expect(stats.corrections).toBe(0);
      expect(events().map((e) => e.source)).toEqual(['webhook']);
      expect(store.listMismatches({ limit: 10 }).map((m) => m.kind)).toEqual(['transient']);
    });
  });

  describe('when the poll disagrees within the grace window of a webhook', () => {
    it('treats it as a race and opens nothing', async () => {
      webhook('online', 'u1', 5);
      now += 2000;
      const stats = await rec.pollCycle(['u1'], 1);
      expect(stats.disagreements).toBe(0);
      expect(rec.openDisagreements()).toBe(0);
    });
  });

  describe('when the poll fails', () => {
    it('makes no decision at all', async () => {
      live.online.set('u1', [5]);
      live.failing = true;
      const stats = await rec.pollCycle(['u1'], 1);
      expect(stats.errors).toBe(1);
      expect(rec.openDisagreements()).toBe(0);
      expect(events()).toHaveLength(0);
    });

    it('drops open disagreements whose confirm poll failed', async () => {
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      live.failing = true;
      now += 5000;
      await rec.confirm(['u1']);
      expect(events()).toHaveLength(0);
      expect(rec.openDisagreements()).toBe(0);
    });
  });

  describe('when many believed-online users read offline at once', () => {
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    beforeEach(() => onlineAndVerified(users));

    it('holds corrections and raises a suspect_poll record', async () => {
      for (const u of users.slice(0, 10)) live.online.delete(u);
      const stats = await rec.pollCycle(users, 1);
      expect(stats.guarded).toBe(10);
      expect(stats.disagreements).toBe(0);
      expect(rec.guard).not.toBeNull();
      expect(store.listMismatches({ limit: 10 }).map((m) => m.kind)).toEqual(['suspect_poll']);
    });

    it('corrects only once the disagreement persisted past the hold', async () => {
      for (const u of users.slice(0, 10)) live.online.delete(u);
      await rec.pollCycle(users, 1);
      now += 30_000;
      expect((await rec.pollCycle(users, 2)).disagreements).toBe(0);
      now += 31_000;
      expect((await rec.pollCycle(users, 3)).disagreements).toBe(10);
      now += 5000;
      expect((await rec.confirm(users)).corrections).toBe(10);
    });

    it('clears the guard without corrections when the users read online again', async () => {
      for (const u of users.slice(0, 10)) live.online.delete(u);
      await rec.pollCycle(users, 1);
      for (const u of users) live.online.set(u, [5]);
      now += 30_000;
      await rec.pollCycle(users, 2);
      expect(rec.guard).toBeNull();
      expect(events().filter((e) => e.source === 'poll')).toHaveLength(0);
      expect(store.listMismatches({ limit: 10 })[0]).toMatchObject({ kind: 'suspect_poll', status: 'resolved' });
    });
  });

  describe('when a cycle is polled a page at a time', () => {
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    beforeEach(() => onlineAndVerified(users));

    it('sends one request per page and verifies every key', async () => {
      const stats = await rec.pollCycle(users, 1, 3);
      expect(live.calls).toBe(7);
      expect(stats).toMatchObject({ usersPolled: 20, requests: 7, errors: 0, disagreements: 0 });
      expect(users.every((u) => engine.key(u, 5)?.lastVerifiedAt === now)).toBe(true);
    });

    it('judges the mass-disagreement guard on the whole cycle, not on one page', async () => {
      // Page by page, the first pages read entirely offline; over the cycle it is half of the believed-online users.
      for (const u of users.slice(0, 10)) live.online.delete(u);
      const stats = await rec.pollCycle(users, 1, 3);
      expect(stats.guarded).toBe(10);
      expect(stats.disagreements).toBe(0);
      expect(rec.guard).toMatchObject({ readOffline: 10, believedOnline: 20 });
    });

    it('judges the users the guard did not hold once the cycle is in', async () => {
      live.online.delete('u3');
      const stats = await rec.pollCycle(users, 1, 3);
      expect(stats.guarded).toBe(0);
      expect(stats.disagreements).toBe(1);
      expect(rec.openDisagreements()).toBe(1);
    });

    it('decides nothing for a failed page and applies the others', async () => {
      live.failingUsers.add('u4');
      live.online.delete('u4');
      live.online.delete('u5');
      const stats = await rec.pollCycle(users, 1, 3);
      expect(stats).toMatchObject({ usersPolled: 17, errors: 1, disagreements: 0 });
      expect(engine.key('u0', 5)?.lastVerifiedAt).toBe(now);
      expect(engine.key('u4', 5)?.lastVerifiedAt).not.toBe(now);
    });

    it('stops taking pages when no request can be sent at all', async () => {
      await rec.close();
      setup({ pagesInFlight: 2 });
      live.noToken = true;
      const stats = await rec.pollCycle(users, 1, 3);
      expect(live.calls).toBe(2);
      expect(stats).toMatchObject({ usersPolled: 0, requests: 0, errors: 2 });
    });
  });

  describe('when many disagreements are confirmed at once', () => {
    it('re-polls them a page at a time and publishes every correction', async () => {
      const users = Array.from({ length: 1200 }, (_, i) => `user-${i}`);
      for (const u of users) live.online.set(u, [5]);
      expect((await rec.pollCycle(users, 1)).disagreements).toBe(1200);
      now += 5000;
      live.calls = 0;
      const stats = await rec.confirm(users);
      expect(live.calls).toBe(3);
      expect(stats).toMatchObject({ usersPolled: 1200, confirmations: 1200, corrections: 1200, errors: 0 });
      expect(rec.openDisagreements()).toBe(0);
      expect(store.readEvents(0, 2000).filter((e) => e.source === 'poll')).toHaveLength(1200);
    });

    it('drops, undecided, the disagreements of users whose confirm page failed', async () => {
      const users = Array.from({ length: 1200 }, (_, i) => `user-${i}`);
      for (const u of users) live.online.set(u, [5]);
      await rec.pollCycle(users, 1);
      now += 5000;
      live.failingUsers.add('user-600');
      const stats = await rec.confirm(users);
      expect(stats).toMatchObject({ usersPolled: 700, corrections: 700, errors: 1 });
      expect(rec.openDisagreements()).toBe(0);
    });
  });

  describe('when thousands of users have keys', () => {
    it('finds every one of them in a sweep', async () => {
      const users = Array.from({ length: 6000 }, (_, i) => `user-${i}`);
      engine.ingest(
        users.map((userID) => {
          const body = { callbackCommand: 'callbackAfterUserOnlineCommand', operationID: `p_${userID}`, platformID: 2, platform: 'Android', userID, seq: now, isAppBackground: false, connID: '' } as const;
          return { webhook: body, body: JSON.stringify(body), receivedAt: now, remoteAddress: '127.0.0.1' };
        }),
      );
      for (const u of users) live.online.set(u, [2]);
      now += 60_000;
      const stats = await rec.pollCycle([...users, 'never-seen'], 1);
      expect(stats).toMatchObject({ usersPolled: 6001, disagreements: 0 });
      expect(users.every((u) => engine.platformIDsOf(u).includes(2) && engine.key(u, 2)?.lastVerifiedAt === now)).toBe(true);
      expect(engine.platformIDsOf('never-seen')).toEqual([]);
    });
  });

  describe('when a confirm poll lands before a younger disagreement is due', () => {
    it('decides only the disagreements at least the confirm delay old and leaves the younger one open', async () => {
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      const firstSeen = now;
      now += 4000;
      // A newer cycle sees a second platform of the same user, whose webhook is still on its way.
      live.online.set('u1', [5, 2]);
      await rec.pollCycle(['u1'], 2);
      now += 1000;
      const stats = await rec.confirm(['u1']);
      expect(stats.corrections).toBe(1);
      expect(events().map((e) => [e.platformID, e.occurredBefore])).toEqual([[5, firstSeen]]);
      expect(rec.openDisagreements()).toBe(1);
      // The webhook arrives; the younger disagreement's own confirm finds a race, not a loss.
      webhook('online', 'u1', 2);
      now += 4000;
      expect((await rec.confirm(['u1'])).corrections).toBe(0);
      expect(events().filter((e) => e.source === 'poll')).toHaveLength(1);
      expect(rec.openDisagreements()).toBe(0);
    });

    it('decides nothing when it runs early, and is confirmed once it is due', async () => {
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      expect(scheduled).toEqual([{ at: now, delayMs: 5000 }]);
      now += 3000;
      expect((await rec.confirm(['u1'])).corrections).toBe(0);
      expect(rec.openDisagreements()).toBe(1);
      // The cycle's own confirm (due at +5 s) still covers it: nothing more is scheduled.
      expect(scheduled).toHaveLength(1);
      now += 2000;
      expect((await rec.confirm(['u1'])).corrections).toBe(1);
    });

    it('schedules the rest of the delay when its own confirm fires early', async () => {
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      const due = now + 5000;
      now += 4990;
      expect((await rec.confirm(['u1'], due)).corrections).toBe(0);
      expect(scheduled.at(-1)).toEqual({ at: now, delayMs: 10 });
      expect(rec.openDisagreements()).toBe(1);
    });
  });

  describe('when a slow gateway makes verified users read offline', () => {
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    beforeEach(() => onlineAndVerified(users));

    it('counts users with a recent online webhook on another platform as suspects', async () => {
      for (const u of users.slice(0, 10)) webhook('online', u, 2);
      now += 1000;
      for (const u of users.slice(0, 10)) live.online.delete(u);
      const stats = await rec.pollCycle(users, 1);
      expect(rec.guard).toMatchObject({ readOffline: 10, believedOnline: 20 });
      expect(stats.guarded).toBe(10);
      expect(rec.openDisagreements()).toBe(0);
    });

    it('does not count users explained by a held offline webhook', async () => {
      for (const u of users.slice(0, 10)) {
        webhook('offline', u, 5);
        live.online.delete(u);
      }
      await rec.pollCycle(users, 1);
      expect(rec.guard).toBeNull();
    });

    it('holds the whole-user offline a confirm poll would correct while the guard holds', async () => {
      // A user who came online by webhook during the stall: never verified, so judged on its own.
      webhook('online', 'late-joiner', 5);
      for (const u of users.slice(0, 10)) live.online.delete(u);
      await rec.pollCycle([...users, 'late-joiner'], 1);
      expect(rec.guard).not.toBeNull();
      now += 11_000; // past the grace window of the late joiner's webhook, inside the hold
      await rec.pollCycle([...users, 'late-joiner'], 2);
      expect(rec.openDisagreements()).toBe(1);
      now += 5000;
      const stats = await rec.confirm(['late-joiner']);
      expect(stats).toMatchObject({ corrections: 0, guarded: 1 });
      expect(rec.openDisagreements()).toBe(1);
      // The gateway answers again: the next cycle agrees and nothing was ever corrected.
      for (const u of users) live.online.set(u, [5]);
      live.online.set('late-joiner', [5]);
      now += 2000;
      await rec.pollCycle([...users, 'late-joiner'], 3);
      expect(rec.guard).toBeNull();
      expect(rec.openDisagreements()).toBe(0);
      expect(events().filter((e) => e.source === 'poll')).toEqual([]);
    });
  });

  describe('when users are online only by webhook', () => {
    it('does not let them raise the mass-disagreement guard', async () => {
      const users = Array.from({ length: 20 }, (_, i) => `fake${i}`);
      for (const u of users) webhook('online', u, 5);
      now += 20_000;
      const stats = await rec.pollCycle(users, 1);
      expect(rec.guard).toBeNull();
      expect(stats).toMatchObject({ guarded: 0, disagreements: 20 });
    });
  });

  describe('during the first-start warm-up', () => {
    it('records users already online as initial_sync, and later ones as missed_online', async () => {
      await rec.close();
      setup({ initialSyncUntil: now + 60_000 });
      live.online.set('u1', [5, 2]);
      await rec.pollCycle(['u1'], 1);
      now += 5000;
      await rec.confirm(['u1']);
      expect(events().map((e) => e.source)).toEqual(['poll', 'poll']);
      expect(store.listMismatches({ limit: 10 }).map((m) => m.kind)).toEqual(['initial_sync', 'initial_sync']);
      // Webhook health does not count them as corrections.
      expect(store.eventCounts(0)).toEqual([]);
      // Its first renewal webhook is not a late webhook: nothing was missed.
      now += 10_000;
      webhook('online', 'u1', 5);
      expect(store.listMismatches({ limit: 10 }).map((m) => m.kind)).toEqual(['initial_sync', 'initial_sync']);
      now += 60_000;
      live.online.set('u2', [5]);
      await rec.pollCycle(['u2'], 2);
      now += 5000;
      await rec.confirm(['u2']);
      expect(store.listMismatches({ limit: 10 })[0]).toMatchObject({ kind: 'missed_online', userID: 'u2' });
    });

    it('records a user read offline first and online later as missed_online', async () => {
      await rec.close();
      setup({ initialSyncUntil: now + 60_000 });
      await rec.pollCycle(['u3'], 1);
      now += 2000;
      live.online.set('u3', [5]);
      await rec.pollCycle(['u3'], 2);
      now += 5000;
      await rec.confirm(['u3']);
      expect(store.listMismatches({ limit: 10 }).map((m) => m.kind)).toEqual(['missed_online']);
    });
  });

  describe('in shadow mode', () => {
    it('records the mismatch once and publishes nothing', async () => {
      await rec.close();
      setup({ mode: 'shadow' });
      live.online.set('u1', [5]);
      await rec.pollCycle(['u1'], 1);
      now += 5000;
      await rec.confirm(['u1']);
      now += 30_000;
      await rec.pollCycle(['u1'], 2);
      now += 5000;
      await rec.confirm(['u1']);
      expect(events()).toHaveLength(0);
      const ms = store.listMismatches({ limit: 10 });
      expect(ms).toHaveLength(1);
      expect(ms[0]).toMatchObject({ kind: 'missed_online', shadow: true, eventSeq: null });
    });
  });
});
