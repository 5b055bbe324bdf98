import { describe, expect, it } from 'vitest';
import { parseDuration, parseTimeSpec } from '../../src/api/time-params.js';

const NOW = Date.parse('2024-11-25T12:00:00.000Z');

describe('time parameters', () => {
  it('reads durations with units ms, s, m, h, d and w, also combined', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
  });

  it('refuses what is not a duration', () => {
    for (const bad of ['', '24', 'h', '24x', '-1h', '1h 30m', '1e3s', '99999999999w']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('reads a duration as that long before now', () => {
    expect(parseTimeSpec('24h', NOW)).toBe(NOW - 86_400_000);
  });

  it('reads epoch milliseconds', () => {
    expect(parseTimeSpec('1732528800000', NOW)).toBe(1_732_528_800_000);
  });

  it('reads ISO-8601 dates and times', () => {
    expect(parseTimeSpec('2024-11-25T10:00:00Z', NOW)).toBe(Date.parse('2024-11-25T10:00:00Z'));
    expect(parseTimeSpec('2024-11-25T10:00:00.123+02:00', NOW)).toBe(Date.parse('2024-11-25T08:00:00.123Z'));
    expect(parseTimeSpec('2024-11-25', NOW)).toBe(Date.parse('2024-11-25'));
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'yesterday', '2024-13-45T99:00:00Z', 'now', '2024/11/25', '12:00']) expect(parseTimeSpec(bad, NOW)).toBeUndefined();
  });
});
