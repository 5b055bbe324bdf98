import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { OprError } from '../errors.js';

/**
 * Makes commits durable with an fsync of the WAL file on libuv's thread pool instead of inside each commit.
 *
 * The connection commits with `synchronous=NORMAL`: the commit writes its WAL frames and returns without waiting for
 * the disk. Every commit is then reported here, and one fsync of the WAL file at a time runs in the background; when it
 * returns, every commit reported before it started is on disk, exactly as if it had been committed with
 * `synchronous=FULL`. Meanwhile the event loop goes on parsing requests and committing the next batch, so the disk
 * wait overlaps the work instead of stopping it (a pipelined group commit).
 *
 * Nothing may be acknowledged or shown before it is durable: callers wait with `whenDurable`, whose callbacks run in
 * the order they were registered, and readers of the event log stop at `durableSeq`.
 *
 * If an fsync fails, the data it covered may be lost without a trace (the kernel may drop the dirty pages), so the
 * failure is permanent: every waiter, now and later, gets OPR_ERR_STORE_SYNC.
 */
export class WalSync {
  private fd: number | undefined;
  private committedGen = 0;
  private syncedGen = 0;
  private inFlight = false;
  private closed = false;
  private failure: OprError | undefined;
  private latestSeq: number;
  private syncedSeq: number;
  private readonly waiters: { gen: number; ok: () => void; fail: (e: Error) => void }[] = [];

  constructor(
    private readonly walPath: string,
    /** The last event seq already on disk when the store opened. */
    headSeq: number,
    private readonly onFailure?: (err: OprError) => void,
  ) {
    this.latestSeq = headSeq;
    this.syncedSeq = headSeq;
  }

  /** The last event seq known to be on disk. */
  get durableSeq(): number {
    return this.syncedSeq;
  }

  /** Reports a commit; `seq` is the event log's head after it. Starts an fsync if none is running. */
  committed(seq: number): void {
    this.committedGen++;
    this.latestSeq = seq;
    this.kick();
  }

  /** Runs `ok` once every commit reported so far is on disk (at once if it already is), `fail` if it cannot be. */
  whenDurable(ok: () => void, fail: (e: Error) => void): void {
    if (this.failure) {
      fail(this.failure);
      return;
    }
    // Nothing pending and nobody queued ahead: at once, which keeps the order of callbacks.
    if (this.syncedGen >= this.committedGen && this.waiters.length === 0) {
      ok();
      return;
    }
    this.waiters.push({ gen: this.committedGen, ok, fail });
  }

  private kick(): void {
    if (this.inFlight || this.failure || this.closed || this.syncedGen >= this.committedGen) return;
    const gen = this.committedGen;
    const seq = this.latestSeq;
    try {
      this.fd ??= openSync(this.walPath, 'r');
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.inFlight = true;
    fsync(this.fd, (err) => {
      this.inFlight = false;
      if (this.closed) {
        this.closeFd();
        return;
      }
      if (err) {
        this.fail(err);
        return;
      }
      this.synced(gen, seq);
      this.kick();
    });
  }

  private synced(gen: number, seq: number): void {
    this.syncedGen = gen;
    this.syncedSeq = seq;
    let thrown: Error | undefined;
    while (this.waiters.length > 0 && this.waiters[0]!.gen <= gen) {
      const w = this.waiters.shift()!;
      try {
        w.ok();
      } catch (e) {
        thrown ??= e instanceof Error ? e : new Error(String(e));
      }
    }
    // Every waiter ran; a callback's own error still surfaces.
    if (thrown !== undefined) throw thrown;
  }

  private fail(cause: Error): void {
    if (this.failure) return;
    this.failure = new OprError('OPR_ERR_STORE_SYNC', `cannot make the database durable: fsync of ${this.walPath} failed: ${cause.message}`, { path: this.walPath }, { cause });
    for (const w of this.waiters.splice(0)) w.fail(this.failure);
    this.onFailure?.(this.failure);
  }

  /** Makes everything committed durable (synchronously) and releases the file; waiters run before it returns. */
  close(): void {
    if (this.closed) return;
    if (!this.failure && this.syncedGen < this.committedGen) {
      try {
        this.fd ??= openSync(this.walPath, 'r');
        fsyncSync(this.fd);
        this.synced(this.committedGen, this.latestSeq);
      } catch (e) {
        this.fail(e as Error);
      }
    }
    this.closed = true;
    // A background fsync still owns the descriptor: it is closed when that returns.
    if (!this.inFlight) this.closeFd();
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
