import { describe, expect, it } from 'vitest';
import { displayUrl, urlPasswordForms } from '../../src/util/url-redaction.js';

describe('displayUrl', () => {
  it('drops credentials and the query string', () => {
    expect(displayUrl('https://user:pw@billing.internal:8443/hooks/presence?token=abc')).toBe('https://billing.internal:8443/hooks/presence');
  });

  it('drops the fragment and takes a URL object too', () => {
    expect(displayUrl(new URL('http://a:b@h:1/p/#frag'))).toBe('http://h:1/p/');
  });

  it('trims trailing slashes when asked (a base URL before its route)', () => {
    expect(displayUrl(new URL('http://admin:secret@openim-api:10002//?x=1'), { trimTrailingSlash: true })).toBe('http://openim-api:10002');
    expect(displayUrl('http://openim-api:10002/api/', { trimTrailingSlash: true })).toBe('http://openim-api:10002/api');
  });

  it('says so for a string that is not a URL', () => {
    expect(displayUrl('not a url')).toBe('(invalid URL)');
  });
});

describe('urlPasswordForms', () => {
  it('gives the password as written and percent-decoded, once each', () => {
    expect(urlPasswordForms('https://a:s%3Dcret@h/')).toEqual(['s%3Dcret', 's=cret']);
    expect(urlPasswordForms(new URL('https://a:plain@h/'))).toEqual(['plain']);
  });

  it('gives the written form alone for an invalid percent-encoding, instead of throwing', () => {
    expect(urlPasswordForms('https://a:%ZZpw@h/')).toEqual(['%ZZpw']);
  });

  it('gives nothing without a password or for a string that is not a URL', () => {
    expect(urlPasswordForms('https://user@h/')).toEqual([]);
    expect(urlPasswordForms('not a url')).toEqual([]);
  });
});
