#!/usr/bin/env node
/* global process, console */
// Finds the longest busy stretches (no idle sample) of a V8 .cpuprofile, i.e. where the event loop was blocked,
// and names the functions that took the time in each.
//   node scripts/bench-profile-stalls.mjs <file.cpuprofile> [minMs=30]
import { readFileSync } from 'node:fs';

const [file, minArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/bench-profile-stalls.mjs <file.cpuprofile> [minMs]');
  process.exit(2);
}
const minMs = Number(minArg ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
const stack = (id) => {
  const out = [];
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) out.push(label(byId.get(cur)));
  return out;
};
let t = p.startTime;
const stretches = [];
let cur = null;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i] ?? 0;
  const n = byId.get(p.samples[i]);
  const idle = n.callFrame.functionName === '(idle)';
  if (idle) {
    if (cur) stretches.push(cur);
    cur = null;
  } else {
    cur ??= { start: t, end: t, samples: [] };
    cur.end = t;
    cur.samples.push(p.samples[i]);
  }
}
if (cur) stretches.push(cur);
const long = stretches.filter((s) => (s.end - s.start) / 1000 >= minMs).sort((a, b) => b.end - b.start - (a.end - a.start));
console.log(`${long.length} busy stretches ≥ ${minMs} ms (of ${stretches.length})`);
for (const s of long.slice(0, 10)) {
  const counts = new Map();
  for (const id of s.samples) for (const f of new Set(stack(id))) counts.set(f, (counts.get(f) ?? 0) + 1);
  const top = [...counts].filter(([f]) => !f.startsWith('(root)')).sort((a, b) => b[1] - a[1]).slice(0, 12);
  console.log(`\n${((s.end - s.start) / 1000).toFixed(1)} ms at +${((s.start - p.startTime) / 1000).toFixed(0)} ms:`);
  for (const [f, c] of top) console.log(`  ${((100 * c) / s.samples.length).toFixed(0).padStart(3)}%  ${f}`);
}
