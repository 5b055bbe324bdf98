import type { WorkloadOptions } from './options.js';
import type { Connection, PresenceModel } from './presence-model.js';
import type { Prng } from './prng.js';
import type { SimClock, SimTimer } from './sim-clock.js';

/** Platform mix of new connections (platformID → weight). */
const PLATFORM_WEIGHTS: readonly (readonly [number, number])[] = [
  [2, 34], // Android
  [1, 28], // IOS
  [5, 14], // Web
  [3, 8], // Windows
  [4, 4], // OSX
  [9, 3], // IPad
  [6, 3], // MiniWeb
  [7, 2], // Linux
  [8, 2], // APad
  [11, 2], // HarmonyOS
];
const TOTAL_WEIGHT = PLATFORM_WEIGHTS.reduce((s, [, w]) => s + w, 0);

/** Workload steps: each simulated second draws that second's events and places them at random offsets in it. */
const STEP_MS = 1000;
/** A second device follows the first within this simulated window. */
const SECOND_DEVICE_WINDOW_MS = 5000;
/** An old socket replaced by a reconnect times out up to this much later. */
const OLD_SOCKET_TIMEOUT_MS = 30_000;

/** What the workload may do to the presence model; the simulator implements it (and sends the states). */
export interface WorkloadActions {
  model: PresenceModel;
  /** Gateways not crashed. */
  aliveGateways(): number[];
  connect(user: number, platformID: number, gateway: number): Connection;
  disconnect(conn: Connection): void;
  /** Registers a connection made before the run started (no state pushed), last pushed at `pushedAt`. */
  seedConnection(user: number, platformID: number, gateway: number, pushedAt: number): void;
}

export function pickPlatform(rng: Prng): number {
  let r = rng.int(TOTAL_WEIGHT);
  for (const [p, w] of PLATFORM_WEIGHTS) {
    if (r < w) return p;
    r -= w;
  }
  return 2;
}

/**
 * The seeded churn generator: Poisson session arrivals over uniformly chosen users, exponential connection
 * lifetimes, second devices, two connections on one platform, reconnect storms and reconnects after a crash.
 * Every decision comes from its own PRNG stream and happens at a scheduled simulated time, so a run is reproducible
 * from the seed.
 */
export class Workload {
  private readonly o: WorkloadOptions;
  private readonly rng: Prng;
  private readonly clock: SimClock;
  private readonly actions: WorkloadActions;
  private readonly connectRate: number;
  private readonly stopAt: number;
  private stepTimer: SimTimer | undefined;
  /** Events already drawn for the current step (cancelled on pause). */
  private readonly scheduled = new Set<SimTimer>();
  private paused: boolean;
  private closed = false;

