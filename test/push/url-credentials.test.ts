import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { percentDecodeBytes, scrubCredentials, splitCredentials } from '../../src/push/url-credentials.js';

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

  // The schema accepts any URL `new URL` parses, so splitting must not fail on one: a throw here stopped `run` on a
  // configuration `check-config` had accepted.
  it('sends an invalid percent escape as written instead of throwing', () => {
    expect(splitCredentials('https://user:p%zz@h.test/hook')).toEqual({ url: 'https://h.test/hook', authorization: basic('user:p%zz') });
    expect(splitCredentials('https://us%4:pw%@h.test/').authorization).toBe(basic('us%4:pw%'));
  });

  it('sends escaped bytes that are not UTF-8 as those bytes', () => {
    expect(splitCredentials('https://u:%FF%E0%A4@h.test/').authorization).toBe(basic(Buffer.from([0x75, 0x3a, 0xff, 0xe0, 0xa4])));
  });

  it('never throws for a URL that parses, and agrees with decodeURIComponent wherever that succeeds', () => {
    const component = fc.stringMatching(/^([A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{0,2}|%[0-9A-Fa-f]{2}){0,12}$/);
    fc.assert(
      fc.property(component, component, (user, password) => {
        const url = `https://${user}:${password}@h.test/p`;
        const split = splitCredentials(url);
        const u = new URL(url);
        let expected: string | undefined;
        try {
          expected = basic(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`);
        } catch {
          expected = undefined; // not valid percent-encoded UTF-8: no decodeURIComponent answer to compare with
        }
        if (u.username === '' && u.password === '') {
          expect(split).toEqual({ url, authorization: undefined });
          return;
        }
        if (expected !== undefined) expect(split.authorization).toBe(expected);
        else expect(split.authorization).toMatch(/^Basic [A-Za-z0-9+/]*={0,2}$/);
        expect(split.url).toBe('https://h.test/p');
      }),
    );
  });
});

describe('percentDecodeBytes', () => {
  it('decodes %XX (either case) and leaves everything else, a lone or short % included', () => {
    expect(percentDecodeBytes('a%41%6a%7A')).toEqual(Buffer.from('aAjz'));
    expect(percentDecodeBytes('%')).toEqual(Buffer.from('%'));
    expect(percentDecodeBytes('%4')).toEqual(Buffer.from('%4'));
    expect(percentDecodeBytes('%g1%%41')).toEqual(Buffer.from('%g1%A'));
    expect(percentDecodeBytes('é')).toEqual(Buffer.from('é'));
  });
});
