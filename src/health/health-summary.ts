/**
 * One line for the whole of webhook health: the worst state of any command and platform (silent > degraded >
 * healthy > unknown), its cause said once, and which commands and platforms are in that state. Per-platform
 * messages repeat the cause for each platform; an operator reads this first and the table after.
 */
import type { HealthCommand, HealthState, WebhookHealth } from './webhook-health.js';
import { DEFAULT_HEALTH_THRESHOLDS, worstState } from './webhook-health.js';

export interface AffectedGroup {
  state: HealthState;
  command: HealthCommand;
  /** Platform names, worst share first for degraded, else in platform order. */
  platforms: string[];
}

export interface WebhookHealthSummary {
  /** The worst state of any entry. */
  state: HealthState;
  /** A few words for that state ("Webhooks are silent"). */
  headline: string;
  /** Why, said once for every command and platform in that state; `code` spans are marked with backticks. */
  cause: string;
  /** Commands and platforms in the worst state, then in the next worse one (degraded under silent). */
  affected: AffectedGroup[];
  /** How many command × platform entries are in each state. */
  counts: Record<HealthState, number>;
}

const ENABLE_KEY: Record<HealthCommand, string> = { online: 'afterUserOnline', offline: 'afterUserOffline' };

function platformOf(e: WebhookHealth): string {
  return e.platform !== '' ? e.platform : `platform ${e.platformID}`;
}

/** A silent entry is either "no webhook of this command at all" or "renewals missing for users online per the API". */
function silentByRenewals(e: WebhookHealth): boolean {
  return !(e.byCorrection >= DEFAULT_HEALTH_THRESHOLDS.minTransitions && e.byWebhook === 0 && e.receipts === 0);
}

/** A degraded entry either has a large corrected share or lost renewals. */
function degradedByShare(e: WebhookHealth): boolean {
  return e.correctionShare !== null && e.correctionShare > DEFAULT_HEALTH_THRESHOLDS.degradedShare && e.byCorrection >= DEFAULT_HEALTH_THRESHOLDS.minTransitions;
}

function groups(entries: readonly WebhookHealth[], state: HealthState): AffectedGroup[] {
  const out: AffectedGroup[] = [];
  for (const command of ['online', 'offline'] as const) {
    const of = entries.filter((e) => e.state === state && e.command === command);
    if (of.length === 0) continue;
    if (state === 'degraded') of.sort((a, b) => (b.correctionShare ?? 0) - (a.correctionShare ?? 0) || a.platformID - b.platformID);
    else of.sort((a, b) => a.platformID - b.platformID);
    out.push({ state, command, platforms: of.map(platformOf) });
  }
  return out;
}

function commandsText(commands: readonly HealthCommand[]): string {
  return commands.length === 2 ? 'online or offline' : (commands[0] ?? 'presence');
}

function pct(share: number): string {
  return `${Math.round(share * 100)} %`;
}

function silentCause(silent: readonly WebhookHealth[], renewalMinutes: number): string {
  const none = silent.filter((e) => !silentByRenewals(e));
  const parts: string[] = [];
  if (none.length > 0) {
    const commands = (['online', 'offline'] as const).filter((c) => none.some((e) => e.command === c));
    const keys = commands.map((c) => `\`${ENABLE_KEY[c]}.enable\``).join(' or ');
    parts.push(
      `no ${commandsText(commands)} webhook at all while users ${commands.length === 2 ? 'connect and disconnect' : commands[0] === 'online' ? 'connect' : 'disconnect'}, ` +
        `so every change is learned by polling: OpenIM v3.8.0/v3.8.1 never sends presence webhooks (fixed in v3.8.2), or ${keys} is false in webhooks.yml, ` +
        'or the webhooks.yml `url` does not reach this daemon (run `openim-presence doctor`)',
    );
  }
  if (none.length < silent.length) {
    parts.push(`users online per the API got no online webhook, not even the 10-minute renewal, for over ${renewalMinutes} min: webhooks are not arriving`);
  }
  return parts.join('; ');
}

function degradedCause(degraded: readonly WebhookHealth[], renewalMinutes: number): string {
  const byShare = degraded.filter(degradedByShare);
  const parts: string[] = [];
  if (byShare.length > 0) {
    const shares = byShare.map((e) => e.correctionShare ?? 0);
    const lo = Math.min(...shares);
    const hi = Math.max(...shares);
    const one = byShare.length === 1 ? byShare[0] : undefined;
    const where = one !== undefined ? `of ${platformOf(one)} ${one.command} transitions` : `of the transitions of ${byShare.length} platform and command pairs`;
    parts.push(
      `${lo === hi ? pct(hi) : `${pct(lo)} to ${pct(hi)}`} ${where} were learned by correction: webhooks are being lost ` +
        '(OpenIM drops them when its 100-slot webhook queue is full or this receiver is slow, and a crashed gateway sends none)',
    );
  }
  if (byShare.length < degraded.length) {
    const silentRenewals = degraded.filter((e) => !degradedByShare(e)).reduce((n, e) => n + e.silentRenewals, 0);
    parts.push(`${silentRenewals} users online per the API had no online webhook renewal for over ${renewalMinutes} min: renewal webhooks are being lost`);
  }
  return parts.join('; ');
}

export function summarizeWebhookHealth(entries: readonly WebhookHealth[], renewalMinutes = DEFAULT_HEALTH_THRESHOLDS.renewalSilenceMinutes): WebhookHealthSummary {
  const state = worstState(entries);
  const counts: Record<HealthState, number> = { silent: 0, degraded: 0, healthy: 0, unknown: 0 };
  for (const e of entries) counts[e.state]++;
  const of = (s: HealthState) => entries.filter((e) => e.state === s);
  switch (state) {
    case 'silent':
      return {
        state,
        headline: 'Webhooks are silent',
        cause: silentCause(of('silent'), renewalMinutes),
        affected: [...groups(entries, 'silent'), ...groups(entries, 'degraded')],
        counts,
      };
    case 'degraded':
      return { state, headline: 'Webhooks are being lost', cause: degradedCause(of('degraded'), renewalMinutes), affected: groups(entries, 'degraded'), counts };
    case 'healthy': {
      const byWebhook = entries.reduce((n, e) => n + e.byWebhook, 0);
      const total = entries.reduce((n, e) => n + e.byWebhook + e.byCorrection, 0);
      return {
        state,
        headline: 'Webhooks arrive',
        cause: total === 0 ? 'no transitions in the window yet; webhooks (renewals) do arrive' : `${byWebhook} of ${total} transitions arrived by webhook`,
        affected: [],
        counts,
      };
    }
    default: {
      const judged = entries.some((e) => e.byWebhook + e.byCorrection > 0);
      return {
        state,
        headline: judged ? 'Not enough transitions to judge' : 'No webhook health yet',
        cause: judged
          ? `too few transitions were learned by correction to judge a share (webhook health is judged from ${DEFAULT_HEALTH_THRESHOLDS.minTransitions} corrections on)`
          : 'no webhook and no correction seen in the window yet',
        affected: [],
        counts,
      };
    }
  }
}
