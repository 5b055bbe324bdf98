import type { Prng } from './prng.js';

/**
 * Where presence lives in the simulator: the true set of connections (what each gateway's in-memory connection map
 * holds), and the Redis online cache (`ONLINE:<userID>` ZSETs) behind `get_users_status`.
 *
 * Users are numbered: index 0 is the admin, 1..N are `<prefix>1`..`<prefix>N`. Only online users (and users with a
 * Redis entry) have any per-user memory; offline users cost nothing.
 */
export interface Connection {
  /** Global connection number (also the source of the connID shown by the live view). */
  readonly id: number;
  readonly user: number;
  readonly platformID: number;
  readonly gateway: number;
  background: boolean;
  /** Simulated ms when the connection opened. */
  readonly since: number;
}

interface LiveUser {
  conns: Connection[];
  /** Position in the dense list of online users (for uniform random picks). */
  pos: number;
}

/** One (user, platform) key that is truly online. */
export interface PresenceTruth {
  userID: string;
  platformID: number;
  /** Open connections on this platform (across gateways). */
  connections: number;
  /** Gateways holding them, ascending. */
  gateways: number[];
}

/** Redis expiry of an online entry: last push + 30 min (docs/openim-contract.md, where presence lives inside OpenIM). */
export const REDIS_ONLINE_EXPIRE_SECONDS = 30 * 60;

export class PresenceModel {
  readonly userCount: number;
  readonly adminUserID: string;
  readonly prefix: string;
  private readonly live = new Map<number, LiveUser>();
  private readonly onlineList: number[] = [];
  private connectionTotal = 0;
  private nextConnectionId = 1;
  /** userIndex → flat [platformID, expirySeconds, platformID, expirySeconds, …]. */
  private readonly redis = new Map<number, number[]>();

  constructor(userCount: number, adminUserID: string, prefix: string) {
    this.userCount = userCount;
    this.adminUserID = adminUserID;
    this.prefix = prefix;
  }

  /** The index of a registered user, or -1. */
  indexOf(userID: string): number {
    if (userID === this.adminUserID) return 0;
    if (!userID.startsWith(this.prefix)) return -1;
    const rest = userID.slice(this.prefix.length);
    if (rest.length === 0 || rest.length > 10 || rest.charCodeAt(0) === 48) return -1;
    for (let i = 0; i < rest.length; i++) {
      const c = rest.charCodeAt(i);
      if (c < 48 || c > 57) return -1;
    }
    const n = Number(rest);
    return n <= this.userCount ? n : -1;
  }

  userIDOf(index: number): string {
    return index === 0 ? this.adminUserID : `${this.prefix}${index}`;
  }

  /** Registered users, admin included. */
  get registeredUsers(): number {
    return this.userCount + 1;
  }

  get onlineUsers(): number {
    return this.onlineList.length;
  }

  get connections(): number {
    return this.connectionTotal;
  }

  connectionsOf(user: number): readonly Connection[] {
    return this.live.get(user)?.conns ?? [];
  }

  /** Platform IDs of the user's connections on one gateway, one per connection, in connection order. */
  platformsOnGateway(user: number, gateway: number): number[] {
    const out: number[] = [];
    for (const c of this.connectionsOf(user)) if (c.gateway === gateway) out.push(c.platformID);
    return out;
  }

  add(user: number, platformID: number, gateway: number, now: number): Connection {
    const conn: Connection = { id: this.nextConnectionId++, user, platformID, gateway, background: false, since: now };
    let lu = this.live.get(user);
    if (lu === undefined) {
      lu = { conns: [], pos: this.onlineList.length };
      this.onlineList.push(user);
      this.live.set(user, lu);
    }
    lu.conns.push(conn);
    this.connectionTotal++;
    return conn;
  }

  /** Removes one connection; returns false if it was already gone. */
  remove(conn: Connection): boolean {
    const lu = this.live.get(conn.user);
    if (lu === undefined) return false;
    const i = lu.conns.indexOf(conn);
    if (i < 0) return false;
    lu.conns.splice(i, 1);
    this.connectionTotal--;
    if (lu.conns.length === 0) {
      const lastUser = this.onlineList.pop()!;
      if (lastUser !== conn.user) {
        this.onlineList[lu.pos] = lastUser;
        this.live.get(lastUser)!.pos = lu.pos;
      }
      this.live.delete(conn.user);
    }
    return true;
  }

