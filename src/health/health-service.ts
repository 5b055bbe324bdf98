import type { PresenceEngine } from '../engine/presence-engine.js';
import { knownPlatformIDs, OTHER_PLATFORM_ID } from '../openim/platforms.js';
import type { PollerStatus } from '../poller/poll-scheduler.js';
import type { GuardState } from '../poller/poll-reconciler.js';
import type { EventLog, ReportQueries } from '../store/store.js';
import type { HealthCounts, HealthState, WebhookHealth } from './webhook-health.js';
import { DEFAULT_HEALTH_THRESHOLDS, judgeHealth, worstState } from './webhook-health.js';

export interface HealthServiceOptions {
  /**
   * Platforms judged one by one (OpenIM's and `webhook.extraPlatforms`); any other is summed into one entry with
   * platformID OTHER_PLATFORM_ID, so the number of entries (and metric series) stays bounded. Default: OpenIM's.
   */
  platformIDs?: ReadonlySet<number>;
  /** Window over which webhook health is judged. */
  windowMs: number;
  renewalSilenceMs: number;
  pollIntervalSeconds: number;
  /** /readyz fails once polling has failed this many cycles in a row. */
  maxFailedCycles: number;
  mode: 'active' | 'shadow';
}

export interface DaemonHealth {
  status: 'ok' | 'degraded' | 'failing';
  mode: 'active' | 'shadow';
  checkedAt: string;
  webhooks: { state: HealthState; byCommand: Record<'online' | 'offline', HealthState>; entries: WebhookHealth[] };
  poll: (PollerStatus & { enabled: true; guard: GuardState | null; openDisagreements: number }) | { enabled: false };
  api: { state: 'ok' | 'failing' | 'unknown'; message: string };
  stream: { headSeq: number; onlineUsers: number; keys: number; heldOfflines: number };
}

export interface PollerView {
  status(): PollerStatus;
  guard(): GuardState | null;
  openDisagreements(): number;
}

/** Assembles the daemon's health (webhook health per command and platform, polling, OpenIM API, stream). */
export class HealthService {
  private defaultPlatformIDs: ReadonlySet<number> | undefined;

  constructor(
    private readonly store: Pick<EventLog, 'headSeq'> & Pick<ReportQueries, 'eventCounts' | 'receiptCounts' | 'lateDelays'>,
    private readonly engine: PresenceEngine,
    private readonly poller: PollerView | undefined,
    private readonly opts: HealthServiceOptions,
    private readonly now: () => number = Date.now,
  ) {}

  webhookCounts(since: number): HealthCounts[] {
    const map = new Map<string, HealthCounts>();
    const known = this.opts.platformIDs ?? (this.defaultPlatformIDs ??= knownPlatformIDs());
    const get = (command: 'online' | 'offline', id: number): HealthCounts => {
      const platformID = known.has(id) ? id : OTHER_PLATFORM_ID;
      const k = `${command}:${platformID}`;
      let c = map.get(k);
      if (!c) {
        c = { command, platformID, byWebhook: 0, byCorrection: 0, receipts: 0, lateDelaysMs: [], silentRenewals: 0, verifiedOnline: 0 };
        map.set(k, c);
      }
      return c;
    };
    for (const e of this.store.eventCounts(since)) {
      const c = get(e.type === 'presence.online' ? 'online' : 'offline', e.platformID);
      if (e.source === 'webhook') c.byWebhook += e.count;
      else c.byCorrection += e.count;
    }
    for (const r of this.store.receiptCounts(since)) {
      const cmd = r.command === 'callbackAfterUserOnlineCommand' ? 'online' : 'offline';
      get(cmd, r.platformID).receipts += r.count;
    }
    const now = this.now();
    const recentlyVerified = now - Math.max(3 * this.opts.pollIntervalSeconds * 1000, 60_000);
    for (const userID of this.engine.onlineUsers()) {
      for (const k of this.engine.keysOfUser(userID)) {
        if (!k.online || k.lastVerifiedAt === null || k.lastVerifiedAt < recentlyVerified) continue;
        // Only keys known long enough for a renewal to be due.
        if (now - k.changedAt < this.opts.renewalSilenceMs) continue;
        const c = get('online', k.platformID);
        c.verifiedOnline++;
        if (k.lastOnlineWebhookAt === null || now - k.lastOnlineWebhookAt > this.opts.renewalSilenceMs) c.silentRenewals++;
      }
    }
    for (const l of this.store.lateDelays(since)) {
      if (l.platformID !== null) get('online', l.platformID).lateDelaysMs.push(l.lateByMs);
    }
    return [...map.values()].sort((a, b) => a.command.localeCompare(b.command) || a.platformID - b.platformID);
  }

  webhookHealth(): WebhookHealth[] {
    const t = { ...DEFAULT_HEALTH_THRESHOLDS, renewalSilenceMinutes: Math.round(this.opts.renewalSilenceMs / 60_000) };
    return this.webhookCounts(this.now() - this.opts.windowMs).map((c) => judgeHealth(c, t));
  }

  health(): DaemonHealth {
    const entries = this.webhookHealth();
    const byCommand = {
      online: worstState(entries.filter((e) => e.command === 'online')),
      offline: worstState(entries.filter((e) => e.command === 'offline')),
    };
    const webhookState = worstState(entries);
    let poll: DaemonHealth['poll'] = { enabled: false };
    let api: DaemonHealth['api'] = { state: 'unknown', message: 'polling is disabled' };
    if (this.poller) {
      const st = this.poller.status();
      poll = { ...st, enabled: true, guard: this.poller.guard(), openDisagreements: this.poller.openDisagreements() };
      if (st.consecutiveFailures > 0) api = { state: 'failing', message: `OpenIM status API failing for ${st.consecutiveFailures} cycle(s): ${st.lastError ?? ''}` };
      else if (st.lastSuccessAt !== null) api = { state: 'ok', message: `last successful poll at ${new Date(st.lastSuccessAt).toISOString()}` };
      else api = { state: 'unknown', message: 'no poll has completed yet' };
    }
    const failing = poll.enabled && poll.consecutiveFailures >= this.opts.maxFailedCycles;
    const degraded = webhookState === 'silent' || webhookState === 'degraded' || api.state === 'failing' || (poll.enabled && poll.guard !== null);
    return {
      status: failing ? 'failing' : degraded ? 'degraded' : 'ok',
      mode: this.opts.mode,
      checkedAt: new Date(this.now()).toISOString(),
      webhooks: { state: webhookState, byCommand, entries },
      poll,
      api,
      stream: {
        headSeq: this.store.headSeq(),
        onlineUsers: this.engine.onlineUserCount(),
        keys: this.engine.keyCount(),
        heldOfflines: this.engine.heldCount(),
      },
    };
  }

  /** Ready: the DB answers and polling has not failed for more than the allowed cycles. */
  ready(): { ready: boolean; reason: string } {
    try {
      this.store.headSeq();
    } catch (e) {
      return { ready: false, reason: `database unavailable: ${(e as Error).message}` };
    }
    const st = this.poller?.status();
    if (st && st.consecutiveFailures >= this.opts.maxFailedCycles) {
      return { ready: false, reason: `polling failed ${st.consecutiveFailures} cycles in a row: ${st.lastError ?? ''}` };
    }
    return { ready: true, reason: 'ok' };
  }
}
