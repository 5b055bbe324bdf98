import { describe, expect, it } from 'vitest';
import { SimClock } from '../../src/simulator/sim-clock.js';
import { Prng, seedToNumber } from '../../src/simulator/prng.js';
import { goJson, offlineWebhookBody, onlineWebhookBody } from '../../src/simulator/go-json.js';

function manualClock(speed: number, startTime = 1_000_000) {
  let real = 0;
  const clock = new SimClock({ speed, startTime, realNow: () => real });
  return {
    clock,
    advanceReal: (ms: number) => {
      real += ms;
    },
  };
}

describe('the simulated clock', () => {
  it('stands at startTime until started, then runs speed times faster than real time', () => {
    const { clock, advanceReal } = manualClock(60);
    advanceReal(1000);
    expect(clock.now()).toBe(1_000_000);
    clock.start();
    advanceReal(1000);
    expect(clock.now()).toBe(1_060_000);
    expect(clock.elapsed()).toBe(60_000);
    clock.close();
  });

  it('never passes a callback that is due and has not run, and never goes backwards', () => {
    const { clock, advanceReal } = manualClock(10);
    clock.start();
    clock.at(1_000_500, () => undefined);
    advanceReal(1000); // 10 000 simulated ms later, but the callback has not run yet
    expect(clock.now()).toBe(1_000_500);
    clock.close();
  });

  it('runs callbacks at exactly their scheduled time, in order, and repeats from the schedule', async () => {
    const clock = new SimClock({ speed: 1000, startTime: 5_000 });
    const seen: [string, number][] = [];
    clock.at(5_300, () => seen.push(['b', clock.now()]));
    clock.at(5_100, () => seen.push(['a', clock.now()]));
    clock.at(5_300, () => seen.push(['c', clock.now()]));
    const ticks: number[] = [];
    const every = clock.every(250, (t) => ticks.push(t), 5_250);
    clock.start();
    await clock.delay(1_000);
    every.cancel();
    expect(seen).toEqual([
      ['a', 5_100],
      ['b', 5_300],
      ['c', 5_300],
    ]);
    expect(ticks.slice(0, 4)).toEqual([5_250, 5_500, 5_750, 6_000]);
    clock.close();
  });

  it('does not run cancelled callbacks, nor anything after close', async () => {
    const clock = new SimClock({ speed: 1000, startTime: 0 });
    clock.start();
    let ran = 0;
    clock.after(10, () => ran++).cancel();
    await clock.delay(50);
    expect(ran).toBe(0);
    clock.close();
    clock.after(1, () => ran++);
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toBe(0);
  });
});

describe('the seeded generator', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const seqA = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(seqA);
  });

  it('forks streams that do not depend on how much the parent was used', () => {
    const a = new Prng(1);
    const b = new Prng(1);
    const forkA = a.fork('x');
    b.next();
    b.next();
    expect(forkA.next()).toBe(b.fork('x').next());
  });

  it('draws Poisson counts with about the right mean, and maps string seeds to numbers', () => {
    const r = new Prng(7);
    const small = Array.from({ length: 4000 }, () => r.poisson(3));
    const big = Array.from({ length: 4000 }, () => r.poisson(200));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(small)).toBeGreaterThan(2.8);
    expect(mean(small)).toBeLessThan(3.2);
    expect(mean(big)).toBeGreaterThan(195);
    expect(mean(big)).toBeLessThan(205);
    expect(seedToNumber('abc')).toBe(seedToNumber('abc'));
    expect(seedToNumber(12)).toBe(12);
  });
});

describe('Go-style JSON', () => {
  it('escapes <, >, & and the line separators like encoding/json', () => {
    expect(goJson('a<b>&c\u2028\u2029"')).toBe('"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\""');
    expect(goJson({ x: '<' })).toBe('{"x":"\\u003c"}');
  });

  it('writes webhook bodies in Go struct field order ending in a newline', () => {
    expect(onlineWebhookBody('p_1_2', 5, 'u1', 1732530000123, false)).toBe(
      '{"callbackCommand":"callbackAfterUserOnlineCommand","operationID":"p_1_2","platformID":5,"platform":"Web","userID":"u1","seq":1732530000123,"isAppBackground":false,"connID":""}\n',
    );
    expect(offlineWebhookBody('p_4242_18', 5, 'u1', 1732530060456)).toBe(
      '{"callbackCommand":"callbackAfterUserOfflineCommand","operationID":"p_4242_18","platformID":5,"platform":"Web","userID":"u1","seq":1732530060456,"connID":""}\n',
    );
  });
});
