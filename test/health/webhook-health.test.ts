import { describe, expect, it } from 'vitest';
import type { HealthCounts } from '../../src/health/webhook-health.js';
import { judgeHealth, worstState } from '../../src/health/webhook-health.js';

function counts(over: Partial<HealthCounts> = {}): HealthCounts {
  return { command: 'offline', platformID: 5, byWebhook: 0, byCorrection: 0, receipts: 0, lateDelaysMs: [], silentRenewals: 0, verifiedOnline: 0, ...over };
}

describe('judging webhook health', () => {
  describe('when fewer than 5 transitions were learned by correction', () => {
    it('does not call a 100 % correction share healthy: not enough transitions to judge', () => {
      const h = judgeHealth(counts({ byCorrection: 2 }));
      expect(h.state).toBe('unknown');
      expect(h.correctionShare).toBe(1);
      expect(h.message).toBe('not enough transitions to judge: 2 of 2 Web offline transitions were learned by correction (webhook health is judged from 5 corrections on)');
    });

    it('does not call 4 corrections out of 5 healthy either, though webhooks arrive', () => {
      const h = judgeHealth(counts({ byWebhook: 1, byCorrection: 4, receipts: 3 }));
      expect(h.state).toBe('unknown');
      expect(h.message).toMatch(/^not enough transitions to judge: 4 of 5 /);
    });

    it('calls a small share healthy, with the share it states', () => {
      const h = judgeHealth(counts({ byWebhook: 95, byCorrection: 4, receipts: 120 }));
      expect(h.state).toBe('healthy');
      expect(h.message).toBe('95 of 99 offline transitions arrived by webhook');
    });
  });

  describe('when 5 or more transitions were learned by correction', () => {
    it('is degraded above a 5 % share, naming it', () => {
      const h = judgeHealth(counts({ byWebhook: 10, byCorrection: 5, receipts: 12 }));
      expect(h.state).toBe('degraded');
      expect(h.message).toMatch(/^33% of Web offline transitions were learned by correction/);
    });

    it('is silent when no webhook of the command came at all', () => {
      const h = judgeHealth(counts({ byCorrection: 5 }));
      expect(h.state).toBe('silent');
      expect(h.message).toMatch(/v3\.8\.0\/v3\.8\.1 never sends presence webhooks/);
    });
  });

  it('says "no transitions" rather than "0 of 0 arrived by webhook" when only renewals came', () => {
    const h = judgeHealth(counts({ command: 'online', receipts: 7 }));
    expect(h.state).toBe('healthy');
    expect(h.message).toBe('no online transitions for Web in the window; 7 online webhooks received (renewals or duplicates)');
  });

  it('is unknown, saying so, when nothing was seen', () => {
    expect(judgeHealth(counts()).message).toBe('no offline transitions seen for Web yet');
  });

  it('ranks states silent > degraded > healthy > unknown', () => {
    const of = (...states: ('healthy' | 'degraded' | 'silent' | 'unknown')[]) =>
      worstState(states.map((state) => ({ ...judgeHealth(counts()), state })));
    expect(of('healthy', 'silent', 'degraded')).toBe('silent');
    expect(of('healthy', 'degraded', 'unknown')).toBe('degraded');
    expect(of('unknown', 'healthy')).toBe('healthy');
    expect(of()).toBe('unknown');
  });
});
