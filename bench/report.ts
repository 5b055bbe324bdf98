/**
 * The figures every benchmark produces, the Markdown table `npm run bench` prints, and the JSON it writes.
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EldStats } from './stats.js';

export const BENCH_NAMES = ['ingest', 'sweep', 'correction', 'fanout', 'queries', 'cluster'] as const;
export type BenchName = (typeof BENCH_NAMES)[number];

export interface Figure {
  bench: BenchName | 'eventloop';
  /** Stable key, e.g. `ingest.c10.daemon.rps`. */
  id: string;
  /** What it is, for the table. */
  label: string;
  /** null: not measured (see `note`). */
  value: number | null;
  unit: string;
  /** The baseline from the same run, or the target, as text (e.g. `bare 24 310 req/s`, `≥ 0.5`). */
  baseline?: string;
  /** Whether the target holds; absent for figures without a target. */
  holds?: boolean;
  note?: string;
}

/** What one benchmark returns. */
export interface BenchOutput {
  figures: Figure[];
  /** Event-loop statistics of the measured daemon process during the benchmark. */
  eld: EldStats | null;
  /** Raw numbers behind the figures (written to the JSON only). */
  details: Record<string, unknown>;
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  node: string;
  platform: string;
  totalMemMB: number;
  /** 1-minute load average when the figure set was taken (other processes on the machine skew every figure). */
  loadAvg1: number;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  durationS: number;
  quick: boolean;
  only: BenchName[];
  machine: Machine;
  /** 1-minute load average at the end of the run (machine.loadAvg1 is at the start). */
  loadAvg1AtEnd: number;
  figures: Figure[];
  details: Partial<Record<BenchName, Record<string, unknown>>>;
  errors: { bench: BenchName; error: string }[];
}

export function machine(): Machine {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    totalMemMB: Math.round(totalmem() / 1048576),
    loadAvg1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** Figure builder with the number rounded for display (the JSON keeps the same rounded value). */
export function fig(
  bench: Figure['bench'],
  id: string,
  label: string,
  value: number | null,
  unit: string,
  extra: { baseline?: string; holds?: boolean; note?: string; digits?: number } = {},
): Figure {
  const digits = extra.digits ?? (unit === 'req/s' || unit === 'B' ? 0 : unit === 'ms' ? 2 : 3);
  const v = value === null || !Number.isFinite(value) ? value : Math.round(value * 10 ** digits) / 10 ** digits;
  const f: Figure = { bench, id, label, value: v, unit };
  if (extra.baseline !== undefined) f.baseline = extra.baseline;
  if (extra.holds !== undefined) f.holds = extra.holds;
  if (extra.note !== undefined) f.note = extra.note;
  return f;
}

export function fmtNumber(v: number, unit = ''): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  const digits = Number.isInteger(v) || abs >= 1000 || unit === 'req/s' || unit === 'B' ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : 3;
  const s = v.toFixed(digits);
  const [int = '', frac] = s.split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

function fmtValue(f: Figure): string {
  if (f.value === null) return `not measured${f.note ? `: ${f.note}` : ''}`;
  return f.unit === '' || f.unit === '×' ? `${fmtNumber(f.value)}${f.unit}` : `${fmtNumber(f.value, f.unit)} ${f.unit}`;
}

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The Markdown table: figure, value, baseline or target, holds. */
export function markdownTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => {
    const holds = f.holds === undefined ? '' : f.holds ? 'yes' : '**no**';
    return `| ${esc(f.label)} | ${esc(fmtValue(f))} | ${esc(f.baseline ?? '')} | ${holds} |`;
  });
  return ['| Figure | Value | Baseline or target | Holds |', '|---|---:|---|---|', ...rows].join('\n');
}

/** The event-loop figures of one benchmark's daemon process. */
export function eldFigures(bench: BenchName, eld: EldStats | null, where: string): Figure[] {
  if (eld === null) return [fig('eventloop', `eventloop.${bench}.max`, `${bench}: event-loop max delay (${where})`, null, 'ms', { note: 'not sampled' })];
  return [
    fig('eventloop', `eventloop.${bench}.max`, `${bench}: event-loop max delay (${where})`, eld.maxMs, 'ms', { digits: 1 }),
    fig('eventloop', `eventloop.${bench}.stalls`, `${bench}: event-loop stalls > 50 ms`, eld.stalls, '', {
      digits: 0,
      ...(eld.longestMs.length > 0 ? { note: `longest ${eld.longestMs.join(', ')} ms` } : {}),
      baseline: eld.longestMs.length > 0 ? `longest: ${eld.longestMs.join(', ')} ms` : 'none',
    }),
  ];
}

export function writeJson(path: string, report: BenchReport): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
}
