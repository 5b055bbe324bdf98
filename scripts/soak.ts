/**
 * Long soak of the daemon against the OpenIM simulator (not part of `npm test`):
 *
 *   node --import tsx scripts/soak.ts [--minutes 30] [--speed 6] [--users 3000] [--retention-days 0.001]
 *                                     [--sample-seconds 5] [--loss 0.2] [--seed 1]
 *
 * `--minutes` is simulated time; the simulator's clock runs `--speed` times faster than real time (30 simulated
 * minutes at speed 6 take 5 real minutes). The daemon runs in its own process with short retention and prints RSS,
 * heap, database size and the worst event-loop delay every few seconds, then a verdict: memory flat (second half
 * against first half), database size bounded once retention prunes, no event-loop stall over 100 ms. Exit code 0
 * when every check passes, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { runSoak } from '../test/reliability/soak-run.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    speed: { type: 'string', default: '6' },
    users: { type: 'string', default: '3000' },
    'retention-days': { type: 'string', default: '0.001' },
    'sample-seconds': { type: 'string', default: '5' },
    loss: { type: 'string', default: '0.2' },
    seed: { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
  },
});

function num(name: keyof typeof values, min: number, max: number): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const minutes = num('minutes', 1, 24 * 60);
const speed = num('speed', 1, 1000);
const result = await runSoak({
  simMinutes: minutes,
  speed,
  users: num('users', 10, 1_000_000),
  onlineFraction: 0.3,
  sessionMeanMs: 120_000,
  loss: num('loss', 0, 1),
  retentionDays: num('retention-days', 0.001, 3650),
  sampleEveryMs: num('sample-seconds', 1, 600) * 1000,
  seed: num('seed', 0, 2 ** 31),
  log: (line) => process.stdout.write(`${line}\n`),
  ...(values['cpu-prof'] === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] }),
  bounds: { heapFactor: 1.25, heapSlackMB: 8, rssFactor: 1.25, rssSlackMB: 24, dbFactor: 1.25, dbSlackMB: 2, maxDbMB: 256, maxStallMs: 100 },
});
process.stdout.write(`\nverdict: ${result.pass ? 'PASS' : 'FAIL'}\n`);
for (const c of result.checks) process.stdout.write(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}\n`);
process.exitCode = result.pass ? 0 : 1;
