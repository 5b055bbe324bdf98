import { OprError } from '../errors.js';
import { platformName } from '../openim/platforms.js';
import { emptyCounters } from './counters.js';
import type { DropReason, SimulatorCounters } from './counters.js';
import { Gateway } from './gateway.js';
import type { BuiltWebhook } from './gateway.js';
import { faultsPatchSchema, initialFaults, invalidOptionsError } from './options.js';
import type { Faults, FaultsPatch, OpenImVersion, ResolvedSimulatorOptions } from './options.js';
import { PresenceModel, REDIS_ONLINE_EXPIRE_SECONDS } from './presence-model.js';
import type { Connection, PresenceTruth } from './presence-model.js';
import { Prng, seedToNumber } from './prng.js';
import { SimClock } from './sim-clock.js';
import type { SimTimer } from './sim-clock.js';
import { TokenStore, connectionID } from './tokens.js';
import { Workload } from './workload.js';

/** One connection as the direct methods and the control endpoint report it. */
export interface ConnectionInfo {
  userID: string;
  platformID: number;
  platform: string;
  gateway: number;
  connID: string;
  /** Simulated ms when it opened. */
  since: number;
}

/** Everything the simulator knows about one user, from the three points of view. */
export interface UserView {
  userID: string;
  /** The true connections. */
  truth: PresenceTruth[];
  /** What `get_users_online_status` answers now: the first answering gateway's connections. */
  live: { status: 0 | 1; connections: ConnectionInfo[] };
  /** What `get_users_status` answers now (Redis). */
  redis: { status: 0 | 1; platformIDs: number[] };
}

/** How often expired Redis entries are forgotten. */
const REDIS_SWEEP_MS = 5 * 60_000;

/**
 * The simulator's state and behaviour without any HTTP: users and connections, gateways, tokens, faults, workload
 * and counters. The HTTP layer (`http-server.ts`) and the public `Simulator` object sit on top of it.
 */
export class SimulatorCore {
  readonly options: ResolvedSimulatorOptions;
  readonly clock: SimClock;
  readonly model: PresenceModel;
  readonly gateways: Gateway[];
  readonly tokens: TokenStore;
  readonly counters: SimulatorCounters = emptyCounters();
  readonly workload: Workload | undefined;
  /** The API fault knobs draw from their own stream. */
  readonly apiRng: Prng;
  private currentFaults: Faults;
  private readonly quiesceWaiters = new Set<() => void>();
  private builtWebhooks: BuiltWebhook[] = [];
  private readonly sweepTimer: SimTimer;
  private closed = false;

  constructor(options: ResolvedSimulatorOptions) {
    this.options = options;
    this.clock = new SimClock({ speed: options.speed, startTime: options.startTime ?? Date.now() });
    this.model = new PresenceModel(options.users, options.adminUserID, options.userPrefix);
    this.tokens = new TokenStore(options.secret, options.tokenTtlSeconds, () => Math.floor(this.clock.now() / 1000));
    this.currentFaults = initialFaults(options);
    const root = new Prng(seedToNumber(options.seed));
    this.apiRng = root.fork('api');
    const skews = root.fork('skew');
    const usedPids = new Set<number>();
    const ctx = {
      clock: this.clock,
      model: this.model,
      counters: this.counters,
      faults: () => this.currentFaults,
      webhookUrl: options.webhookUrl,
      webhookTimeoutMs: options.webhookTimeoutMs,
      drop: (reason: DropReason, n: number) => {
        this.counters.webhooks.dropped[reason] += n;
      },
      publishOnlineChange: (user: number, members: number[]) => {
        for (const g of this.gateways) g.onlineChange(user, members);
      },
      onSettle: () => this.checkQuiescent(),
      record: options.webhookLogSize > 0 ? (w: BuiltWebhook) => this.recordWebhook(w) : undefined,
    };
    this.gateways = Array.from({ length: options.gateways }, (_, i) => {
      const skew = Array.isArray(options.clockSkewMs)
        ? options.clockSkewMs[i]!
        : Math.round((skews.next() * 2 - 1) * options.clockSkewMs);
      return new Gateway(i, ctx, root.fork(`gateway-${i}`), skew, usedPids);
    });
    for (const g of this.currentFaults.slowGateways) this.gateways[g]!.slow = true;
    this.workload =
      options.workload === false
        ? undefined
        : new Workload(options.workload, root.fork('workload'), this.clock, {
            model: this.model,
            aliveGateways: () => this.aliveGateways(),
            connect: (user, platformID, gateway) => this.connectIndex(user, platformID, gateway),
            disconnect: (conn) => this.disconnectConnection(conn),
            seedConnection: (user, platformID, gateway, pushedAt) => {
              this.model.add(user, platformID, gateway, pushedAt);
              this.gateways[gateway]!.seed(user, pushedAt);
              this.model.redisSeed(user, platformID, Math.floor(pushedAt / 1000) + REDIS_ONLINE_EXPIRE_SECONDS);
            },
          });
    for (const g of this.currentFaults.crashedGateways) this.crashGateway(g);
    this.workload?.start();
    this.sweepTimer = this.clock.every(REDIS_SWEEP_MS, (t) => this.model.redisSweep(Math.floor(t / 1000)));
    this.clock.start();
  }

