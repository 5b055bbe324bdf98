/**
 * The simulator's clock: simulated time runs `speed` times faster than real time, and every scheduled callback runs
 * at exactly its scheduled simulated time (a paced discrete-event clock). While a callback runs, `now()` is its
 * scheduled time, so whatever it computes (webhook `seq`, Redis expiries, workload events) depends only on the
 * schedule and not on how late the real timer fired: a run is reproducible from its seed.
 *
 * Between callbacks `now()` follows real time, but never passes a callback that is due and has not run yet, and
 * never goes backwards. Simulated time is in whole milliseconds, like Go's `time.Now().UnixMilli()`.
 */
export interface SimTimer {
  cancel(): void;
}

export interface SimClockOptions {
  /** Simulated milliseconds per real millisecond (60 = one simulated minute per real second). */
  speed: number;
  /** Simulated time at start, ms since the epoch. */
  startTime: number;
  /** Real time source in ms (monotonic); injectable for tests. */
  realNow?: () => number;
}

interface Entry {
  time: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/** How long one burst of due callbacks may hold the event loop before it yields to I/O. */
const MAX_BURST_REAL_MS = 25;

export class SimClock {
  readonly speed: number;
  readonly startTime: number;
  private readonly realNow: () => number;
  private realStart: number | undefined;
  private readonly heap: Entry[] = [];
  private order = 0;
  private last: number;
  private current: number | undefined;
  private handle: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private armedFor = Infinity;
  private closed = false;

  constructor(options: SimClockOptions) {
    this.speed = options.speed;
    this.startTime = Math.floor(options.startTime);
    this.realNow = options.realNow ?? (() => performance.now());
    this.last = this.startTime;
  }

  /**
   * Starts the clock: until then it stands at `startTime`, so everything set up before (tickers, initial
   * connections) is placed at exactly that time, whatever the setup cost in real time.
   */
  start(): void {
    if (this.realStart !== undefined || this.closed) return;
    this.realStart = this.realNow();
    this.arm();
  }

  /** Current simulated time in ms since the epoch. */
  now(): number {
    if (this.current !== undefined) return this.current;
    const top = this.peek();
    const t = Math.min(Math.floor(this.realDerived()), top === undefined ? Infinity : top.time);
    if (t > this.last) this.last = t;
    return this.last;
  }

  /** Simulated ms since the clock started. */
  elapsed(): number {
    return this.now() - this.startTime;
  }

  /** Runs `fn` at simulated time `time`, rounded to the ms (at once, in order, if it is already past). */
  at(time: number, fn: () => void): SimTimer {
    const entry: Entry = { time: Math.max(Math.round(time), this.now()), order: this.order++, fn, cancelled: false };
    if (this.closed) {
      entry.cancelled = true;
      return { cancel: () => undefined };
    }
    this.push(entry);
    this.arm();
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Runs `fn` after `ms` simulated milliseconds. */
  after(ms: number, fn: () => void): SimTimer {
    return this.at(this.now() + Math.max(0, ms), fn);
  }

  /**
   * Runs `fn` at `firstAt`, then every `periodMs` after that scheduled time (not after the real firing time), until
   * cancelled.
   */
  every(periodMs: number, fn: (time: number) => void, firstAt = this.now() + periodMs): SimTimer {
    let cancelled = false;
    let timer: SimTimer | undefined;
    const schedule = (t: number): void => {
      timer = this.at(t, () => {
        if (cancelled) return;
        schedule(t + periodMs);
        fn(t);
      });
    };
    schedule(firstAt);
    return {
      cancel: () => {
        cancelled = true;
        timer?.cancel();
      },
    };
  }

  /** Resolves after `ms` simulated milliseconds. */
  delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Stops every pending callback; later schedules are ignored. */
  close(): void {
    this.closed = true;
    for (const e of this.heap) e.cancelled = true;
    this.heap.length = 0;
    if (this.handle !== undefined) clearTimeout(this.handle);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.handle = undefined;
    this.immediate = undefined;
  }

  /** Number of scheduled callbacks not yet run (cancelled ones may still be counted until they reach the top). */
  pending(): number {
    return this.heap.length;
  }

  private realDerived(): number {
    if (this.realStart === undefined) return this.startTime;
    return this.startTime + (this.realNow() - this.realStart) * this.speed;
  }

  private peek(): Entry | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0];
  }

  private arm(): void {
    if (this.closed || this.immediate !== undefined || this.realStart === undefined) return;
    const top = this.peek();
    if (top === undefined) {
      if (this.handle !== undefined) clearTimeout(this.handle);
      this.handle = undefined;
      this.armedFor = Infinity;
      return;
    }
    if (this.handle !== undefined && this.armedFor <= top.time) return;
    if (this.handle !== undefined) clearTimeout(this.handle);
    const realDelay = Math.max(0, (top.time - this.realDerived()) / this.speed);
    this.armedFor = top.time;
    this.handle = setTimeout(() => this.run(), Math.ceil(realDelay));
    this.handle.unref();
  }

  private run(): void {
    this.handle = undefined;
    this.immediate = undefined;
    this.armedFor = Infinity;
    if (this.closed) return;
    const burstStart = this.realNow();
    for (;;) {
      const top = this.peek();
      if (top === undefined || top.time > this.realDerived()) break;
      if (this.realNow() - burstStart > MAX_BURST_REAL_MS) {
        this.immediate = setImmediate(() => this.run());
        this.immediate.unref();
        return;
      }
      this.pop();
      if (top.time > this.last) this.last = top.time;
      this.current = top.time;
      try {
        top.fn();
      } finally {
        this.current = undefined;
      }
      if (this.closed) return;
    }
    this.arm();
  }

  private less(x: Entry, y: Entry): boolean {
    return x.time < y.time || (x.time === y.time && x.order < y.order);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
