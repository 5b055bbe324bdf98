import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { decodeSigningSecret, generateSigningSecret, signWebhook, webhookHeaders } from '../../src/push/webhook-signature.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('Standard Webhooks signing', () => {
  it('produces headers the standardwebhooks library verifies', () => {
    const body = JSON.stringify({ events: [{ seq: 1 }] });
    const ts = Math.floor(Date.now() / 1000);
    const headers = webhookHeaders(decodeSigningSecret(SECRET), 'msg_billing_1_1', ts, body);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(SECRET).verify(body, headers)).toEqual({ events: [{ seq: 1 }] });
  });

  it('matches the specification example', () => {
    // From the Standard Webhooks specification.
    const key = decodeSigningSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(signWebhook(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('fails verification when the body, id or secret differ', () => {
    const ts = Math.floor(Date.now() / 1000);
    const headers = webhookHeaders(decodeSigningSecret(SECRET), 'msg_1', ts, '{"events":[]}');
    expect(() => new Webhook(SECRET).verify('{"events":[1]}', headers)).toThrow();
    expect(() => new Webhook(SECRET).verify('{"events":[]}', { ...headers, 'webhook-id': 'msg_2' })).toThrow();
    expect(() => new Webhook(generateSigningSecret()).verify('{"events":[]}', headers)).toThrow();
  });

  it('sends no signature without a key', () => {
    expect(webhookHeaders(undefined, 'msg_1', 1, '{}')).toEqual({ 'webhook-id': 'msg_1', 'webhook-timestamp': '1' });
  });

  it('refuses secrets that are not base64 or too short, saying what is expected', () => {
    expect(() => decodeSigningSecret('whsec_not base64!')).toThrow(/whsec_/);
    expect(() => decodeSigningSecret('whsec_c2hvcnQ=')).toThrow(/at least 16 bytes/);
    expect(decodeSigningSecret(SECRET.slice('whsec_'.length))).toEqual(decodeSigningSecret(SECRET));
    expect(decodeSigningSecret(generateSigningSecret())).toHaveLength(32);
  });
});
