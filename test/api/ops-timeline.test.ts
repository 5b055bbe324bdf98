import { afterEach, describe, expect, it } from 'vitest';
import type { Timeline } from '../../src/api/ops-timeline.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { getJson } from './ops-fixtures.js';

const ON = 'callbackAfterUserOnlineCommand';
const OFF = 'callbackAfterUserOfflineCommand';

describe('GET /v1/users/:userID/timeline', () => {
  let d: (Daemon & { cleanupDir: () => void }) | undefined;
  afterEach(async () => {
    await d?.close();
    d?.cleanupDir();
    d = undefined;
  });

  async function waitFor(check: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('merges webhooks, polls, mismatches and events oldest first on one time axis', async () => {
    d = await startTestDaemon();
    const t0 = Date.now();
    await postWebhook(d, ON, webhookBody(ON, 'ann', 5, t0));
    await postWebhook(d, ON, webhookBody(ON, 'ann', 5, t0 + 1)); // a renewal: heartbeat, no event
    await postWebhook(d, OFF, webhookBody(OFF, 'ann', 5, t0 + 2));
    await waitFor(() => d!.engine.heldCount() === 0 && d!.store.headSeq() === 2);
    const pollAt = Date.now();
    d.store.insertPollObservation({ userID: 'ann', at: pollAt, runID: 7, platforms: { '1': 2 }, purpose: 'disagreement' });
    await new Promise((r) => setTimeout(r, 5));
    d.engine.correct([{ userID: 'ann', platformID: 1, toOnline: true, occurredAfter: null, occurredBefore: pollAt, pollAt, evidence: [] }]);
    // Another user's history stays out.
    await postWebhook(d, ON, webhookBody(ON, 'bob', 5, t0));

    const r = await getJson<Timeline>(`${d.apiUrl}/v1/users/ann/timeline?since=1h`);
    expect(r.status).toBe(200);
    const t = r.body;
    expect(t.userID).toBe('ann');
    expect(t.truncated).toBe(false);
    const times = t.items.map((i) => Date.parse(i.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(t.items.map((i) => i.kind)).toEqual(['webhook', 'event', 'webhook', 'webhook', 'event', 'poll', 'mismatch', 'event']);
    expect(t.items.map((i) => i.summary)).toEqual([
      'online webhook for Web: the key went online',
      '#1 presence.online Web from webhook; user online',
      'online webhook for Web: no change (duplicate or renewal)',
      'offline webhook for Web: held offline took effect',
      '#2 presence.offline Web from webhook; user offline',
      'poll read online on IOS ×2 (disagrees with the stream)',
      'mismatch #1 missed_online on IOS (open)',
      '#3 presence.online IOS correction for mismatch #1; user online',
    ]);
    expect(t.items[0]!.details).toMatchObject({ command: ON, platformID: 5, effect: 'online' });
    expect(t.items[7]!.details).toMatchObject({ seq: 3, source: 'poll', mismatchID: 1 });
    expect(t.presence).toEqual([
      expect.objectContaining({ platformID: 1, platform: 'IOS', online: true }),
      expect.objectContaining({ platformID: 5, platform: 'Web', online: false }),
    ]);
  });

  it('leaves out what happened before since', async () => {
    d = await startTestDaemon();
    await postWebhook(d, ON, webhookBody(ON, 'cat', 5, Date.now()));
    const later = new Date(Date.now() + 60_000).toISOString();
    const r = await getJson<Timeline>(`${d.apiUrl}/v1/users/cat/timeline?since=${later}`);
    expect(r.body.items).toEqual([]);
  });

  it('says the timeline is truncated, and up to when it is complete, when a source has more than limit entries', async () => {
    d = await startTestDaemon();
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) {
      d.store.insertPollObservation({ userID: 'dan', at: t0 + i * 1000, runID: i, platforms: {}, purpose: 'agree' });
    }
    const r = await getJson<Timeline>(`${d.apiUrl}/v1/users/dan/timeline?since=1h&limit=2`);
    expect(r.body.truncated).toBe(true);
    expect(r.body.completeUntil).toBe(new Date(t0 + 1000).toISOString());
    expect(r.body.items.map((i) => i.summary)).toEqual(['poll read offline (agrees)', 'poll read offline (agrees)']);
  });

  it('answers 400 naming since or limit when they are wrong', async () => {
    d = await startTestDaemon();
    const s = await getJson<{ error: { message: string } }>(`${d.apiUrl}/v1/users/ann/timeline?since=soon`);
    expect(s.status).toBe(400);
    expect(s.body.error.message).toMatch(/^since must be/);
    const l = await getJson<{ error: { message: string } }>(`${d.apiUrl}/v1/users/ann/timeline?limit=-1`);
    expect(l.status).toBe(400);
    expect(l.body.error.message).toMatch(/^limit must be an integer from 1 to 1000/);
  });
});
