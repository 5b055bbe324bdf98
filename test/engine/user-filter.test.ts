import { describe, expect, it } from 'vitest';
import { UserFilter, hashUserID } from '../../src/engine/user-filter.js';

describe('the user filter', () => {
  const members = Array.from({ length: 5000 }, (_, i) => `member-${i}`);

  it('never says no for a member', () => {
    const f = UserFilter.of(members, members.length);
    expect(members.every((id) => f.mayHave(id))).toBe(true);
    expect(members.every((id) => f.mayHaveHash(hashUserID(id)))).toBe(true);
  });

  it('says no for most non-members', () => {
    const f = UserFilter.of(members, members.length);
    let passed = 0;
    for (let i = 0; i < 100_000; i++) if (f.mayHave(`other-${i}`)) passed++;
    expect(passed).toBeLessThan(10_000);
  });

  it('says when it holds more members than it was sized for', () => {
    const f = new UserFilter();
    expect(f.crowded).toBe(false);
    for (let i = 0; i < 5000; i++) f.add(`u${i}`);
    expect(f.size).toBe(5000);
    expect(f.crowded).toBe(true);
  });

  it('hashes UTF-16 code units, so any userID is accepted', () => {
    expect(hashUserID('')).toBe(0x811c9dc5);
    expect(hashUserID('ü😀')).not.toBe(hashUserID('u'));
  });
});
