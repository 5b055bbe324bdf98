/** Bits per member: one hash, so about 1 in 16 non-members passes. */
const BITS_PER_MEMBER = 16;
const MIN_BITS = 1 << 16;

/** FNV-1a over the UTF-16 code units of `s`. */
export function hashUserID(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function bitsFor(members: number): number {
  let bits = MIN_BITS;
  while (bits < members * BITS_PER_MEMBER) bits *= 2;
  return bits;
}

/**
 * A one-hash bitmap over a set of userIDs (a Bloom filter with k = 1): `mayHave` false proves a user is not in the
 * set, with one hash and one read of a small array instead of a lookup in a large Map (a cache miss or three per
 * user, which dominates a poll sweep where most users are in no set at all). Members cannot be removed.
 */
export class UserFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private members = 0;

  constructor(expectedMembers = 0) {
    const bits = bitsFor(expectedMembers);
    this.bits = new Uint32Array(bits >>> 5);
    this.mask = bits - 1;
  }

  static of(ids: Iterable<string>, expectedMembers: number): UserFilter {
    const f = new UserFilter(expectedMembers);
    for (const id of ids) f.add(id);
    return f;
  }

  /** Members added so far. */
  get size(): number {
    return this.members;
  }

  /** True when more members were added than the filter was sized for: rebuild it larger to keep it selective. */
  get crowded(): boolean {
    return this.members * BITS_PER_MEMBER > this.bits.length * 32;
  }

  add(id: string): void {
    const b = hashUserID(id) & this.mask;
    const word = b >>> 5;
    this.bits[word] = (this.bits[word] ?? 0) | (1 << (b & 31));
    this.members++;
  }

  mayHave(id: string): boolean {
    return this.mayHaveHash(hashUserID(id));
  }

  /** {@link mayHave} for a userID already hashed with {@link hashUserID} (to test one user against several filters). */
  mayHaveHash(hash: number): boolean {
    const b = hash & this.mask;
    return ((this.bits[b >>> 5] ?? 0) & (1 << (b & 31))) !== 0;
  }
}