  // --- users and connections ------------------------------------------------------------------------------------

  /** The index of a registered user; throws an OprError naming the bad userID otherwise. */
  userIndex(userID: string): number {
    const i = this.model.indexOf(userID);
    if (i < 0) {
      throw new OprError(
        'OPR_ERR_SIMULATOR',
        `unknown userID ${JSON.stringify(userID)}: users are ${this.options.adminUserID} and ${this.options.userPrefix}1..${this.options.userPrefix}${this.options.users}`,
        { userID },
      );
    }
    return i;
  }

  aliveGateways(): number[] {
    return this.gateways.filter((g) => !g.crashed).map((g) => g.index);
  }

  connect(userID: string, platformID: number, gateway?: number): ConnectionInfo {
    const user = this.userIndex(userID);
    checkPlatformID(platformID);
    let g = gateway;
    if (g === undefined) {
      const alive = this.aliveGateways();
      if (alive.length === 0) throw new OprError('OPR_ERR_SIMULATOR', 'cannot connect: every gateway has crashed');
      g = alive[user % alive.length]!;
    } else {
      this.checkGateway(g);
      if (this.gateways[g]!.crashed) throw new OprError('OPR_ERR_SIMULATOR', `cannot connect to gateway ${g}: it has crashed`, { gateway: g });
    }
    return this.info(this.connectIndex(user, platformID, g));
  }

  connectIndex(user: number, platformID: number, gateway: number): Connection {
    const conn = this.model.add(user, platformID, gateway, this.clock.now());
    this.counters.presence.connects++;
    this.gateways[gateway]!.connected(conn);
    return conn;
  }

  /** Closes one connection of the user on that platform (on that gateway if given; the oldest first). */
  disconnect(userID: string, platformID: number, gateway?: number): boolean {
    const user = this.userIndex(userID);
    if (gateway !== undefined) this.checkGateway(gateway);
    const conn = this.model
      .connectionsOf(user)
      .find((c) => c.platformID === platformID && (gateway === undefined || c.gateway === gateway));
    if (conn === undefined) return false;
    this.disconnectConnection(conn);
    return true;
  }

  disconnectConnection(conn: Connection): void {
    if (!this.model.remove(conn)) return;
    this.counters.presence.disconnects++;
    this.gateways[conn.gateway]!.disconnected(conn);
  }

  /** Closes every connection of the user; returns how many there were. */
  disconnectAll(userID: string): number {
    const user = this.userIndex(userID);
    const conns = [...this.model.connectionsOf(user)];
    for (const c of conns) this.disconnectConnection(c);
    return conns.length;
  }

  /** Toggles the background flag of the user's connections on a platform (no webhook, as in OpenIM). */
  setBackground(userID: string, platformID: number, background: boolean): number {
    const user = this.userIndex(userID);
    let n = 0;
    for (const c of this.model.connectionsOf(user)) {
      if (c.platformID !== platformID) continue;
      c.background = background;
      n++;
    }
    return n;
  }

  info(conn: Connection): ConnectionInfo {
    return {
      userID: this.model.userIDOf(conn.user),
      platformID: conn.platformID,
      platform: platformName(conn.platformID),
      gateway: conn.gateway,
      connID: connectionID(conn.id, this.gateways[conn.gateway]!.pid),
      since: conn.since,
    };
  }

  // --- views ----------------------------------------------------------------------------------------------------

  /**
   * The live view of one user: gateways are asked in order; a slow gateway's error is swallowed (its users look
   * offline) and the first gateway that knows the user wins.
   */
  liveConnections(user: number): Connection[] | undefined {
    const conns = this.model.connectionsOf(user);
    if (conns.length === 0) return undefined;
    let first = Infinity;
    for (const c of conns) if (c.gateway < first && !this.gateways[c.gateway]!.slow) first = c.gateway;
    if (first === Infinity) return undefined;
    return conns.filter((c) => c.gateway === first);
  }

  view(userID: string): UserView {
    const user = this.userIndex(userID);
    const live = this.liveConnections(user) ?? [];
    const redis = this.model.redisPlatforms(user, Math.floor(this.clock.now() / 1000));
    return {
      userID,
      truth: this.model.truthOf(user),
      live: { status: live.length > 0 ? 1 : 0, connections: live.map((c) => this.info(c)) },
      redis: { status: redis.length > 0 ? 1 : 0, platformIDs: redis },
    };
  }

  truth(): PresenceTruth[] {
    return this.model.truth();
  }

  truthOf(userID: string): PresenceTruth[] {
    return this.model.truthOf(this.userIndex(userID));
  }

