import { describe, expect, it } from 'vitest';
import { formatConfigIssue, fromZodIssue, looksSecret, shownValue, typeHint } from '../../src/config/config-issue-messages.js';
import { configSchema } from '../../src/config/schema.js';
import type { ConfigIssue } from '../../src/errors.js';

/** The problems the schema's issues for `data` read as. */
function problems(data: Record<string, unknown>): ConfigIssue[] {
  const result = configSchema.safeParse(data, { reportInput: true });
  if (result.success) return [];
  return result.error.issues.flatMap((issue) => fromZodIssue(issue, data));
}

describe('fromZodIssue', () => {
  it('names an unknown key by its full path, suggests the closest allowed key and lists the allowed ones', () => {
    const [issue] = problems({ openim: { apiUrll: 'http://x' } });
    expect(issue?.path).toBe('openim.apiUrll');
    expect(issue?.value).toBe('http://x');
    expect(issue?.message).toMatch(/^unknown key; did you mean openim\.apiUrl\? Allowed keys in openim: apiUrl, secret, secretFile, /);
  });

  it('redacts an unknown key whose suggestion is a secret key', () => {
    const [issue] = problems({ openim: { secrett: 'hunter2-hunter2' } });
    expect(issue).toMatchObject({ path: 'openim.secrett', value: '[REDACTED]' });
  });

  it('says what type is expected, with the hint for a quoted number', () => {
    expect(problems({ openim: { timeoutMs: '5000' } })).toEqual([
      { path: 'openim.timeoutMs', value: '5000', message: expect.stringMatching(/^expected .*\(a quoted number is a string; write it without quotes\)$/) as unknown },
    ]);
  });

  it('says what is required, and the range or the values allowed', () => {
    expect(problems({ subscribers: [{ url: 'http://x' }] })[0]).toMatchObject({ path: 'subscribers.0.name', value: undefined, message: expect.stringMatching(/^is required: /) as unknown });
    expect(problems({ openim: { retries: 11 } })[0]?.message).toMatch(/^out of range: must be /);
    expect(problems({ mode: 'loud' })[0]?.message).toMatch(/^must be .*active.*shadow/);
  });

  it("keeps the schema's own message and never shows a secret", () => {
    expect(problems({ subscribers: [{ name: 'a', url: 'http://x', secret: 'not a secret!' }] })).toEqual([
      { path: 'subscribers.0.secret', value: '[REDACTED]', message: expect.stringMatching(/^must be "whsec_" followed by base64/) as unknown },
    ]);
    expect(problems({ api: { tokens: ['short'] } })).toEqual([
      { path: 'api.tokens.0', value: '[REDACTED]', message: 'API tokens must be at least 16 characters' },
    ]);
  });
});

describe('typeHint', () => {
  it('hints at quoting mistakes only', () => {
    expect(typeHint({ kind: 'number', integer: true }, '12')).toBe(' (a quoted number is a string; write it without quotes)');
    expect(typeHint({ kind: 'number', integer: true }, 'twelve')).toBe('');
    expect(typeHint({ kind: 'boolean', integer: false }, 'true')).toBe(' (write true or false without quotes)');
    expect(typeHint({ kind: 'string', integer: false }, 12)).toBe(' (quote the value in YAML)');
    expect(typeHint(undefined, '12')).toBe('');
  });
});

describe('shownValue and looksSecret', () => {
  it('redacts secret keys and keys that look secret', () => {
    expect(shownValue('openim.secret', 'x')).toBe('[REDACTED]');
    expect(shownValue('subscribers.3.secret', 'x')).toBe('[REDACTED]');
    expect(shownValue('openim.adminPassword', 'x')).toBe('[REDACTED]');
    expect(shownValue('openim.apiUrl', 'x')).toBe('x');
    expect(shownValue('openim.secret', undefined)).toBeUndefined();
    expect(looksSecret('OPR_API__TOKEN')).toBe(true);
    expect(looksSecret('OPR_API__PORT')).toBe(false);
  });
});

describe('formatConfigIssue', () => {
  it('writes path: message (got: value), the value as JSON, a redacted one as it is, a long one cut', () => {
    expect(formatConfigIssue({ path: 'a.b', value: undefined, message: 'is required' })).toBe('a.b: is required');
    expect(formatConfigIssue({ path: 'a.b', value: 'x', message: 'bad' })).toBe('a.b: bad (got: "x")');
    expect(formatConfigIssue({ path: 'a.b', value: '[REDACTED]', message: 'bad' })).toBe('a.b: bad (got: [REDACTED])');
    const long = formatConfigIssue({ path: 'a', value: 'y'.repeat(300), message: 'm' });
    expect(long).toBe(`a: m (got: "${'y'.repeat(196)}...)`);
  });
});
