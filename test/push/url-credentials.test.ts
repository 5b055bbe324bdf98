import { describe, expect, it } from 'vitest';
import { scrubCredentials, splitCredentials } from '../../src/push/url-credentials.js';

const basic = (bytes: Buffer | string): string => `Basic ${Buffer.from(bytes).toString('base64')}`;

describe('splitCredentials and scrubCredentials', () => {
  it('move user:pass@ into an Authorization header and redact the password in text', () => {
    expect(splitCredentials('https://a:b@example.test/p?q=1')).toEqual({ url: 'https://example.test/p?q=1', authorization: `Basic ${Buffer.from('a:b').toString('base64')}` });
    expect(splitCredentials('https://example.test/p')).toEqual({ url: 'https://example.test/p', authorization: undefined });
    expect(splitCredentials('not a url')).toEqual({ url: 'not a url', authorization: undefined });
    expect(scrubCredentials('failed: https://a:s%3Dcret@h/ and s=cret', 'https://a:s%3Dcret@h/')).toBe('failed: https://a:[REDACTED]@h/ and [REDACTED]');
    expect(scrubCredentials('nothing here', 'https://h/')).toBe('nothing here');
  });
});

describe('splitCredentials', () => {
  it('percent-decodes the user and the password into the Basic credentials', () => {
    expect(splitCredentials('https://j%C3%B6rg:p%40ss%3Aw%20rd@h.test/x').authorization).toBe(basic('jörg:p@ss:w rd'));
  });

  it('keeps a user without a password, and a password without a user', () => {
    expect(splitCredentials('https://only@h.test/')).toEqual({ url: 'https://h.test/', authorization: basic('only:') });
    expect(splitCredentials('https://:pw@h.test/')).toEqual({ url: 'https://h.test/', authorization: basic(':pw') });
  });
});

