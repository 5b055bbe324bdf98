/**
 * Webhook health per command and platform (docs/architecture.md, webhook health): from the share of transitions first learned by webhook vs
 * by correction, late-webhook delays and renewal heartbeats. Pure: the caller gathers the counts.
 */
import { OTHER_PLATFORM_ID, platformName } from '../openim/platforms.js';

export const HEALTH_STATES = ['healthy', 'degraded', 'silent', 'unknown'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export const HEALTH_COMMANDS = ['online', 'offline'] as const;
export type HealthCommand = (typeof HEALTH_COMMANDS)[number];

export interface HealthCounts {
  command: HealthCommand;
  platformID: number;
  /** Transitions of this kind first learned from a webhook in the window. */
  byWebhook: number;
  /** Transitions of this kind learned by correction in the window. */
  byCorrection: number;
  /**
   * Webhooks received for this command and platform in the window: transitions, renewals and duplicates alike.
   * Every webhook transition counted in `byWebhook` has its receipt counted here (both by the webhook's time).
   */
  receipts: number;
  /** Late-webhook delays (ms) seen in the window. */
  lateDelaysMs: number[];
  /** For online: keys the API reports online whose last online webhook is older than the renewal silence. */
  silentRenewals: number;
  /** For online: keys the API reports online in total (verified). */
  verifiedOnline: number;
}

export interface HealthThresholds {
  /** A correction share above this is degraded. */
  degradedShare: number;
  /** Corrections needed before a state other than unknown/healthy is judged. */
  minTransitions: number;
  renewalSilenceMinutes: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = { degradedShare: 0.05, minTransitions: 5, renewalSilenceMinutes: 21 };

export interface WebhookHealth {
  command: HealthCommand;
  platformID: number;
  platform: string;
  state: HealthState;
  /** Share of transitions learned by correction (0..1), null without transitions. */
  correctionShare: number | null;
  /** Transitions (state changes) learned from a webhook in the window, counted at the webhook's time. */
  byWebhook: number;
  /** Transitions learned by correction (a poll) in the window, counted when recorded. */
  byCorrection: number;
  /** Webhooks received in the window, transitions, renewals and duplicates alike (always >= byWebhook). */
  receipts: number;
  lateP50Ms: number | null;
  lateP99Ms: number | null;
  silentRenewals: number;
  message: string;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const ENABLE_KEY: Record<HealthCommand, string> = { online: 'afterUserOnline', offline: 'afterUserOffline' };

export function judgeHealth(c: HealthCounts, t: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS): WebhookHealth {
  const total = c.byWebhook + c.byCorrection;
  const share = total > 0 ? c.byCorrection / total : null;
  const late = [...c.lateDelaysMs].sort((a, b) => a - b);
  const other = c.platformID === OTHER_PLATFORM_ID;
  const name = other ? 'platforms outside the known set' : platformName(c.platformID) || `platform ${c.platformID}`;
  const base = {
    command: c.command,
    platformID: c.platformID,
    platform: other ? 'other' : platformName(c.platformID),
    correctionShare: share,
    byWebhook: c.byWebhook,
    byCorrection: c.byCorrection,
    receipts: c.receipts,
    lateP50Ms: percentile(late, 50),
    lateP99Ms: percentile(late, 99),
    silentRenewals: c.silentRenewals,
  };
  const verb = c.command === 'online' ? 'connect' : 'disconnect';
  if (c.byCorrection >= t.minTransitions && c.byWebhook === 0 && c.receipts === 0) {
    return {
      ...base,
      state: 'silent',
      message:
        `no ${c.command} webhooks at all for ${name} while users ${verb} (${c.byCorrection} transitions learned only by polling): ` +
        `OpenIM v3.8.0/v3.8.1 never sends presence webhooks (fixed in v3.8.2), or \`${ENABLE_KEY[c.command]}.enable\` is false in webhooks.yml, ` +
        `or webhooks.yml \`url\` does not reach this daemon (run \`openim-presence doctor\`)`,
    };
  }
  if (c.command === 'online' && c.verifiedOnline >= t.minTransitions && c.silentRenewals === c.verifiedOnline && c.receipts === 0) {
    return {
      ...base,
      state: 'silent',
      message: `${c.silentRenewals} ${name} users are online per the API with no online webhook (not even the 10-minute renewal) for over ${t.renewalSilenceMinutes} min: webhooks are not arriving`,
    };
  }
  if (share !== null && c.byCorrection >= t.minTransitions && share > t.degradedShare) {
    return {
      ...base,
      state: 'degraded',
      message:
        `${Math.round(share * 100)}% of ${name} ${c.command} transitions were learned by correction: webhooks are being lost ` +
        `(OpenIM drops them when its 100-slot webhook queue is full or this receiver is slow, and a crashed gateway sends none)`,
    };
  }
  if (c.command === 'online' && c.silentRenewals >= t.minTransitions && c.silentRenewals > c.verifiedOnline * t.degradedShare) {
    return {
      ...base,
      state: 'degraded',
      message: `${c.silentRenewals} of ${c.verifiedOnline} ${name} users online per the API had no online webhook renewal for over ${t.renewalSilenceMinutes} min: renewal webhooks are being lost`,
    };
  }
  if (total === 0 && c.receipts === 0 && c.verifiedOnline === 0) {
    return { ...base, state: 'unknown', message: `no ${c.command} transitions seen for ${name} yet` };
  }
  if (share !== null && share > t.degradedShare) {
    // Too few corrections to call it degraded, too large a share to call it healthy: say so instead of guessing.
    return {
      ...base,
      state: 'unknown',
      message:
        `not enough transitions to judge: ${c.byCorrection} of ${total} ${name} ${c.command} transitions were learned by correction ` +
        `(webhook health is judged from ${t.minTransitions} corrections on)`,
    };
  }
  const lateNote = base.lateP99Ms !== null ? `; late webhooks p99 ${Math.round(base.lateP99Ms / 1000)} s` : '';
  if (total === 0) {
    return {
      ...base,
      state: 'healthy',
      message: `no ${c.command} transitions for ${name} in the window; ${c.receipts} ${c.command} webhook${c.receipts === 1 ? '' : 's'} received (renewals or duplicates)${lateNote}`,
    };
  }
  return { ...base, state: 'healthy', message: `${c.byWebhook} of ${total} ${c.command} transitions arrived by webhook${lateNote}` };
}

/** The worst state of a list: silent > degraded > healthy > unknown. */
export function worstState(list: readonly WebhookHealth[]): HealthState {
  const rank: Record<HealthState, number> = { silent: 3, degraded: 2, healthy: 1, unknown: 0 };
  return list.reduce<HealthState>((w, h) => (rank[h.state] > rank[w] ? h.state : w), 'unknown');
}
