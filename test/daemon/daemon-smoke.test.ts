import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';

describe('a running daemon', () => {
  let d: (Daemon & { cleanupDir: () => void }) | undefined;
  afterEach(async () => {
    await d?.close();
    d?.cleanupDir();
  });

  it('turns an online webhook into a committed stream event', async () => {
    d = await startTestDaemon();
    const res = await postWebhook(d, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', 'u1', 5, Date.now()));
    expect(res.status).toBe(200);
    expect(res.body).toBe('{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}');
    const page = (await (await fetch(`${d.apiUrl}/v1/events?after=0`)).json()) as { events: { type: string; userID: string; seq: number }[] };
    expect(page.events).toMatchObject([{ seq: 1, type: 'presence.online', userID: 'u1', platformID: 5, platform: 'Web', source: 'webhook' }]);
  });
});
