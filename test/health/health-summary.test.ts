import { describe, expect, it } from 'vitest';
import { summarizeWebhookHealth } from '../../src/health/health-summary.js';
import type { HealthCounts } from '../../src/health/webhook-health.js';
import { judgeHealth } from '../../src/health/webhook-health.js';

function entry(command: 'online' | 'offline', platformID: number, over: Partial<HealthCounts>) {
  return judgeHealth({ command, platformID, byWebhook: 0, byCorrection: 0, receipts: 0, lateDelaysMs: [], silentRenewals: 0, verifiedOnline: 0, ...over });
}

const healthy = (command: 'online' | 'offline', platformID: number) => entry(command, platformID, { byWebhook: 40, receipts: 45 });
const degraded = (command: 'online' | 'offline', platformID: number, byCorrection = 10) => entry(command, platformID, { byWebhook: 30, byCorrection, receipts: 31 });
const silent = (command: 'online' | 'offline', platformID: number) => entry(command, platformID, { byCorrection: 12 });

describe('the webhook health summary', () => {
  it('escalates to the worst state: silent over degraded over healthy', () => {
    expect(summarizeWebhookHealth([healthy('online', 1)]).state).toBe('healthy');
    expect(summarizeWebhookHealth([healthy('online', 1), degraded('offline', 2)]).state).toBe('degraded');
    expect(summarizeWebhookHealth([healthy('online', 1), degraded('offline', 2), silent('offline', 5)]).state).toBe('silent');
  });

  it('says the silent cause once for every command and platform, without naming a platform', () => {
    const entries = [1, 2, 5].flatMap((p) => [silent('online', p), silent('offline', p)]);
    const s = summarizeWebhookHealth(entries);
    expect(s.headline).toBe('Webhooks are silent');
    expect(s.cause.match(/v3\.8\.0\/v3\.8\.1/g)).toHaveLength(1);
    expect(s.cause).toContain('no online or offline webhook at all while users connect and disconnect');
    expect(s.cause).toContain('`afterUserOnline.enable` or `afterUserOffline.enable` is false');
    expect(s.affected).toEqual([
      { state: 'silent', command: 'online', platforms: ['IOS', 'Android', 'Web'] },
      { state: 'silent', command: 'offline', platforms: ['IOS', 'Android', 'Web'] },
    ]);
    expect(s.counts).toEqual({ silent: 6, degraded: 0, healthy: 0, unknown: 0 });
  });

  it('names one command when only its webhooks are silent, and lists the degraded ones after', () => {
    const s = summarizeWebhookHealth([silent('offline', 2), degraded('online', 5), healthy('online', 2)]);
    expect(s.cause).toMatch(/^no offline webhook at all while users disconnect/);
    expect(s.cause).toContain('`afterUserOffline.enable` is false');
    expect(s.affected).toEqual([
      { state: 'silent', command: 'offline', platforms: ['Android'] },
      { state: 'degraded', command: 'online', platforms: ['Web'] },
    ]);
  });

  it('gives the range of corrected shares when webhooks are being lost, worst platform first', () => {
    const s = summarizeWebhookHealth([degraded('offline', 1, 10), degraded('offline', 2, 30), healthy('online', 1)]);
    expect(s.headline).toBe('Webhooks are being lost');
    expect(s.cause).toMatch(/^25 % to 50 % of the transitions of 2 platform and command pairs were learned by correction/);
    expect(s.affected).toEqual([{ state: 'degraded', command: 'offline', platforms: ['Android', 'IOS'] }]);
    expect(summarizeWebhookHealth([degraded('offline', 2, 30)]).cause).toMatch(/^50 % of Android offline transitions were learned by correction/);
  });

  it('says how many transitions arrived by webhook when healthy', () => {
    expect(summarizeWebhookHealth([healthy('online', 1), healthy('offline', 1)]).cause).toBe('80 of 80 transitions arrived by webhook');
  });

  it('says there is not enough to judge rather than healthy when the corrections are too few', () => {
    const s = summarizeWebhookHealth([entry('offline', 4, { byCorrection: 2 })]);
    expect(s.state).toBe('unknown');
    expect(s.headline).toBe('Not enough transitions to judge');
    expect(summarizeWebhookHealth([]).headline).toBe('No webhook health yet');
  });
});
