import type { DropReason, SimulatorCounters } from './counters.js';
import { OFFLINE_COMMAND, ONLINE_COMMAND, offlineWebhookBody, onlineWebhookBody } from './go-json.js';
import type { PresenceCommand } from './go-json.js';
import type { Faults } from './options.js';
import type { Connection, PresenceModel } from './presence-model.js';
import { mix32 } from './prng.js';
import type { Prng } from './prng.js';
import type { SimClock, SimTimer } from './sim-clock.js';
import { WebhookQueue, WebhookTarget } from './webhook-queue.js';
import type { WebhookTask } from './webhook-queue.js';

/** States are flushed every second (docs/openim-contract.md, how the gateway produces them). */
export const FLUSH_INTERVAL_MS = 1000;
/** Shards of the presence loop, each with its own batch buffer and channel. */
export const STATE_SHARDS = 4;
/** A shard's buffer is sent as soon as it holds this many states. */
export const STATE_BATCH_SIZE = 100;
/** Batches a shard's channel holds; a flush that finds it full is dropped whole. */
export const SHARD_CHANNEL_SLOTS = 64;
/** Every 10 min each user not pushed in the last 10 min is pushed again (Redis expiry 30 min / 3). */
export const RENEWAL_INTERVAL_MS = 10 * 60_000;

/** What one connection change (or renewal, or self-heal) makes: the user's platforms on this gateway. */
interface UserState {
  user: number;
  /** Platform of every connection of the user still on this gateway (repeats for two connections on one platform). */
  online: number[];
  /** Platforms of the connections removed. */
  offline: number[];
}

/** A batch being turned into webhooks; the cursor lets it stop while the queue is full and resume later. */
interface BatchRun {
  states: UserState[];
  operationID: string;
  stateIndex: number;
  /** 0 = online entries, 1 = offline entries. */
  phase: 0 | 1;
  entryIndex: number;
  /** Built copies not yet queued. */
  copies: WebhookTask[];
}

interface Shard {
  buffer: UserState[];
  channel: UserState[][];
  run: BatchRun | undefined;
  /** Waiting for a queue slot. */
  blocked: boolean;
  /** Inside drain (guards re-entry from self-heal pushes). */
  busy: boolean;
}

/** One webhook as a gateway built it (before the queue), for the optional webhook log. */
export interface BuiltWebhook {
  gateway: number;
  command: PresenceCommand;
  operationID: string;
  /** The exact body, which carries userID, platformID and seq. */
  body: string;
  /** Dropped by the loss knob. */
  lost: boolean;
  /** Queued twice by the duplication knob. */
  duplicated: boolean;
}

export interface GatewayContext {
  clock: SimClock;
  model: PresenceModel;
  counters: SimulatorCounters;
  faults: () => Faults;
  /** `webhooks.yml url`; undefined sends no webhooks. */
  webhookUrl: string | undefined;
  webhookTimeoutMs: number;
  drop: (reason: DropReason, n: number) => void;
  /** OpenIM publishes a user's Redis members on `online_change` when the set's size changed. */
  publishOnlineChange: (user: number, members: number[]) => void;
  /** Called whenever the gateway may have become idle. */
  onSettle: () => void;
  /** Receives every built webhook when the webhook log is on. */
  record: ((webhook: BuiltWebhook) => void) | undefined;
}

/**
 * One `openim-msggateway` instance: its presence loop (sharded state buffers flushed every second, the Redis write,
 * then the webhooks of each batch under one operationID), the 10-minute renewal, the self-heal on `online_change`,
 * and its 2-worker / 100-slot webhook queue.
 */
export class Gateway {
  readonly index: number;
  /** The process ID used in `operationID`s (`p_<pid>_<n>`); a restart gets a new one. */
  pid = 0;
  /** Incremented on every crash; work of an older incarnation is discarded. */
  generation = 0;
  crashed = false;
  slow = false;
  readonly skewMs: number;
  private opCount = 0;
  private rNum = 0;
  /** Users with connections on this gateway → simulated ms of their last push (renewal bookkeeping). */
  private readonly pushedAt = new Map<number, number>();
  private shards: Shard[] = [];
  private delayed = 0;
  private timers: SimTimer[] = [];
  private readonly target: WebhookTarget | undefined;
  private readonly queue: WebhookQueue | undefined;
  private readonly ctx: GatewayContext;
  private readonly setupRng: Prng;
  private readonly faultRng: Prng;
  private readonly usedPids: Set<number>;

