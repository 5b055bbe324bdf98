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
 * Queues items and commits them in small batches; each caller's promise settles after its batch committed (and,
 * with `afterCommit`, once that says so: the next batch commits meanwhile, so waiting for the disk overlaps work).
 * When the queue is full, `submit` throws OPR_ERR_INGEST_OVERLOADED at once instead of growing without bound.
 */
export class GroupCommitter<T, R> {
  private queue: Pending<T, R>[] = [];
  /** The pending flush: a timeout (waiting for more items) or an immediate (a full batch). */
  private timer: { kind: 'timeout'; handle: NodeJS.Timeout } | { kind: 'immediate'; handle: NodeJS.Immediate } | undefined;
  private closed = false;

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

  /** Commits everything queued now, batch by batch. */
  flush(): void {
    this.clearTimer();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      let results: R[];
      try {
        results = this.opts.commit(batch.map((p) => p.item));
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      const answer = (): void => batch.forEach((p, i) => p.resolve(results[i]!));
      if (this.opts.afterCommit) this.opts.afterCommit(answer, (e) => batch.forEach((p) => p.reject(e)));
      else answer();
    }
  }

  /** Stops accepting, commits what is queued. Idempotent. */
  close(): void {
    this.closed = true;
    this.flush();
  }
}
