import { OprError } from '../errors.js';

export interface GroupCommitOptions<T, R> {
  /** Commits a batch synchronously (one transaction) and returns one result per item, in order. */
  commit: (items: T[]) => R[];
  /** Longest an item waits for its batch to start (ms). 0 = next turn of the event loop. */
  maxDelayMs: number;
  /** Most items in one batch. */
  maxBatch: number;
  /** Items waiting beyond this are refused (backpressure). */
  queueLimit: number;
  /**
   * Called after each commit: callers are answered only when it calls `ok` (e.g. once the commit is on disk), or
   * rejected with the error it passes to `fail`. Without it, callers are answered right after the commit.
   */
  afterCommit?: (ok: () => void, fail: (e: Error) => void) => void;
}

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * With `afterCommit`, at most this many committed batches wait for it at a time. The second commits while the first
 * waits (the next fsync covers it), so waiting for the disk overlaps work; anything arriving after that would wait
 * for the same next fsync, so it stays queued and is committed as one batch the moment the oldest is answered, before
 * that next fsync starts (WalSync answers its waiters before it starts the next one). Fewer, larger commits write
 * fewer WAL pages per webhook (the pages every commit rewrites: the tails of the receipts and events and their indexes).
 */
const MAX_AWAITING = 2;

/**
 * Queues items and commits them in small batches; each caller's promise settles after its batch committed (and,
 * with `afterCommit`, once that says so: the next batch commits meanwhile, so waiting for the disk overlaps work).
 * When the queue is full, `submit` throws OPR_ERR_INGEST_OVERLOADED at once instead of growing without bound.
 */
export class GroupCommitter<T, R> {
  private queue: Pending<T, R>[] = [];
  /** The pending flush: a timeout (waiting for more items) or an immediate (a full batch). */
  private timer: { kind: 'timeout'; handle: NodeJS.Timeout } | { kind: 'immediate'; handle: NodeJS.Immediate } | undefined;
  private closed = false;
  /** Committed batches whose afterCommit has not answered yet. */
  private awaiting = 0;
  /** A flush found MAX_AWAITING batches waiting and left the queue for when the oldest is answered. */
  private held = false;

  constructor(private readonly opts: GroupCommitOptions<T, R>) {}

  get depth(): number {
    return this.queue.length;
  }

  submit(item: T): Promise<R> {
    if (this.closed) return Promise.reject(new OprError('OPR_ERR_INGEST_CLOSED', 'shutting down: no more webhooks accepted'));
    if (this.queue.length >= this.opts.queueLimit) {
      return Promise.reject(
        new OprError('OPR_ERR_INGEST_OVERLOADED', `ingest queue full (${this.opts.queueLimit} waiting)`, { queueLimit: this.opts.queueLimit }),
      );
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.opts.maxBatch) this.flushSoon(true);
      else this.flushSoon(false);
    });
  }

  private flushSoon(now: boolean): void {
    if (this.timer !== undefined && !now) return;
    if (this.timer !== undefined) this.clearTimer();
    if (now || this.opts.maxDelayMs === 0) this.timer = { kind: 'immediate', handle: setImmediate(() => this.flush()) };
    else this.timer = { kind: 'timeout', handle: setTimeout(() => this.flush(), this.opts.maxDelayMs) };
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    // Each handle is cleared by its own function: clearImmediate() given a timeout (or the reverse) is not a no-op
    // on every runtime.
    if (this.timer.kind === 'timeout') clearTimeout(this.timer.handle);
    else clearImmediate(this.timer.handle);
    this.timer = undefined;
  }

  /**
   * Commits everything queued now, batch by batch; with `afterCommit`, unless MAX_AWAITING batches wait for it (the
   * queue is then committed as soon as the oldest is answered). `force` commits regardless (closing).
   */
  flush(force = false): void {
    this.clearTimer();
    while (this.queue.length > 0) {
      if (!force && this.opts.afterCommit && this.awaiting >= MAX_AWAITING) {
        this.held = true;
        return;
      }
      const batch = this.queue.splice(0, this.opts.maxBatch);
      let results: R[];
      try {
        results = this.opts.commit(batch.map((p) => p.item));
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      const answer = (): void => batch.forEach((p, i) => p.resolve(results[i]!));
      if (this.opts.afterCommit) {
        this.awaiting++;
        this.opts.afterCommit(
          () => {
            this.awaiting--;
            answer();
            this.resume();
          },
          (e) => {
            this.awaiting--;
            batch.forEach((p) => p.reject(e));
            this.resume();
          },
        );
      } else answer();
    }
  }

  /** After a batch was answered: commits what a flush left queued (synchronously, before the next fsync starts). */
  private resume(): void {
    if (!this.held) return;
    this.held = false;
    this.flush();
  }

  /** Stops accepting, commits what is queued. Idempotent. */
  close(): void {
    this.closed = true;
    this.flush(true);
  }
}
