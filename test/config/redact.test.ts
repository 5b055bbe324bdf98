import { describe, expect, it } from 'vitest';
import { collectSecrets, redactConfig, REDACTED } from '../../src/config/redact.js';
import { configSchema, SECRET_PATHS } from '../../src/config/schema.js';

const SECRETS = {
  openim: 'openim-secret-value-1234',
  path: 'path-secret-value-5678',
  tokens: ['token-aaaaaaaaaaaaaaaa', 'token-bbbbbbbbbbbbbbbb'],
  signing: ['whsec_Zmlyc3Qtc2lnbmluZy1rZXktYnl0ZXMh', 'whsec_c2Vjb25kLXNpZ25pbmcta2V5LWJ5dGVz'],
  redis: 'redis-secret-value-9012',
};

const ALL_SECRETS = [SECRETS.openim, SECRETS.path, ...SECRETS.tokens, ...SECRETS.signing, SECRETS.redis];

function configWithEverySecret() {
  return configSchema.parse({
    openim: { secret: SECRETS.openim },
    webhook: { pathSecret: SECRETS.path },
    api: { tokens: SECRETS.tokens },
    subscribers: [
      { name: 'billing', url: 'https://billing.internal/hook', secret: SECRETS.signing[0] },
      { name: 'audit', url: 'https://audit.internal/hook', secret: SECRETS.signing[1] },
      { name: 'unsigned', url: 'https://other.internal/hook' },
    ],
    store: { backend: 'redis', redis: { password: SECRETS.redis } },
  });
}

describe('redactConfig', () => {
  it('replaces every secret value with [REDACTED], each API token separately', () => {
    const redacted = redactConfig(configWithEverySecret());
    expect(redacted.openim.secret).toBe(REDACTED);
    expect(redacted.webhook.pathSecret).toBe(REDACTED);
    expect(redacted.api.tokens).toEqual([REDACTED, REDACTED]);
    expect(redacted.subscribers.map((s) => s.secret)).toEqual([REDACTED, REDACTED, undefined]);
    expect(redacted.store.redis.password).toBe(REDACTED);
  });

  it('leaves no secret anywhere in the redacted copy', () => {
    const text = JSON.stringify(redactConfig(configWithEverySecret()));
    for (const secret of ALL_SECRETS) expect(text).not.toContain(secret);
  });

  it('keeps every other value and leaves the original untouched', () => {
    const config = configWithEverySecret();
    const redacted = redactConfig(config);
    expect(redacted.openim.apiUrl).toBe(config.openim.apiUrl);
    expect(redacted.subscribers[0]?.url).toBe('https://billing.internal/hook');
    expect(config.openim.secret).toBe(SECRETS.openim);
    expect(config.api.tokens).toEqual(SECRETS.tokens);
    expect(redacted.store.redis.url).toBe('redis://127.0.0.1:6379/0');
    expect(config.store.redis.password).toBe(SECRETS.redis);
  });

  it('leaves unset secrets unset', () => {
    const redacted = redactConfig(configSchema.parse({}));
    expect(redacted.openim.secret).toBeUndefined();
    expect(redacted.api.tokens).toEqual([]);
    expect(redacted.store.redis.password).toBeUndefined();
  });

  it('covers every secret path the schema declares', () => {
    expect([...SECRET_PATHS].sort()).toEqual([
      'api.tokens',
      'openim.secret',
      'store.redis.password',
      'subscribers.*.secret',
      'webhook.pathSecret',
    ]);
  });
});

describe('collectSecrets', () => {
  it('returns every secret value once', () => {
    expect(collectSecrets(configWithEverySecret()).sort()).toEqual([...ALL_SECRETS].sort());
  });

  it('returns nothing when no secret is set', () => {
    expect(collectSecrets(configSchema.parse({}))).toEqual([]);
  });
});

describe('passwords in URLs', () => {
  const config = () =>
    configSchema.parse({
      openim: { apiUrl: 'http://admin:api-Pass%2Fword-77@openim.internal:10002' },
      subscribers: [
        { name: 'basic', url: 'https://push:hook-Pass-word-88@billing.internal/hook?x=1' },
        { name: 'short', url: 'https://u:abc@other.internal/hook' },
        { name: 'plain', url: 'https://user@plain.internal/hook' },
      ],
      store: { redis: { url: 'redis://default:redis-Pass%40word-99@redis.internal:6379/2' } },
    });

  it('are redacted wherever a URL carries one, the rest of the URL kept as written', () => {
    const redacted = redactConfig(config());
    expect(redacted.openim.apiUrl).toBe(`http://admin:${REDACTED}@openim.internal:10002`);
    expect(redacted.subscribers.map((s) => s.url)).toEqual([
      `https://push:${REDACTED}@billing.internal/hook?x=1`,
      `https://u:${REDACTED}@other.internal/hook`,
      'https://user@plain.internal/hook',
    ]);
    expect(redacted.store.redis.url).toBe(`redis://default:${REDACTED}@redis.internal:6379/2`);
    const text = JSON.stringify(redacted);
    for (const p of ['api-Pass', 'hook-Pass', 'redis-Pass', ':abc@']) expect(text).not.toContain(p);
  });

  it('are collected for the logger, raw and decoded, when at least 6 characters long', () => {
    expect(collectSecrets(config()).sort()).toEqual(
      [
        'api-Pass%2Fword-77',
        'api-Pass/word-77',
        'hook-Pass-word-88',
        'redis-Pass%40word-99',
        'redis-Pass@word-99',
      ].sort(),
    );
  });

  it('are redacted and collected in a rediss:// URL with no user name, next to store.redis.password', () => {
    const config = configSchema.parse({
      store: {
        backend: 'redis',
        redis: { url: 'rediss://:tls-redis-pass-42@redis.internal:6380', password: 'auth-redis-pass-43' },
      },
    });
    const redacted = redactConfig(config);
    expect(redacted.store.redis.url).toBe(`rediss://:${REDACTED}@redis.internal:6380`);
    expect(redacted.store.redis.password).toBe(REDACTED);
    expect(collectSecrets(config).sort()).toEqual(['auth-redis-pass-43', 'tls-redis-pass-42']);
  });
});
