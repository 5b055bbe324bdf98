/**
 * A model of true presence and of how OpenIM 3.8.x turns it into webhooks (docs/openim-contract.md, how the gateway produces them), for property tests.
 *
 * Truth: per (user, platform, gateway), a number of open connections. A key (user, platform) is online while any
 * gateway holds a connection for it. Every connection change on a gateway becomes one state
 * `{Online: [platforms of the user still connected on this gateway], Offline: [the platform that lost a connection]}`,
 * sent as online entries first, then offline entries, all with the gateway clock at that moment as `seq` and one
 * `operationID` per state. Renewals re-send online for a connected key. When a gateway closes its last connection
 * of a key while another gateway still holds one, the other gateway re-announces the key shortly after (self-heal).
 *
 * Delivery: each webhook arrives after a random delay below `reorderWindowMs`, so webhooks sent within that window
 * of each other may arrive in either order (the two workers of OpenIM's queue).
 *
 * One limit is built into the histories, because webhooks alone cannot resolve it (docs/architecture.md, rule 2: an online in
 * the settle window cancels a held offline whatever its seq): the last connection of a key never closes within
 * `reorderWindowMs` after an online webhook for that key was sent. Otherwise the offline could overtake that online,
 * and only a poll can tell which came last.
 */
import type { WebhookCommand } from '../../src/openim/webhook-schemas.js';

export type ActionKind = 'connect' | 'disconnect' | 'renew';

export interface HistoryAction {
  /** Milliseconds since the previous action. */
  gap: number;
  user: number;
  platform: number;
  gateway: number;
  kind: ActionKind;
  /** A disconnect sent as callbackAfterUserKickOffCommand instead of the offline command. */
  kick: boolean;
  /** How long after a cross-gateway close the other gateway re-announces the key. */
  healDelayMs: number;
}

export interface SentWebhook {
  command: WebhookCommand;
  userID: string;
  platformID: number;
  seq: number;
  operationID: string;
  sentAt: number;
  /** The body exactly as a 3.8.x gateway writes it. */
  body: string;
}

export interface RenderedHistory {
  sent: SentWebhook[];
  /** Final truth per key `${userID}|${platformID}`: online when any gateway holds a connection. */
  truth: Map<string, boolean>;
  end: number;
}

const PLATFORM_NAMES: Record<number, string> = { 1: 'IOS', 2: 'Android', 3: 'Windows', 5: 'Web' };
const GATEWAY_PIDS = [4242, 5151];

export function renderBody(command: WebhookCommand, userID: string, platformID: number, seq: number, operationID: string): string {
  const platform = PLATFORM_NAMES[platformID] ?? '';
  if (command === 'callbackAfterUserOnlineCommand') {
    return JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq, isAppBackground: false, connID: '' }) + '\n';
  }
  if (command === 'callbackAfterUserOfflineCommand') {
    return JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq, connID: '' }) + '\n';
  }
  return JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq }) + '\n';
}

export function keyName(userID: string, platformID: number): string {
  return `${userID}|${platformID}`;
}

/** Plays the actions against the truth model and renders the webhooks OpenIM would send. */
export function renderHistory(actions: readonly HistoryAction[], start: number, reorderWindowMs: number, platforms: readonly number[]): RenderedHistory {
  const conns = new Map<string, number>();
  const lastOnlineSent = new Map<string, number>();
  const batches = GATEWAY_PIDS.map(() => 0);
  const sent: SentWebhook[] = [];
  const users = new Set<string>();
  const at = (u: string, p: number, g: number): number => conns.get(`${u}|${p}|${g}`) ?? 0;
  const total = (u: string, p: number): number => GATEWAY_PIDS.reduce((n, _pid, g) => n + at(u, p, g), 0);
  const platformsOn = (u: string, g: number): number[] => platforms.filter((p) => at(u, p, g) > 0);

  const emit = (g: number, time: number, userID: string, online: readonly number[], offline: readonly number[], kick: boolean): void => {
    batches[g] = (batches[g] ?? 0) + 1;
    const operationID = `p_${GATEWAY_PIDS[g] ?? 0}_${batches[g]}`;
    for (const p of online) {
      sent.push(webhook('callbackAfterUserOnlineCommand', userID, p, time, operationID));
      const k = keyName(userID, p);
      lastOnlineSent.set(k, Math.max(lastOnlineSent.get(k) ?? 0, time));
    }
    const offCommand = kick ? 'callbackAfterUserKickOffCommand' : 'callbackAfterUserOfflineCommand';
    for (const p of offline) sent.push(webhook(offCommand, userID, p, time, operationID));
  };

  let t = start;
  for (const a of actions) {
    t += a.gap;
    const u = `u${a.user}`;
    const p = a.platform;
    users.add(u);
    if (a.kind === 'renew') {
      if (total(u, p) === 0) continue;
      const g = at(u, p, a.gateway) > 0 ? a.gateway : 1 - a.gateway;
      emit(g, t, u, [p], [], false);
      continue;
    }
    if (a.kind === 'connect') {
      conns.set(`${u}|${p}|${a.gateway}`, at(u, p, a.gateway) + 1);
      emit(a.gateway, t, u, platformsOn(u, a.gateway), [], false);
      continue;
    }
    const g = at(u, p, a.gateway) > 0 ? a.gateway : 1 - a.gateway;
    if (at(u, p, g) === 0) continue;
    const isLastConnection = total(u, p) === 1;
    if (isLastConnection) t = Math.max(t, (lastOnlineSent.get(keyName(u, p)) ?? 0) + reorderWindowMs);
    conns.set(`${u}|${p}|${g}`, at(u, p, g) - 1);
    emit(g, t, u, platformsOn(u, g), [p], a.kick);
    if (!isLastConnection && at(u, p, g) === 0) {
      // Another gateway still holds the key and re-announces it about a second later (docs/openim-contract.md, online+offline pairs).
      emit(1 - g, t + a.healDelayMs, u, [p], [], false);
    }
  }

  const truth = new Map<string, boolean>();
  for (const u of users) for (const p of platforms) truth.set(keyName(u, p), total(u, p) > 0);
  const end = Math.max(t, ...sent.map((s) => s.sentAt));
  return { sent, truth, end };

  function webhook(command: WebhookCommand, userID: string, platformID: number, time: number, operationID: string): SentWebhook {
    return { command, userID, platformID, seq: time, operationID, sentAt: time, body: renderBody(command, userID, platformID, time, operationID) };
  }
}

/** A small deterministic generator (mulberry32) for delivery noise derived from one property-test seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}
