/**
 * `npm run bench` (compiles bench/ and the src/ it imports with bench/tsconfig.json into dist-bench/, then runs
 * dist-bench/bench/run-bench.js): runs the benchmarks of docs/architecture.md (measures), prints a Markdown table of
 * every figure beside its baseline or target, and writes the same figures as JSON. The harness is a development tool:
 * it is not part of the published package (package.json `files`, tsconfig.build.json compile src/ only).
 *
 *   npm run bench                          full suite (≤ 15 min on 2 cores)
 *   npm run bench -- --quick               small sizes, short runs (< 3 min)
 *   npm run bench -- --only ingest,sweep   a subset (ingest, sweep, correction, fanout, queries, cluster)
 *   npm run bench -- --json out.json       where to write the JSON (default bench-results/latest.json)
 *   npm run bench -- --cpu-prof            also write V8 CPU profiles of the measured phases to bench-results/profiles/
 *                                          (summaries: node scripts/bench-profile-top.mjs <file>, and
 *                                          node scripts/bench-profile-stalls.mjs <file> for what blocked the event loop)
 *
 * Where things run: each measured daemon (and the bare node:http baseline, and the simulator of the sweep) runs in a
 * child process of its own (workers.ts, child.ts); autocannon, the open-loop generator and the SSE subscribers run
 * in this process. Event-loop stalls are measured inside each measured process (stats.ts EldMonitor). The cluster
 * benchmark starts a redis-server of its own (redis-server.ts; it needs redis-server on PATH).
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLUSTER_FULL, CLUSTER_QUICK, clusterBench } from './cluster-bench.js';
import type { ClusterOptions } from './cluster-bench.js';
import { CORRECTION_FULL, CORRECTION_QUICK, correctionBench } from './correction-bench.js';
import type { CorrectionOptions } from './correction-bench.js';
import { FANOUT_FULL, FANOUT_QUICK, fanoutBench } from './fanout-bench.js';
import type { FanoutOptions } from './fanout-bench.js';
import { INGEST_FULL, INGEST_QUICK, ingestBench } from './ingest-bench.js';
import type { IngestOptions } from './ingest-bench.js';
import { BENCH_NAMES, eldFigures, fig, machine, markdownTable, writeJson } from './report.js';
import type { BenchName, BenchOutput, BenchReport, Figure } from './report.js';
import { QUERIES_FULL, QUERIES_QUICK, queriesBench } from './queries-bench.js';
import type { QueriesOptions } from './queries-bench.js';
import { SWEEP_FULL, SWEEP_QUICK, sweepBench } from './sweep-bench.js';
import type { SweepOptions } from './sweep-bench.js';

export interface SuiteOptions {
  only: BenchName[];
  quick: boolean;
  ingest: IngestOptions;
  sweep: SweepOptions;
  correction: CorrectionOptions;
  fanout: FanoutOptions;
  queries: QueriesOptions;
  /** Default: CLUSTER_QUICK or CLUSTER_FULL, by `quick`. */
  cluster?: ClusterOptions;
  /** Directory for --cpu-prof profiles, or undefined. */
  cpuProfDir?: string;
  log?: (line: string) => void;
}

export interface CliArgs {
  quick: boolean;
  only: BenchName[];
  json: string;
  cpuProf: boolean;
  help: boolean;
}

export function parseArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = { quick: false, only: [...BENCH_NAMES], json: 'bench-results/latest.json', cpuProf: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--quick') out.quick = true;
    else if (flag === '--cpu-prof') out.cpuProf = true;
    else if (flag === '--help' || flag === '-h') out.help = true;
    else if (flag === '--json') out.json = value();
    else if (flag === '--only') {
      const names = value().split(',').map((s) => s.trim()).filter(Boolean);
      const bad = names.filter((n) => !(BENCH_NAMES as readonly string[]).includes(n));
      if (bad.length > 0) throw new Error(`--only: unknown benchmark ${bad.join(', ')}; known: ${BENCH_NAMES.join(', ')}`);
      out.only = names as BenchName[];
    } else throw new Error(`unknown argument ${JSON.stringify(a)}; try --help`);
  }
  return out;
}

const WHERE: Record<BenchName, string> = {
  ingest: 'daemon child',
  sweep: 'poller child, during the cycles',
  correction: 'simulator + daemon child',
  fanout: 'daemon child',
  queries: 'daemon child, serving the queries',
  cluster: 'SQLite daemon and replica children, merged',
};

