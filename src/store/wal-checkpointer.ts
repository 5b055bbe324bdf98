import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/**
 * Runs the WAL checkpoints of a SQLite file on a worker thread with its own connection, so the event loop never
 * copies pages into the database file or waits for a checkpoint's fsyncs (with SQLite's automatic checkpoints a
 * commit that crosses `wal_autocheckpoint` does all of that inline, a stall of milliseconds to seconds).
 *
 * The main connection turns automatic checkpoints off. After a commit, a checkpoint is due within `intervalMs`; the
 * worker runs `wal_checkpoint(PASSIVE)`, which never blocks the writer. SQLite restarts the WAL from its start only
 * once every frame was copied back, which cannot happen while commits keep arriving during the worker's copy, so
 * when the worker reports frames it could not reach, the main connection copies that short remainder itself (most
 * pages are already in the database file by then) and the next commit restarts the WAL: its size stays bounded.
 *
 * If the worker cannot start or fails, the main connection goes back to SQLite's automatic checkpoints.
 */
export interface WalCheckpointerOptions {
  /** Delay from the first commit after a checkpoint to the next checkpoint. Default 500 ms. */
  intervalMs?: number;
  /** Called once if the worker fails (automatic checkpoints are back on by then). */
  onFailure?: (err: Error) => void;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const closed = new Int32Array(workerData.closed);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = FULL');
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)');
      parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
    } catch (e) {
      parentPort.postMessage({ ok: false, error: String((e && e.message) || e) });
    }
  } else if (m === 'close') {
    try { db.close(); } finally { Atomics.store(closed, 0, 1); Atomics.notify(closed, 0); parentPort.close(); }
  }
});
`;

interface CheckpointAnswer {
  ok: boolean;
  busy?: number;
  log?: number;
  checkpointed?: number;
  error?: string;
}

/** SQLite's default `wal_autocheckpoint`, restored when the worker is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

export class WalCheckpointer {
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writesSinceCheckpoint = false;
  private running = false;
  private failed = false;
  private closed = false;
  private readonly closedFlag = new SharedArrayBuffer(4);
  private readonly intervalMs: number;
  /** Checkpoints the worker completed (for tests and metrics). */
  completed = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    private readonly opts: WalCheckpointerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 500;
    db.pragma('wal_autocheckpoint = 0');
  }

  /** Called after every write transaction committed. */
  noteCommit(): void {
    if (this.failed || this.closed) return;
    this.writesSinceCheckpoint = true;
    if (this.timer === undefined && !this.running) this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.run(), this.intervalMs);
    this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    if (this.failed || this.closed) return;
    this.writesSinceCheckpoint = false;
    this.running = true;
    try {
      this.worker ??= this.spawn();
      this.worker.postMessage('checkpoint');
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private spawn(): Worker {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: this.path, closed: this.closedFlag } });
    w.on('message', (a: CheckpointAnswer) => this.answered(a));
    w.on('error', (e) => this.fail(e));
    w.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`checkpoint worker exited with code ${code}`));
    });
    // After the listeners: adding a message listener refs the worker again.
    w.unref();
    return w;
  }

  private answered(a: CheckpointAnswer): void {
    this.running = false;
    if (this.closed) return;
    if (!a.ok) {
      this.fail(new Error(a.error ?? 'checkpoint failed'));
      return;
    }
    this.completed++;
    // Frames committed while the worker copied: copy that remainder here, so the next commit restarts the WAL.
    if (this.writesSinceCheckpoint || (a.checkpointed ?? 0) < (a.log ?? 0)) {
      this.db.pragma('wal_checkpoint(PASSIVE)');
      this.schedule();
    }
  }

  private fail(err: Error): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    void this.worker?.terminate();
    this.worker = undefined;
    this.opts.onFailure?.(err);
  }

  /** Stops checkpointing and closes the worker's connection (waits for a running checkpoint, at most 10 s). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.worker;
    if (w === undefined) return;
    w.postMessage('close');
    Atomics.wait(new Int32Array(this.closedFlag), 0, 0, 10_000);
    void w.terminate();
  }
}
