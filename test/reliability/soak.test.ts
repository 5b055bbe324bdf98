/**
 * The short soak: 6 simulated minutes at high churn in about 40 s of real time (the simulator and the daemon on one
 * clock running 10× real time), with the long soak's verdict (scripts/soak.ts) under looser bounds: memory roughly
 * flat, retention holding and the database bounded once it prunes, no long event-loop stall in the daemon's process,
 * and subscribers (JSON pages, push) keeping up without a gap. The 100 ms stall bound of the long soak is not asserted
 * here: other test files share the 2 cores; the figure is printed.
 */
import { describe, expect, it } from 'vitest';
import { runSoak } from './soak-run.js';

describe('when the daemon runs under high churn for a while', () => {
  it('keeps memory flat, the database bounded by retention and the event loop free of long stalls', async () => {
    const result = await runSoak({
      simMinutes: 6,
      speed: 10,
      users: 1500,
      onlineFraction: 0.3,
      sessionMeanMs: 90_000,
      loss: 0.2,
      retentionDays: 0.001,
      sampleEveryMs: 2000,
      seed: 3,
      log: (line) => console.log(line),
      bounds: { heapFactor: 1.6, heapSlackMB: 16, rssFactor: 1.5, rssSlackMB: 48, dbFactor: 1.5, dbSlackMB: 4, maxDbMB: 64, maxStallMs: 1000 },
    });
    console.log(`[soak/short] ${result.pass ? 'PASS' : 'FAIL'} ${result.summary}`);
    expect(result.samples.length).toBeGreaterThanOrEqual(12);
    expect(result.samples[result.samples.length - 1]!.head).toBeGreaterThan(1000);
    expect(result.checks.map((c) => c.name)).toEqual(['memory flat (heap)', 'memory flat (RSS)', 'retention holds', 'DB size bounded', 'no event-loop stall', 'subscribers kept up']);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  }, 150_000);
});