/** Runs the selected benchmarks one after another; a benchmark that throws is reported and the rest still run. */
export async function runSuite(o: SuiteOptions): Promise<BenchReport> {
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const m = machine();
  const figures: Figure[] = [];
  const eldRows: Figure[] = [];
  const details: BenchReport['details'] = {};
  const errors: BenchReport['errors'] = [];
  const p = o.cpuProfDir === undefined ? {} : { profileDir: o.cpuProfDir };
  const runners: Record<BenchName, () => Promise<BenchOutput>> = {
    ingest: () => ingestBench({ ...o.ingest, ...p }),
    sweep: () => sweepBench({ ...o.sweep, ...p }),
    correction: () => correctionBench({ ...o.correction, ...p }),
    fanout: () => fanoutBench({ ...o.fanout, ...p }),
    queries: () => queriesBench({ ...o.queries, ...p }),
    cluster: () => clusterBench({ ...(o.cluster ?? (o.quick ? CLUSTER_QUICK : CLUSTER_FULL)), ...p }),
  };
  for (const name of BENCH_NAMES) {
    if (!o.only.includes(name)) continue;
    const t0 = Date.now();
    log(`[bench] ${name}…`);
    try {
      const out = await runners[name]();
      figures.push(...out.figures);
      eldRows.push(...eldFigures(name, out.eld, WHERE[name]));
      details[name] = { ...out.details, eld: out.eld, seconds: (Date.now() - t0) / 1000 };
      log(`[bench] ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      errors.push({ bench: name, error: e instanceof Error ? (e.stack ?? msg) : msg });
      figures.push(fig(name, `${name}.error`, name, null, '', { note: `failed: ${msg.split('\n')[0] ?? ''}` }));
      log(`[bench] ${name} failed: ${msg}`);
    }
  }
  const finished = Date.now();
  return {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationS: (finished - started) / 1000,
    quick: o.quick,
    only: o.only,
    machine: m,
    loadAvg1AtEnd: machine().loadAvg1,
    figures: [...figures, ...eldRows],
    details,
    errors,
  };
}

export function suiteOptions(args: Pick<CliArgs, 'quick' | 'only'>): SuiteOptions {
  return {
    only: args.only,
    quick: args.quick,
    ingest: args.quick ? INGEST_QUICK : INGEST_FULL,
    sweep: args.quick ? SWEEP_QUICK : SWEEP_FULL,
    correction: args.quick ? CORRECTION_QUICK : CORRECTION_FULL,
    fanout: args.quick ? FANOUT_QUICK : FANOUT_FULL,
    queries: args.quick ? QUERIES_QUICK : QUERIES_FULL,
    cluster: args.quick ? CLUSTER_QUICK : CLUSTER_FULL,
  };
}

const USAGE = `usage: npm run bench -- [--quick] [--only ingest,sweep,correction,fanout,queries,cluster] [--json <path>] [--cpu-prof]`;

async function main(): Promise<void> {
  let args: CliArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const o = suiteOptions(args);
  if (args.cpuProf) {
    o.cpuProfDir = resolve('bench-results/profiles');
    mkdirSync(o.cpuProfDir, { recursive: true });
  }
  o.log = (line) => process.stderr.write(`${line}\n`);
  const m = machine();
  process.stderr.write(`[bench] ${args.quick ? 'quick' : 'full'} run of ${args.only.join(', ')} on ${m.nproc} × ${m.cpuModel}, node ${m.node}, load average ${m.loadAvg1}\n`);
  if (m.loadAvg1 > 0.5) process.stderr.write(`[bench] warning: the machine is busy (load average ${m.loadAvg1}); figures will be noisy\n`);
  const report = await runSuite(o);
  writeJson(args.json, report);
  process.stdout.write(
    `\n## Benchmarks (${args.quick ? 'quick' : 'full'}, ${report.durationS.toFixed(0)} s; ${m.nproc} × ${m.cpuModel}, node ${m.node}; load average ${report.machine.loadAvg1} → ${report.loadAvg1AtEnd})\n\n${markdownTable(report.figures)}\n\nJSON: ${args.json}\n`,
  );
  if (report.errors.length > 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