  constructor(index: number, ctx: GatewayContext, rng: Prng, skewMs: number, usedPids: Set<number>) {
    this.index = index;
    this.ctx = ctx;
    this.setupRng = rng.fork('setup');
    this.faultRng = rng.fork('faults');
    this.skewMs = skewMs;
    this.usedPids = usedPids;
    if (ctx.webhookUrl !== undefined) {
      // Its own HTTP client (keep-alive connections) per gateway process.
      this.target = new WebhookTarget(ctx.webhookUrl);
      this.queue = new WebhookQueue({
        clock: ctx.clock,
        target: this.target,
        counters: ctx.counters,
        timeoutMs: () => ctx.webhookTimeoutMs,
        drop: ctx.drop,
        onSettle: ctx.onSettle,
      });
    }
    this.boot();
  }

  /** The gateway's wall clock (simulated time plus its skew), as used for webhook `seq`. */
  now(): number {
    return this.ctx.clock.now() + this.skewMs;
  }

  /** A connection opened on this gateway (`userMap.Set`). */
  connected(conn: Connection): void {
    this.pushState(conn.user, this.ctx.model.platformsOnGateway(conn.user, this.index), []);
  }

  /** A connection closed on this gateway (`userMap.DeleteClients`). */
  disconnected(conn: Connection): void {
    const remaining = this.ctx.model.platformsOnGateway(conn.user, this.index);
    if (remaining.length === 0) this.pushedAt.delete(conn.user);
    this.pushState(conn.user, remaining, [conn.platformID]);
  }

  /** Registers a user connected before the run started, last pushed at `pushedAt`. */
  seed(user: number, pushedAt: number): void {
    this.pushedAt.set(user, pushedAt);
  }

  /**
   * `RecvSubChange`: when the Redis members published for a user differ from this gateway's own connections (or
   * are empty while it holds some), the gateway pushes the user's state again: the self-heal re-announcement.
   */
  onlineChange(user: number, members: readonly number[]): void {
    if (this.crashed) return;
    const local = this.ctx.model.platformsOnGateway(user, this.index);
    if (local.length === 0) return;
    if (members.length > 0 && members.length === local.length && members.every((p, i) => p === local[i])) return;
    this.ctx.counters.states.selfHeals++;
    this.pushState(user, local, []);
  }

  /** Live-view answer of this gateway for one user: its connections, in order. */
  connectionsOf(user: number): Connection[] {
    return this.ctx.model.connectionsOf(user).filter((c) => c.gateway === this.index);
  }

  /** The process dies: unflushed states, batches and queued webhooks are lost; sockets vanish without webhooks. */
  crash(): void {
    if (this.crashed) return;
    this.crashed = true;
    this.generation++;
    for (const t of this.timers) t.cancel();
    this.timers = [];
    let lost = 0;
    for (const s of this.shards) {
      for (const st of s.buffer) lost += st.online.length + st.offline.length;
      for (const batch of s.channel) for (const st of batch) lost += st.online.length + st.offline.length;
      if (s.run !== undefined) lost += remainingEntries(s.run);
    }
    if (lost > 0) this.ctx.drop('crash', lost);
    this.shards = [];
    this.queue?.crash();
    this.pushedAt.clear();
    this.ctx.onSettle();
  }

  /** A new process starts: new pid, operation counter from zero, fresh tickers, no connections. */
  restart(): void {
    if (!this.crashed) return;
    this.crashed = false;
    this.boot();
  }

  /** True when nothing is buffered, batched, delayed, queued or in flight. */
  idle(): boolean {
    if (this.delayed > 0 || (this.queue !== undefined && !this.queue.idle())) return false;
    return this.shards.every((s) => s.buffer.length === 0 && s.channel.length === 0 && s.run === undefined && !s.blocked);
  }

