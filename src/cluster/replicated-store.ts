/**
 * The store of a replica with the Redis backend (docs/architecture.md, the Redis backend): the replica's local
 * SQLite copy, whose every write is also a line of the shared log in Redis.
 *
 * The writer (the replica holding the lease) runs the services as with one node; each local transaction's writes
 * (the role methods called, their arguments and results) are recorded as one log entry and appended to the shared
 * log by a fenced Lua script (`RedisLog.append`), in commit order. A commit counts as durable (`whenDurable`, what
 * acknowledges webhooks and publishes events) only once it is both on the local disk and in Redis, and readers of
 * the event log never see past what Redis holds. The followers apply the same entries to their own copy
 * (`LogFollower`) and check every result: the copies stay identical, ids and seqs included.
 *
 * On a follower every write is refused with OPR_ERR_NOT_LEADER. A failed append that is not a dropped connection
 * (the lease was taken over, or the log moved on without this replica) is fatal: the local copy may then hold
 * commits the cluster does not, and it is rebuilt from Redis at the next start.
 */
import { OprError } from '../errors.js';
import { backoffCeiling } from '../util/backoff.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';

/** The role methods that write: what is recorded and replayed. Every other Store method only reads. */
export const WRITE_METHODS = [
  'insertReceipt',
  'setReceiptEffect',
  'upsertKey',
  'setUserVersion',
  'firstStartedAt',
  'appendEvent',
  'insertMismatch',
  'updateMismatch',
  'insertPollRun',
  'updatePollRun',
  'insertPollObservation',
  'trackUsers',
  'putSubscriberCursor',
  'insertIncident',
  'updateIncident',
  'assignMismatches',
  'setIncidentMismatchStatus',
  'expireUnreviewed',
  'pruneIncidents',
  'prune',
  'pruneStep',
] as const satisfies readonly (keyof Store)[];

export type WriteMethod = (typeof WRITE_METHODS)[number];
const WRITES: ReadonlySet<string> = new Set(WRITE_METHODS);

/** One recorded write: the method, its arguments and what it returned. */
export type LogOp = [method: WriteMethod, args: unknown[], result: unknown];

/** One entry of the shared log: the writes of one local transaction. */
export interface LogEntry {
  /** Commit id: `<fencing token>:<n>`, unique across the cluster. */
  c: string;
  ops: LogOp[];
}

/** An entry as stored: its position `n` (1, 2, …), commit id and JSON. */
export interface StoredEntry {
  n: number;
  c: string;
  json: string;
}

/** Where the local copy stands in the shared log: the last entry applied (`meta` key `replication`). */
export interface ReplicationMark {
  n: number;
  c: string;
}

export const MARK_KEY = 'replication';
export const CLUSTER_ID_KEY = 'cluster_id';

export function readMark(store: SqliteStore): ReplicationMark {
  const raw = store.getMeta(MARK_KEY);
  if (raw === undefined) return { n: 0, c: '' };
  return JSON.parse(raw) as ReplicationMark;
}

/** Appends entries to the shared log (`RedisLog.append`), given the lease value that fences them. */
export interface LogAppender {
  append(
    leaseValue: string,
    expectedHead: number,
    entries: readonly StoredEntry[],
    inboxCursor: string | undefined,
  ): Promise<number>;
}

interface Queued extends StoredEntry {
  inbox: string | undefined;
  /** The highest event seq this entry appended (0 when none). */
  maxSeq: number;
}

interface Waiter {
  target: number;
  ok: () => void;
  fail: (e: Error) => void;
}

/** Whether an append failed for a reason a retry can fix (a dropped connection, a timeout). */
function isTransient(e: unknown): boolean {
  const msg = (e as Error).message ?? '';
  return !(msg.startsWith('FENCED') || msg.startsWith('CONFLICT'));
}