  constructor(options: WorkloadOptions, rng: Prng, clock: SimClock, actions: WorkloadActions) {
    this.o = options;
    this.rng = rng;
    this.clock = clock;
    this.actions = actions;
    const users = actions.model.userCount;
    this.connectRate = options.connectRatePerSec ?? (users * options.onlineFraction) / (options.sessionMeanMs / 1000);
    this.stopAt = options.durationMs === undefined ? Infinity : clock.now() + options.durationMs;
    this.paused = options.paused;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Connects the initial share of users silently (they were online before the run) and starts the churn. */
  start(): void {
    const { model } = this.actions;
    const alive = this.actions.aliveGateways();
    const now = this.clock.now();
    if (alive.length > 0 && this.o.onlineFraction > 0) {
      for (let user = 1; user <= model.userCount; user++) {
        if (!this.rng.chance(this.o.onlineFraction)) continue;
        const gateway = alive[this.rng.int(alive.length)]!;
        // Last pushed somewhere in the 10 minutes before the run, so renewals spread over the first ticks.
        const pushedAt = now - this.rng.int(10 * 60_000);
        const first = pickPlatform(this.rng);
        this.actions.seedConnection(user, first, gateway, pushedAt);
        if (this.rng.chance(this.o.multiDeviceProb)) {
          const second = this.rng.chance(this.o.samePlatformProb) ? first : pickPlatform(this.rng);
          this.actions.seedConnection(user, second, gateway, pushedAt);
        }
      }
    }
    if (!this.paused) this.scheduleSteps();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.stepTimer?.cancel();
    this.stepTimer = undefined;
    for (const t of this.scheduled) t.cancel();
    this.scheduled.clear();
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    this.scheduleSteps();
  }

  close(): void {
    this.pause();
    this.closed = true;
  }

  /** The connections a crashed gateway lost come back on the others, spread over the storm window. */
  crashed(lost: readonly Connection[]): void {
    if (this.paused || !this.o.reconnectOnCrash) return;
    for (const conn of lost) {
      this.later(this.rng.next() * this.o.stormSpreadMs, () => this.connectSomewhere(conn.user, conn.platformID));
    }
  }

  private scheduleSteps(): void {
    this.stepTimer = this.clock.every(STEP_MS, (t) => this.step(t));
  }

  private step(time: number): void {
    if (time >= this.stopAt) {
      this.stepTimer?.cancel();
      this.stepTimer = undefined;
      return;
    }
    const { model } = this.actions;
    const rng = this.rng;
    const sessions = rng.poisson((this.connectRate * STEP_MS) / 1000);
    for (let i = 0; i < sessions; i++) this.later(rng.next() * STEP_MS, () => this.startSession());
    const disconnects = rng.poisson((model.connections * STEP_MS) / this.o.sessionMeanMs);
    for (let i = 0; i < disconnects; i++) this.later(rng.next() * STEP_MS, () => this.endRandomConnection());
    if (this.o.stormsPerHour > 0 && rng.chance((this.o.stormsPerHour * STEP_MS) / 3_600_000)) this.storm();
  }

  private later(delayMs: number, fn: () => void): void {
    const timer = this.clock.after(delayMs, () => {
      this.scheduled.delete(timer);
      fn();
    });
    this.scheduled.add(timer);
  }

  private connectSomewhere(user: number, platformID: number): void {
    const alive = this.actions.aliveGateways();
    if (alive.length === 0) return;
    this.actions.connect(user, platformID, alive[this.rng.int(alive.length)]!);
  }

  private startSession(): void {
    const { model } = this.actions;
    if (model.userCount === 0) return;
    const user = 1 + this.rng.int(model.userCount);
    const existing = model.connectionsOf(user);
    const same = existing.length > 0 && this.rng.chance(this.o.samePlatformProb);
    const platformID = same ? existing[this.rng.int(existing.length)]!.platformID : pickPlatform(this.rng);
    this.connectSomewhere(user, platformID);
    if (this.rng.chance(this.o.multiDeviceProb)) {
      const second = this.rng.chance(this.o.samePlatformProb) ? platformID : pickPlatform(this.rng);
      this.later(this.rng.next() * SECOND_DEVICE_WINDOW_MS, () => this.connectSomewhere(user, second));
    }
  }

  private endRandomConnection(): void {
    const user = this.actions.model.randomOnlineUser(this.rng);
    if (user === undefined) return;
    const conns = this.actions.model.connectionsOf(user);
    const conn = conns[this.rng.int(conns.length)];
    if (conn !== undefined) this.actions.disconnect(conn);
  }

  /**
   * A share of one gateway's connections drop and come back: half close first and reconnect within two seconds,
   * half reconnect first (reusing their token) while the old socket times out up to 30 s later.
   */
  private storm(): void {
    const alive = this.actions.aliveGateways();
    if (alive.length === 0) return;
    const gateway = alive[this.rng.int(alive.length)]!;
    for (const conn of this.actions.model.connectionsOnGateway(gateway)) {
      if (!this.rng.chance(this.o.stormFraction)) continue;
      const at = this.rng.next() * this.o.stormSpreadMs;
      if (this.rng.chance(0.5)) {
        this.later(at, () => this.actions.disconnect(conn));
        this.later(at + this.rng.next() * 2000, () => this.connectSomewhere(conn.user, conn.platformID));
      } else {
        this.later(at, () => this.connectSomewhere(conn.user, conn.platformID));
        this.later(at + this.rng.next() * OLD_SOCKET_TIMEOUT_MS, () => this.actions.disconnect(conn));
      }
    }
  }
}