  randomOnlineUser(rng: Prng): number | undefined {
    if (this.onlineList.length === 0) return undefined;
    return this.onlineList[rng.int(this.onlineList.length)];
  }

  /** Every connection on a gateway (a copy, safe to mutate the model while iterating). */
  connectionsOnGateway(gateway: number): Connection[] {
    const out: Connection[] = [];
    for (const lu of this.live.values()) for (const c of lu.conns) if (c.gateway === gateway) out.push(c);
    return out;
  }

  /** The true presence of one user, per platform. */
  truthOf(user: number): PresenceTruth[] {
    const conns = this.connectionsOf(user);
    if (conns.length === 0) return [];
    const byPlatform = new Map<number, { n: number; gateways: Set<number> }>();
    for (const c of conns) {
      const e = byPlatform.get(c.platformID) ?? { n: 0, gateways: new Set<number>() };
      e.n++;
      e.gateways.add(c.gateway);
      byPlatform.set(c.platformID, e);
    }
    const userID = this.userIDOf(user);
    return [...byPlatform.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([platformID, e]) => ({
        userID,
        platformID,
        connections: e.n,
        gateways: [...e.gateways].sort((a, b) => a - b),
      }));
  }

  /** The true presence of every online (user, platform), ordered by user index then platform. */
  truth(): PresenceTruth[] {
    const users = [...this.onlineList].sort((a, b) => a - b);
    const out: PresenceTruth[] = [];
    for (const u of users) out.push(...this.truthOf(u));
    return out;
  }

  // --- Redis online cache -------------------------------------------------------------------------------------

  /**
   * One `SetUserOnline` call, as OpenIM's Lua script does it: drop expired members, remove `offline`, add `online`
   * with score now + 30 min. Returns the members (ZRANGE order) when the set's size changed (OpenIM then publishes
   * them on `online_change`), otherwise undefined.
   */
  redisWrite(user: number, online: readonly number[], offline: readonly number[], nowSeconds: number): number[] | undefined {
    const flat = this.redis.get(user) ?? [];
    const num1 = flat.length / 2;
    const kept: number[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const p = flat[i]!;
      const score = flat[i + 1]!;
      if (score <= nowSeconds || offline.includes(p)) continue;
      kept.push(p, score);
    }
    const num2 = kept.length / 2;
    const score = nowSeconds + REDIS_ONLINE_EXPIRE_SECONDS;
    for (const p of online) {
      let found = false;
      for (let i = 0; i < kept.length; i += 2) {
        if (kept[i] === p) {
          kept[i + 1] = score;
          found = true;
          break;
        }
      }
      if (!found) kept.push(p, score);
    }
    const num3 = kept.length / 2;
    if (kept.length === 0) this.redis.delete(user);
    else this.redis.set(user, kept);
    return num1 !== num2 || num2 !== num3 ? zrangeMembers(kept) : undefined;
  }

  /** Sets one member's score directly (used to seed the cache for users connected before the run starts). */
  redisSeed(user: number, platformID: number, expirySeconds: number): void {
    const flat = this.redis.get(user) ?? [];
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] === platformID) {
        flat[i + 1] = Math.max(flat[i + 1]!, expirySeconds);
        return;
      }
    }
    flat.push(platformID, expirySeconds);
    this.redis.set(user, flat);
  }

  /** `GetOnline`: platform IDs whose expiry is still ahead, in ZRANGEBYSCORE order. */
  redisPlatforms(user: number, nowSeconds: number): number[] {
    const flat = this.redis.get(user);
    if (flat === undefined) return [];
    const alive: number[] = [];
    for (let i = 0; i < flat.length; i += 2) if (flat[i + 1]! > nowSeconds) alive.push(flat[i]!, flat[i + 1]!);
    return zrangeMembers(alive);
  }

  /** Forgets users whose every Redis member has expired (Redis expires the key itself). */
  redisSweep(nowSeconds: number): void {
    for (const [user, flat] of this.redis) {
      let alive = false;
      for (let i = 1; i < flat.length; i += 2) {
        if (flat[i]! > nowSeconds) {
          alive = true;
          break;
        }
      }
      if (!alive) this.redis.delete(user);
    }
  }
}

/** ZRANGE order: by score, then by member compared as a string (Redis stores platform IDs as strings). */
function zrangeMembers(flat: readonly number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  pairs.sort((a, b) => a[1] - b[1] || (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0));
  return pairs.map((p) => p[0]);
}
