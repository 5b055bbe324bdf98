import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, MAX_TIMER_MS, upperHalfJitter } from '../../src/util/backoff.js';

const top = (): number => 0.999_999;
const bottom = (): number => 0;

describe('backoffCeiling', () => {
  it('doubles per attempt from the base, up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffCeiling(a, 1000, 10_000))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('counts attempts below 1 as the first', () => {
    expect(backoffCeiling(0, 250)).toBe(250);
    expect(backoffCeiling(-3, 250)).toBe(250);
  });

  it('without a cap, never exceeds what a timer can wait, however many attempts', () => {
    expect(backoffCeiling(1000, 1000)).toBe(MAX_TIMER_MS);
    expect(Number.isFinite(backoffCeiling(Number.MAX_SAFE_INTEGER, 1000, Number.POSITIVE_INFINITY))).toBe(true);
  });
});

describe('upperHalfJitter', () => {
  it('draws from the upper half of the ceiling', () => {
    expect(upperHalfJitter(1000, bottom)).toBe(500);
    expect(upperHalfJitter(1000, () => 0.5)).toBe(750);
    expect(upperHalfJitter(1000, top)).toBeCloseTo(1000, 2);
  });

  it('stays within [ceiling / 2, ceiling] with Math.random', () => {
    for (let i = 0; i < 1000; i++) {
      const d = upperHalfJitter(800);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt up to the cap, drawing from the upper half of each step, in whole milliseconds', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 1000, 10_000, top))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, 1000, 10_000, bottom))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(200, 1000, 300_000, top)).toBe(300_000);
    expect(Number.isInteger(backoffDelay(3, 333, 10_000))).toBe(true);
  });

  it('has no cap unless given one', () => {
    expect(backoffDelay(4, 200, undefined, top)).toBe(1600);
  });
});
