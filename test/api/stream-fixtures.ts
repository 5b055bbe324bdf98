/** Helpers shared by the stream, presence, push, client and CLI tests: producing events fast and reading streams. */
import { createServer } from 'node:net';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { PresenceEventJson } from '../../src/domain.js';

/** Users the helpers toggle, `u0` … `u<n-1>`, all on platform 5 (Web). */
export function userIDs(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `u${i}`);
}

/**
 * Commits `count` stream events through the engine (corrections, one transaction per round over distinct users),
 * each flipping its key, so the stream alternates per key. Resolves once they are durable (visible to subscribers).
 */
export function produce(d: Pick<Daemon, 'engine' | 'store'>, count: number, users: readonly string[] = userIDs(10)): Promise<void> {
  let left = count;
  while (left > 0) {
    const round = users.slice(0, Math.min(left, users.length));
    const now = Date.now();
    const res = d.engine.correct(
      round.map((userID) => ({
        userID,
        platformID: 5,
        toOnline: !(d.engine.key(userID, 5)?.online ?? false),
        occurredAfter: now - 1000,
        occurredBefore: now,
        pollAt: now,
        evidence: [],
      })),
    );
    left -= res.events;
  }
  return d.store.durable();
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 10 ms until it is true or `ms` passes (then throws with `what`). */
export async function waitUntil(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A TCP port that was free a moment ago (for restarting a daemon on the same address). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Asserts-friendly view of a list of seqs: the first index where it is not `from, from+1, …`, or -1. */
export function firstBreak(seqs: readonly number[], from: number): number {
  for (let i = 0; i < seqs.length; i++) if (seqs[i] !== from + i) return i;
  return -1;
}

/** The state of every key after applying events in order (each event sets its key to its type). */
export function applyEvents(state: Map<string, boolean>, events: readonly PresenceEventJson[]): Map<string, boolean> {
  for (const e of events) state.set(`${e.userID}|${e.platformID}`, e.type === 'presence.online');
  return state;
}

export interface PageAnswer {
  events: PresenceEventJson[];
  next: number;
  head: number;
}

/** Every event after `after` through the JSON pages. */
export async function readAllEvents(apiUrl: string, after = 0, query = ''): Promise<PresenceEventJson[]> {
  const out: PresenceEventJson[] = [];
  let cursor = after;
  for (;;) {
    const res = await fetch(`${apiUrl}/v1/events?after=${cursor}&limit=1000${query}`);
    const page = (await res.json()) as PageAnswer;
    out.push(...page.events);
    if (page.next >= page.head) return out;
    cursor = page.next;
  }
}
