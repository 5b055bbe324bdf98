/**
 * Keeps a follower's local copy in step with the shared log: reads the entries after the one it applied last
 * (blocking on its own connection while there are none), applies each entry's writes to the local SQLite store in
 * one transaction with the new replication mark, and checks that every write returns what it returned on the writer
 * (ids and seqs included); a difference is fatal (OPR_ERR_REPLICA_DIVERGED). What was applied is reported once on
 * disk: its events go to the replica's event bus (its SSE clients), its key states to the replica's engine cache.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { KeyState, NewPresenceEvent, PresenceEvent } from '../domain.js';
import { OprError } from '../errors.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import { BackgroundLoop } from './background-loop.js';
import type { RedisLog } from './redis-log.js';
import type { LogEntry, ReplicationMark, StoredEntry } from './replicated-store.js';
import { MARK_KEY, readMark, WRITE_METHODS } from './replicated-store.js';

export interface Applied {
  events: PresenceEvent[];
  keys: KeyState[];
  versions: [userID: string, version: number][];
}

export interface LogFollowerDeps {
  store: SqliteStore;
  log: RedisLog;
  /** A connection of its own (XREAD BLOCK holds it). */
  blocking: Redis;
  onApplied: (a: Applied) => void;
  onFatal: (e: Error) => void;
  logger: Logger;
  /** Longest a read waits for a new entry (ms): also how long `stop` may take. */
  blockMs?: number;
}

const BATCH = 500;
/**
 * Most writes applied in one local transaction: an entry holds a whole batch of the writer's (up to
 * webhook.commitMaxBatch webhooks, several writes each), so a follower catching up applies a few entries per
 * transaction and lets the event loop run between them (its SSE clients and API) instead of one long stall.
 */
const MAX_OPS_PER_STEP = 2000;
const WRITES: ReadonlySet<string> = new Set(WRITE_METHODS);

export class LogFollower {
  private appliedN: number;
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  private readonly loop: BackgroundLoop;

  constructor(private readonly deps: LogFollowerDeps) {
    this.appliedN = readMark(deps.store).n;
    this.loop = new BackgroundLoop({
      step: () => this.step(),
      what: 'reading the shared log',
      logger: deps.logger,
      baseMs: 50,
      maxMs: 2000,
    });
  }

  /** The position of the last entry applied. */
  get applied(): number {
    return this.appliedN;
  }

  /** Applies every entry the log holds now (without waiting for more). */
  async catchUp(): Promise<void> {
    for (;;) {
      const entries = await this.deps.log.range(this.appliedN, BATCH);
      if (entries.length === 0) return;
      await this.applyInSteps(entries);
    }
  }

  /** Follows the log until `stop`. */
  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Resolves once the entry at `n` is applied, or after `timeoutMs` (whichever comes first). */
  waitFor(n: number, timeoutMs: number): Promise<void> {
    if (this.appliedN >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { n, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      }, timeoutMs).unref();
    });
  }

  /** One step of following: the entries after the last applied (waiting a while for one), applied. */
  private async step(): Promise<'stop' | undefined> {
    const entries = await this.deps.log.next(this.deps.blocking, this.appliedN, BATCH, this.deps.blockMs ?? 500);
    if (entries.length === 0) return;
    try {
      await this.applyInSteps(entries);
    } catch (e) {
      this.deps.onFatal(e as Error);
      return 'stop';
    }
  }

  /** Applies entries a few at a time (at most MAX_OPS_PER_STEP writes per transaction), yielding between steps. */
  private async applyInSteps(stored: readonly StoredEntry[]): Promise<void> {
    const parsed = stored.map((s) => ({ stored: s, entry: JSON.parse(s.json) as LogEntry }));
    let from = 0;
    while (from < parsed.length) {
      let to = from + 1;
      let ops = parsed[from]!.entry.ops.length;
      while (to < parsed.length && ops + parsed[to]!.entry.ops.length <= MAX_OPS_PER_STEP)
        ops += parsed[to++]!.entry.ops.length;
      this.apply(parsed.slice(from, to));
      from = to;
      if (from < parsed.length) await new Promise((r) => setImmediate(r));
    }
  }

  /** Applies entries in one local transaction; throws OPR_ERR_REPLICA_DIVERGED when a write's result differs. */
  private apply(entries: readonly { stored: StoredEntry; entry: LogEntry }[]): void {
    const store = this.deps.store;
    const applied: Applied = { events: [], keys: [], versions: [] };
    let mark: ReplicationMark | undefined;
    store.transaction(() => {
      for (const { stored, entry } of entries) {
        if (stored.n !== (mark?.n ?? this.appliedN) + 1) {
          throw new OprError(
            'OPR_ERR_REPLICA_DIVERGED',
            `the shared log skips from ${mark?.n ?? this.appliedN} to ${stored.n}`,
            { n: stored.n },
          );
        }
        for (const [method, args, recorded] of entry.ops) {
          if (!WRITES.has(method))
            throw new OprError('OPR_ERR_REPLICA_DIVERGED', `entry ${stored.n} has an unknown write ${method}`, {
              n: stored.n,
            });
          const result = (store[method] as (...a: unknown[]) => unknown)(...args) ?? null;
          if (JSON.stringify(result) !== JSON.stringify(recorded)) {
            throw new OprError(
              'OPR_ERR_REPLICA_DIVERGED',
              `entry ${stored.n} (${entry.c}): ${method} returned ${JSON.stringify(result)} here, ${JSON.stringify(recorded)} on the writer`,
              { n: stored.n, method },
            );
          }
          if (method === 'appendEvent')
            applied.events.push({ ...(args[0] as NewPresenceEvent), seq: result as number });
          else if (method === 'upsertKey') applied.keys.push(args[0] as KeyState);
          else if (method === 'setUserVersion') applied.versions.push([args[0] as string, args[1] as number]);
        }
        mark = { n: stored.n, c: stored.c };
      }
      if (mark) store.setMeta(MARK_KEY, JSON.stringify(mark));
    });
    if (!mark) return;
    this.appliedN = mark.n;
    store.whenDurable(
      () => this.deps.onApplied(applied),
      (err) => this.deps.onFatal(err),
    );
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.n <= this.appliedN) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }
}
