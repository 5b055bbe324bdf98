/**
 * A smoke run of the benchmark suite with tiny sizes, so the benchmarks cannot rot: every benchmark runs (child
 * processes included, from sources through tsx) and every figure must come out as a finite number. No threshold is
 * asserted: timings on a test machine mean nothing.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { markdownTable } from '../../bench/report.js';
import { parseArgs, runSuite } from '../../bench/run-bench.js';

describe('npm run bench', () => {
  it('parses its flags', () => {
    expect(parseArgs(['--quick', '--only', 'ingest,fanout', '--json', 'x.json'])).toMatchObject({ quick: true, only: ['ingest', 'fanout'], json: 'x.json' });
    expect(parseArgs(['--only=sweep'])).toMatchObject({ quick: false, only: ['sweep'], json: 'bench-results/latest.json' });
    expect(() => parseArgs(['--only', 'nope'])).toThrow(/unknown benchmark nope/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument/);
  });

  it('runs every benchmark at tiny sizes and yields finite figures, leaving the sources as they were', async () => {
    const assets = readdirSync('src/dashboard/assets', { recursive: true }).sort();
    const report = await runSuite({
      only: ['ingest', 'sweep', 'correction', 'fanout', 'queries'],
      quick: true,
      ingest: {
        concurrencies: [1, 4],
        durationS: 0.3,
        warmupS: 0,
        openLoopRate: 200,
        openLoopDurationS: 0.5,
        overallRateConnections: 2,
        inProcessCompare: true,
        users: 100,
      },
      sweep: { sizes: [2000], onlineEvery: 10, batchSize: 500, concurrency: 2, gateways: 2 },
      correction: { users: 100, changes: 3, intervalSeconds: 1, graceMs: 200, confirmDelayMs: 200, gapMinMs: 20, gapMaxMs: 60 },
      fanout: { subscribers: 3, rate: 100, durationS: 0.5 },
      queries: { events: 2000, mismatches: 300, users: 200, requests: 3 },
    });
    expect(report.errors).toEqual([]);
    const notFinite = report.figures.filter((f) => typeof f.value !== 'number' || !Number.isFinite(f.value));
    expect(notFinite).toEqual([]);
    for (const bench of ['ingest', 'sweep', 'correction', 'fanout', 'queries', 'eventloop']) {
      expect(report.figures.some((f) => f.bench === bench)).toBe(true);
    }
    const table = markdownTable(report.figures);
    expect(table.split('\n')).toHaveLength(report.figures.length + 2);
    // The queries bench serves the dashboard: run from the sources it must not move or delete their files.
    expect(readdirSync('src/dashboard/assets', { recursive: true }).sort()).toEqual(assets);
  }, 180_000);
});