export class ReplicatedStore {
  /** The store the services use: the local copy, its writes recorded (and refused while following). */
  readonly store: Store;
  private leaseValue: string | undefined;
  private token = '';
  private depth = 0;
  private ops: LogOp[] = [];
  private commitMaxSeq = 0;
  /** The inbox position the next commit consumes up to (set by the webhook inbox). */
  private nextInbox: string | undefined;
  /** The log position of the last recorded commit, and of the last one Redis holds. */
  private recordedN = 0;
  private appendedN = 0;
  /** The highest event seq Redis holds (what readers may see). */
  private appendedSeq = Number.MAX_SAFE_INTEGER;
  private readonly queue: Queued[] = [];
  private readonly waiters: Waiter[] = [];
  private pumping = false;
  private failure: Error | undefined;
  private bytesAppended = 0;

  constructor(
    private readonly inner: SqliteStore,
    private readonly appender: LogAppender,
    private readonly hooks: {
      /** A failure after which this replica must stop (lease lost, log diverged). */
      onFatal: (e: Error) => void;
      /** Told when appends start failing transiently (they are retried), and when they work again (null). */
      onAppendTrouble?: (e: Error | null) => void;
    },
  ) {
    this.store = this.makeProxy();
  }

  get isLeader(): boolean {
    return this.leaseValue !== undefined;
  }

  /** The highest event seq readers may see (every seq while following: the follower applies only what Redis holds). */
  visibleLimit(): number {
    return this.appendedSeq;
  }

  /** Bytes of log entries this writer appended so far (what the log grew by). */
  get appendedBytes(): number {
    return this.bytesAppended;
  }

  /** The log position of the last commit Redis holds (the writer's). */
  get appendedPosition(): number {
    return this.appendedN;
  }

