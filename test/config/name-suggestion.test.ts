import { describe, expect, it } from 'vitest';
import { closestName, levenshtein } from '../../src/config/name-suggestion.js';

describe('levenshtein', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(levenshtein('', '')).toBe(0);
    expect(levenshtein('port', 'port')).toBe(0);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('abc', '')).toBe(3);
    expect(levenshtein('prot', 'port')).toBe(2);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('apiUrl', 'apiURL')).toBe(2);
  });
});

describe('closestName', () => {
  const keys = ['apiUrl', 'secret', 'secretFile', 'timeoutMs'];

  it('suggests the closest candidate, ignoring case', () => {
    expect(closestName('apiurl', keys)).toBe('apiUrl');
    expect(closestName('secrte', keys)).toBe('secret');
    expect(closestName('timeoutms', keys)).toBe('timeoutMs');
  });

  it('takes the first of equally close candidates', () => {
    expect(closestName('ab', ['ax', 'bb'])).toBe('ax');
  });

  it('suggests nothing more than max(2, a quarter of the length) edits away', () => {
    expect(closestName('xyz', keys)).toBeUndefined();
    expect(closestName('OPR_OPENIM__API_URX', ['OPR_OPENIM__API_URL'])).toBe('OPR_OPENIM__API_URL');
    // 19 characters allow 4 edits, not 5.
    expect(closestName('OPR_OPENIM__APXXXXL', ['OPR_OPENIM__API_URL'])).toBe('OPR_OPENIM__API_URL');
    expect(closestName('OPR_OPENIM__AXXXXXL', ['OPR_OPENIM__API_URL'])).toBeUndefined();
    expect(closestName('anything', [])).toBeUndefined();
  });
});