  stop(): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.queue?.close();
    this.target?.close();
  }

  private boot(): void {
    let pid: number;
    do pid = 1000 + this.setupRng.int(64_000);
    while (this.usedPids.has(pid));
    this.usedPids.add(pid);
    this.pid = pid;
    this.opCount = 0;
    this.rNum = this.setupRng.nextUint32();
    this.shards = Array.from({ length: STATE_SHARDS }, () => ({
      buffer: [],
      channel: [],
      run: undefined,
      blocked: false,
      busy: false,
    }));
    const clock = this.ctx.clock;
    const now = clock.now();
    // Tickers started with the process: their phase relative to the run is arbitrary (but seeded).
    const flushPhase = 1 + this.setupRng.int(FLUSH_INTERVAL_MS);
    const renewalPhase = 1 + this.setupRng.int(RENEWAL_INTERVAL_MS);
    this.timers = [
      clock.every(FLUSH_INTERVAL_MS, () => this.flush(), now + flushPhase),
      clock.every(RENEWAL_INTERVAL_MS, (t) => this.renew(t), now + renewalPhase),
    ];
  }

  private pushState(user: number, online: number[], offline: number[]): void {
    if (this.crashed) return;
    const now = this.ctx.clock.now();
    if (online.length > 0) this.pushedAt.set(user, now);
    const c = this.ctx.counters;
    c.states.pushed++;
    c.webhooks.generated += online.length + offline.length;
    const shard = this.shards[((mix32(user) + this.rNum) >>> 0) % STATE_SHARDS]!;
    shard.buffer.push({ user, online, offline });
    if (shard.buffer.length >= STATE_BATCH_SIZE) this.submit(shard);
  }

  private flush(): void {
    for (const shard of this.shards) if (shard.buffer.length > 0) this.submit(shard);
    this.ctx.onSettle();
  }

  /** `GetAllUserStatus`: every user not pushed since the deadline is pushed again with all its platforms. */
  private renew(time: number): void {
    const deadline = time - RENEWAL_INTERVAL_MS;
    const stale: number[] = [];
    for (const [user, at] of this.pushedAt) if (at <= deadline) stale.push(user);
    for (const user of stale) {
      this.ctx.counters.states.renewals++;
      this.pushState(user, this.ctx.model.platformsOnGateway(user, this.index), []);
    }
  }

  private submit(shard: Shard): void {
    const batch = shard.buffer;
    shard.buffer = [];
    if (shard.channel.length >= SHARD_CHANNEL_SLOTS) {
      this.ctx.counters.states.batchesDropped++;
      let n = 0;
      for (const st of batch) n += st.online.length + st.offline.length;
      if (n > 0) this.ctx.drop('shardOverflow', n);
      return;
    }
    shard.channel.push(batch);
    this.drain(shard);
  }

  /** The shard's worker: processes batches in order until the channel is empty or the queue makes it wait. */
  private drain(shard: Shard): void {
    if (shard.busy || shard.blocked) return;
    shard.busy = true;
    try {
      for (;;) {
        if (shard.run === undefined) {
          const batch = shard.channel.shift();
          if (batch === undefined) break;
          shard.run = this.startBatch(batch);
        }
        if (!this.advance(shard, shard.run)) return;
        shard.run = undefined;
      }
    } finally {
      shard.busy = false;
    }
    this.ctx.onSettle();
  }

  /** `doRequest`: one operationID for the batch, the Redis write of every state, then the webhooks. */
  private startBatch(states: UserState[]): BatchRun {
    this.ctx.counters.states.batches++;
    const operationID = `p_${this.pid}_${++this.opCount}`;
    const nowSeconds = Math.floor(this.ctx.clock.now() / 1000);
    const changes: [number, number[]][] = [];
    for (const st of states) {
      const members = this.ctx.model.redisWrite(st.user, st.online, st.offline, nowSeconds);
      if (members !== undefined) changes.push([st.user, members]);
    }
    for (const [user, members] of changes) this.ctx.publishOnlineChange(user, members);
    return { states, operationID, stateIndex: 0, phase: 0, entryIndex: 0, copies: [] };
  }

  /** Builds and queues the batch's webhooks; returns false when it has to wait for a queue slot. */
  private advance(shard: Shard, run: BatchRun): boolean {
    const generation = this.generation;
    for (;;) {
      while (run.copies.length > 0) {
        const task = run.copies.shift()!;
        if (this.queue!.tryPush(task)) continue;
        shard.blocked = true;
        this.queue!.waitPush(task, () => {
          if (this.generation !== generation) return;
          shard.blocked = false;
          this.drain(shard);
        });
        return false;
      }
      const entry = nextEntry(run);
      if (entry === undefined) return true;
      run.copies = this.build(entry.user, entry.command, entry.platformID, run.operationID);
    }
  }

  /** Builds one webhook (with the fault knobs applied); returns the copies to queue now. */
  private build(user: number, command: PresenceCommand, platformID: number, operationID: string): WebhookTask[] {
    const faults = this.ctx.faults();
    if (faults.version !== '3.8.3') {
      this.ctx.drop('version', 1);
      return [];
    }
    if (this.queue === undefined) {
      this.ctx.drop('disabled', 1);
      return [];
    }
    const userID = this.ctx.model.userIDOf(user);
    const seq = this.now();
    let body: string;
    if (command === ONLINE_COMMAND) {
      const first = this.ctx.model.connectionsOf(user).find((c) => c.gateway === this.index && c.platformID === platformID);
      body = onlineWebhookBody(operationID, platformID, userID, seq, first?.background ?? false);
    } else {
      body = offlineWebhookBody(operationID, platformID, userID, seq);
    }
    const rng = this.faultRng;
    const lost = faults.loss > 0 && rng.chance(faults.loss);
    const duplicated = !lost && faults.duplication > 0 && rng.chance(faults.duplication);
    this.ctx.record?.({ gateway: this.index, command, operationID, body, lost, duplicated });
    if (lost) {
      this.ctx.drop('loss', 1);
      return [];
    }
    const task: WebhookTask = { command, operationID, body, generation: this.generation };
    const copies = [task];
    if (duplicated) {
      this.ctx.counters.webhooks.duplicated++;
      copies.push({ ...task });
    }
    if (faults.delayMs <= 0 && faults.reorderMs <= 0) return copies;
    for (const copy of copies) {
      const delay = faults.delayMs + (faults.reorderMs > 0 ? rng.next() * faults.reorderMs : 0);
      this.delayed++;
      this.ctx.clock.after(delay, () => {
        this.delayed--;
        if (copy.generation !== this.generation) this.ctx.drop('crash', 1);
        else if (!this.queue!.tryPush(copy)) this.queue!.waitPush(copy, () => undefined);
        this.ctx.onSettle();
      });
    }
    return [];
  }
}

function nextEntry(run: BatchRun): { user: number; command: PresenceCommand; platformID: number } | undefined {
  for (;;) {
    const st = run.states[run.stateIndex];
    if (st === undefined) return undefined;
    const list = run.phase === 0 ? st.online : st.offline;
    const platformID = list[run.entryIndex];
    if (platformID !== undefined) {
      run.entryIndex++;
      return { user: st.user, command: run.phase === 0 ? ONLINE_COMMAND : OFFLINE_COMMAND, platformID };
    }
    if (run.phase === 0) run.phase = 1;
    else {
      run.stateIndex++;
      run.phase = 0;
    }
    run.entryIndex = 0;
  }
}

/** Webhooks of a batch not yet queued (built copies included). */
function remainingEntries(run: BatchRun): number {
  let n = run.copies.length;
  const st = run.states[run.stateIndex];
  if (st !== undefined) {
    n += run.phase === 0 ? st.online.length - run.entryIndex + st.offline.length : st.offline.length - run.entryIndex;
  }
  for (let i = run.stateIndex + 1; i < run.states.length; i++) n += run.states[i]!.online.length + run.states[i]!.offline.length;
  return n;
}