  /** Resolves once every commit recorded so far is in Redis, or appending failed (shutdown). */
  flushed(): Promise<void> {
    if (this.failure || this.appendedN >= this.recordedN) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target: this.recordedN, ok: resolve, fail: () => resolve() }));
  }

  /**
   * Becomes the writer: `leaseValue` fences every append, starting after the log position the local copy is at
   * (caught up with Redis by the caller, under the lease).
   */
  lead(leaseValue: string, fencingToken: string): void {
    const mark = readMark(this.inner);
    this.leaseValue = leaseValue;
    this.token = fencingToken;
    this.recordedN = this.appendedN = mark.n;
    this.appendedSeq = this.inner.committedSeq();
  }

  /** The inbox position the next commit consumes up to: appended with it, atomically. */
  consumeInboxWith(cursor: string): void {
    this.nextInbox = cursor;
  }

  /** Stops recording (shutdown): nothing more is written. */
  fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const w of this.waiters.splice(0)) w.fail(e);
  }

  private makeProxy(): Store {
    const inner = this.inner;
    const cache = new Map<PropertyKey, unknown>();
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        const cached = cache.get(prop);
        if (cached !== undefined) return cached;
        let value: unknown;
        if (prop === 'transaction') value = <T>(fn: () => T): T => this.transaction(fn);
        else if (prop === 'whenDurable')
          value = (ok: () => void, fail: (e: Error) => void): void => this.whenDurable(ok, fail);
        else if (prop === 'durable')
          value = (): Promise<void> => new Promise((resolve, reject) => this.whenDurable(resolve, reject));
        else if (prop === 'firstStartedAt') value = (now: number): number => this.firstStartedAt(now);
        else if (typeof prop === 'string' && WRITES.has(prop))
          value = (...args: unknown[]): unknown => this.write(prop as WriteMethod, args);
        else {
          const v = Reflect.get(target, prop, receiver) as unknown;
          value = typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          if (typeof v !== 'function') return v;
        }
        cache.set(prop, value);
        return value;
      },
    });
  }

  private notLeader(method: string): OprError {
    return new OprError('OPR_ERR_NOT_LEADER', `this replica does not hold the writer lease: ${method} refused`, {
      method,
    });
  }

  private transaction<T>(fn: () => T): T {
    if (this.depth > 0) {
      const mark = this.ops.length;
      try {
        return this.inner.transaction(fn);
      } catch (e) {
        this.ops.length = mark;
        throw e;
      }
    }
    this.depth++;
    let entry: Queued | undefined;
    try {
      const result = this.inner.transaction(() => {
        const r = fn();
        if (this.ops.length > 0) {
          const n = this.recordedN + 1;
          const c = `${this.token}:${n}`;
          entry = {
            n,
            c,
            json: JSON.stringify({ c, ops: this.ops } satisfies LogEntry),
            inbox: this.nextInbox,
            maxSeq: this.commitMaxSeq,
          };
          this.inner.setMeta(MARK_KEY, JSON.stringify({ n, c } satisfies ReplicationMark));
        }
        return r;
      });
      if (entry) {
        this.recordedN = entry.n;
        this.nextInbox = undefined;
        this.queue.push(entry);
        void this.pump();
      }
      return result;
    } finally {
      this.depth--;
      this.ops = [];
      this.commitMaxSeq = 0;
    }
  }

  private write(method: WriteMethod, args: unknown[]): unknown {
    if (!this.isLeader) throw this.notLeader(method);
    if (this.failure) throw this.failure;
    if (this.depth === 0) return this.transaction(() => this.write(method, args));
    const result = (this.inner[method] as (...a: unknown[]) => unknown)(...args);
    this.ops.push([method, args, result === undefined ? null : result]);
    if (method === 'appendEvent') this.commitMaxSeq = Math.max(this.commitMaxSeq, result as number);
    return result;
  }

  /** A follower answers from its copy without writing: the writer records the value (the same on every copy). */
  private firstStartedAt(now: number): number {
    return this.isLeader ? (this.write('firstStartedAt', [now]) as number) : this.inner.peekFirstStartedAt(now);
  }

  private whenDurable(ok: () => void, fail: (e: Error) => void): void {
    if (this.failure) {
      fail(this.failure);
      return;
    }
    const target = this.recordedN;
    this.inner.whenDurable(() => {
      if (this.failure) fail(this.failure);
      else if (this.appendedN >= target) ok();
      else this.waiters.push({ target, ok, fail });
    }, fail);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    /** Failed appends in a row (retried after a backoff). */
    let failures = 0;
    try {
      while (this.queue.length > 0 && !this.failure && this.leaseValue !== undefined) {
        const batch = this.queue.slice(0, 200);
        const inbox = batch.reduce<string | undefined>((at, e) => e.inbox ?? at, undefined);
        try {
          await this.appender.append(this.leaseValue, batch[0]!.n - 1, batch, inbox);
        } catch (e) {
          if (!isTransient(e)) {
            const err = new OprError(
              (e as Error).message.startsWith('FENCED') ? 'OPR_ERR_LEASE_LOST' : 'OPR_ERR_REPLICA_DIVERGED',
              `the shared log refused this replica's commits: ${(e as Error).message}`,
              {},
              { cause: e },
            );
            this.fail(err);
            this.hooks.onFatal(err);
            return;
          }
          if (++failures === 1) this.hooks.onAppendTrouble?.(e as Error);
          await new Promise<void>((r) => setTimeout(r, backoffCeiling(failures, 20, 1000)));
          continue;
        }
        if (failures > 0) this.hooks.onAppendTrouble?.(null);
        failures = 0;
        this.queue.splice(0, batch.length);
        this.appendedN = batch[batch.length - 1]!.n;
        for (const e of batch) {
          if (e.maxSeq > 0) this.appendedSeq = e.maxSeq;
          this.bytesAppended += e.json.length;
        }
        const ready = this.waiters.filter((w) => w.target <= this.appendedN);
        if (ready.length > 0) {
          this.waiters.splice(0, this.waiters.length, ...this.waiters.filter((w) => w.target > this.appendedN));
          for (const w of ready) w.ok();
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
