/** Feeds a test daemon with webhooks and corrections, the way OpenIM and the poller would. */
import type { Daemon } from '../../src/daemon/daemon.js';
import type { Correction } from '../../src/engine/presence-engine.js';
import { postWebhook, webhookBody } from '../helpers/daemon-fixture.js';

type Command = 'callbackAfterUserOnlineCommand' | 'callbackAfterUserOfflineCommand';

let seqClock = Date.now();

/** Posts one presence webhook and checks OpenIM would see it accepted. */
export async function sendWebhook(d: Daemon, command: Command, userID: string, platformID: number): Promise<void> {
  // Distinct, increasing gateway clocks: two webhooks in the same millisecond are still two webhooks.
  seqClock = Math.max(seqClock + 1, Date.now());
  const res = await postWebhook(d, command, webhookBody(command, userID, platformID, seqClock));
  if (res.status !== 200) throw new Error(`webhook ${command} for ${userID} answered ${res.status}: ${res.body}`);
}

export async function online(d: Daemon, userID: string, platformID: number): Promise<void> {
  await sendWebhook(d, 'callbackAfterUserOnlineCommand', userID, platformID);
}

/** A correction as the poller makes it after a confirmed disagreement (rule 4). */
export function correction(userID: string, platformID: number, toOnline: boolean, detail = 'confirm poll read the user offline'): Correction {
  const now = Date.now();
  return {
    userID,
    platformID,
    toOnline,
    occurredAfter: now - 45_000,
    occurredBefore: now - 2_000,
    pollAt: now - 2_000,
    evidence: [
      { at: now - 45_000, what: 'poll', ref: 1, detail: `poll agreed with the stream (${toOnline ? 'offline' : 'online'})` },
      { at: now - 7_000, what: 'poll', ref: 2, detail: `poll read the user ${toOnline ? 'online' : 'offline'}` },
      { at: now - 2_000, what: 'poll', ref: 3, detail },
    ],
  };
}