  counterSnapshot(): SimulatorCounters {
    const c = structuredClone(this.counters);
    const w = c.webhooks;
    const dropped = Object.values(w.dropped).reduce((s, n) => s + n, 0);
    w.pending = w.generated + w.duplicated - w.delivered - dropped;
    c.presence.onlineUsers = this.model.onlineUsers;
    c.presence.connections = this.model.connections;
    return c;
  }

  /** The last `webhookLogSize` webhooks built, oldest first. */
  webhookLog(): BuiltWebhook[] {
    return this.builtWebhooks.slice(-this.options.webhookLogSize);
  }

  private recordWebhook(w: BuiltWebhook): void {
    this.builtWebhooks.push(w);
    if (this.builtWebhooks.length >= 2 * this.options.webhookLogSize) this.builtWebhooks = this.webhookLog();
  }

  // --- faults ---------------------------------------------------------------------------------------------------

  faults(): Faults {
    return structuredClone(this.currentFaults);
  }

  currentVersion(): OpenImVersion {
    return this.currentFaults.version;
  }

  /** Applies a partial change of the fault knobs; crashes and restarts gateways as the lists say. */
  setFaults(patch: FaultsPatch): Faults {
    const r = faultsPatchSchema.safeParse(patch);
    if (!r.success) throw invalidOptionsError('faults', patch, r.error.issues);
    const p = r.data;
    for (const list of [p.crashedGateways, p.slowGateways]) for (const g of list ?? []) this.checkGateway(g);
    const { crashedGateways, slowGateways, ...rest } = p;
    this.currentFaults = { ...this.currentFaults, ...rest };
    if (slowGateways !== undefined) for (const g of this.gateways) this.setGatewaySlow(g.index, slowGateways.includes(g.index));
    if (crashedGateways !== undefined) {
      for (const g of this.gateways) {
        if (crashedGateways.includes(g.index)) this.crashGateway(g.index);
        else this.restartGateway(g.index);
      }
    }
    return this.faults();
  }

  /**
   * The gateway process dies: its connections vanish from the live view and from the truth at once, no webhook is
   * sent for them, and the Redis view keeps them until their entries expire (up to 30 simulated minutes).
   */
  crashGateway(index: number): void {
    this.checkGateway(index);
    const g = this.gateways[index]!;
    if (g.crashed) return;
    g.crash();
    const lost = this.model.connectionsOnGateway(index);
    for (const c of lost) this.model.remove(c);
    this.currentFaults.crashedGateways = this.gateways.filter((x) => x.crashed).map((x) => x.index);
    this.workload?.crashed(lost);
  }

  restartGateway(index: number): void {
    this.checkGateway(index);
    this.gateways[index]!.restart();
    this.currentFaults.crashedGateways = this.gateways.filter((x) => x.crashed).map((x) => x.index);
  }

  /** A slow gateway times out on the live view's RPC: its users read as offline there; everything else goes on. */
  setGatewaySlow(index: number, slow: boolean): void {
    this.checkGateway(index);
    this.gateways[index]!.slow = slow;
    this.currentFaults.slowGateways = this.gateways.filter((x) => x.slow).map((x) => x.index);
  }

  expireTokens(): number {
    const n = this.tokens.expireAll();
    this.counters.tokens.expiredByControl += n;
    return n;
  }

  // --- settling -------------------------------------------------------------------------------------------------

  /** True when no gateway has anything buffered, batched, delayed, queued or in flight. */
  idle(): boolean {
    return this.gateways.every((g) => g.idle());
  }

  /**
   * Resolves once every pending state has been flushed and every webhook delivered or dropped. Pause the workload
   * first for a stable end state. Rejects after `timeoutMs` real milliseconds if given.
   */
  quiesce(timeoutMs?: number): Promise<void> {
    if (this.closed || this.idle()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.quiesceWaiters.add(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.quiesceWaiters.delete(done);
          reject(new OprError('OPR_ERR_SIMULATOR', `the simulator did not settle within ${timeoutMs} ms`, { counters: this.counterSnapshot() }));
        }, timeoutMs);
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sweepTimer.cancel();
    this.workload?.close();
    for (const g of this.gateways) g.stop();
    this.clock.close();
    for (const done of this.quiesceWaiters) done();
    this.quiesceWaiters.clear();
  }

  private checkQuiescent(): void {
    if (this.quiesceWaiters.size === 0 || !this.idle()) return;
    const waiters = [...this.quiesceWaiters];
    this.quiesceWaiters.clear();
    for (const done of waiters) done();
  }

  private checkGateway(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.gateways.length) {
      throw new OprError('OPR_ERR_SIMULATOR', `gateway ${index} does not exist: gateways are 0..${this.gateways.length - 1}`, { gateway: index });
    }
  }
}

function checkPlatformID(platformID: number): void {
  if (!Number.isInteger(platformID) || platformID < 0 || platformID > 1_000_000) {
    throw new OprError('OPR_ERR_SIMULATOR', `platformID must be an integer 0..1000000 (got ${String(platformID)})`, { platformID });
  }
}
