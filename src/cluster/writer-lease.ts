/**
 * The writer lease: one replica at a time does the writing (ingesting the inbox, polling, settling, push delivery,
 * retention, incidents). A replica takes the lease with SET NX PX and a fencing token from a counter, renews it every
 * third of its TTL, and loses it when a renewal finds another holder or none has succeeded for a whole TTL. Losing it
 * is fatal for the replica (it stops; the shared log's fencing refuses anything it still tries to append). A clean
 * shutdown releases it, so another replica takes over at once instead of after the TTL.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { OprError } from '../errors.js';
import type { ClusterKeys } from './cluster-keys.js';

const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeaseHolder {
  token: string;
  replica: string;
  apiUrl: string;
}

/** Reads the lease value `<token>|<replica>|<api url>`. */
export function parseLease(value: string | null): LeaseHolder | undefined {
  if (value === null) return undefined;
  const [token, replica, ...url] = value.split('|');
  return { token: token ?? '', replica: replica ?? '', apiUrl: url.join('|') };
}

export interface WriterLeaseOptions {
  ttlMs: number;
  replica: string;
  /** Where this replica's API answers (other replicas forward operators' writes there). */
  apiUrl: () => string;
  /** Told once when the lease is lost. */
  onLost: (e: OprError) => void;
  now?: () => number;
}

export class WriterLease {
  private value: string | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private lastRenewedAt = 0;
  private lost = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly opts: WriterLeaseOptions,
    private readonly log: Logger,
  ) {}

  /** The lease value while held (what fences the log appends). */
  get held(): string | undefined {
    return this.value;
  }

  get token(): string {
    return parseLease(this.value ?? null)?.token ?? '';
  }

  /** Who holds the lease now (from Redis), or undefined when nobody does. */
  async holder(): Promise<LeaseHolder | undefined> {
    return parseLease(await this.redis.get(this.keys.lease));
  }

  /** Takes the lease when it is free; true when this replica now holds it. */
  async tryAcquire(): Promise<boolean> {
    if (this.value !== undefined) return true;
    if ((await this.redis.exists(this.keys.lease)) === 1) return false;
    const token = await this.redis.incr(this.keys.fence);
    const value = `${token}|${this.opts.replica}|${this.opts.apiUrl()}`;
    const now = this.opts.now ?? Date.now;
    const started = now();
    const ok = await this.redis.set(this.keys.lease, value, 'PX', this.opts.ttlMs, 'NX');
    if (ok !== 'OK') return false;
    this.value = value;
    this.lastRenewedAt = started;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.opts.ttlMs / 3)));
    this.renewTimer.unref();
    return true;
  }

  private async renew(): Promise<void> {
    const value = this.value;
    if (value === undefined || this.lost) return;
    const now = this.opts.now ?? Date.now;
    const started = now();
    try {
      const r = Number(await this.redis.eval(RENEW_SCRIPT, 1, this.keys.lease, value, this.opts.ttlMs));
      if (r === 1) {
        this.lastRenewedAt = started;
        return;
      }
      this.lose(
        `another replica holds the writer lease (${(await this.redis.get(this.keys.lease).catch(() => null)) ?? 'none'})`,
      );
    } catch (e) {
      if (now() - this.lastRenewedAt >= this.opts.ttlMs)
        this.lose(`the lease could not be renewed for ${this.opts.ttlMs} ms: ${(e as Error).message}`);
      else this.log.warn({ err: { message: (e as Error).message } }, 'writer lease renewal failed; retrying');
    }
  }

  private lose(why: string): void {
    if (this.lost) return;
    this.lost = true;
    this.value = undefined;
    this.stopRenewing();
    this.opts.onLost(new OprError('OPR_ERR_LEASE_LOST', `writer lease lost: ${why}`, { replica: this.opts.replica }));
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** Stops renewing and frees the lease if this replica still holds it. */
  async release(): Promise<void> {
    this.stopRenewing();
    const value = this.value;
    this.value = undefined;
    if (value === undefined || this.lost) return;
    await this.redis
      .eval(RELEASE_SCRIPT, 1, this.keys.lease, value)
      .catch((e: unknown) =>
        this.log.warn({ err: { message: (e as Error).message } }, 'writer lease not released; it expires by itself'),
      );
  }
}
