// @ts-check
// Inline SVG charts: stacked bars over time, and the time and value axes the charts share.

import { s } from './dom.js';
import { fmtClock, fmtCount, fmtTime, pad } from './format.js';

/**
 * Width in CSS pixels available to a chart, so that its text is drawn at its real size.
 * @param {HTMLElement} el
 * @param {number} fallback
 */
export function widthOf(el, fallback) {
  const w = Math.floor(el.clientWidth);
  return w > 200 ? w : fallback;
}

/** @param {number} v */
function niceMax(v) {
  if (v <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  const f = v / exp;
  const nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * exp;
}

/** @param {number} max */
function yTicks(max) {
  if (max <= 5) return Array.from({ length: max + 1 }, (_, i) => i);
  const lead = max / 10 ** Math.floor(Math.log10(max));
  let step = lead === 2 ? max / 4 : max / 5;
  if (!Number.isInteger(step)) step = Math.max(1, Math.round(step));
  const out = [];
  for (let v = 0; v <= max; v += step) out.push(v);
  return out;
}

const TIME_STEPS = [1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];

/**
 * Tick times between t0 and t1 at a round step, aligned to local time.
 * @param {number} t0
 * @param {number} t1
 * @param {number} maxTicks
 */
export function timeTicks(t0, t1, maxTicks) {
  const span = Math.max(1, t1 - t0);
  const step = TIME_STEPS.find((st) => span / st <= maxTicks) ?? /** @type {number} */ (TIME_STEPS[TIME_STEPS.length - 1]);
  const offset = new Date(t0).getTimezoneOffset() * 60_000;
  const first = Math.ceil((t0 - offset) / step) * step + offset;
  const ticks = [];
  for (let t = first; t <= t1; t += step) ticks.push(t);
  return { ticks, step };
}

/**
 * Centred tick labels, except near the right edge where they would be cut off.
 * @param {number} px
 * @param {number} width
 */
export function edgeAnchor(px, width) {
  return px > width - 28 ? 'end' : 'middle';
}

/**
 * @param {number} t
 * @param {number} step
 */
export function tickLabel(t, step) {
  const d = new Date(t);
  if (step >= 864e5) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (step >= 6e4) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return fmtClock(t);
}

/**
 * @typedef {object} StackedBarsOptions
 * @property {number} width
 * @property {number} t0
 * @property {number} t1
 * @property {number} bucketMs
 * @property {{ key: string, label: string, color: string }[]} series bottom to top
 * @property {{ t: number | null, values: Record<string, number | undefined> | undefined }[]} buckets
 * @property {string} empty what the chart says when every bucket is empty
 * @property {string} label the chart's accessible name
 */

/** @param {StackedBarsOptions} options */
export function stackedBars({ width, t0, t1, bucketMs, series, buckets, empty, label }) {
  const W = width;
  const H = 180;
  const m = { l: 38, r: 10, t: 10, b: 24 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  /** @param {number} t */
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * pw;
  const totals = buckets.map((b) => series.reduce((n, se) => n + (b.values?.[se.key] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  /** @param {number} v */
  const y = (v) => m.t + ph - (v / max) * ph;

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  for (const v of yTicks(max)) {
    svg.append(s('line', { class: v === 0 ? 'axis' : 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
    svg.append(s('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end', text: fmtCount(v) }));
  }
  const { ticks, step } = timeTicks(t0, t1, Math.max(3, Math.floor(W / 90)));
  for (const t of ticks) {
    svg.append(s('line', { class: 'axis', x1: x(t), x2: x(t), y1: m.t + ph, y2: m.t + ph + 4 }));
    svg.append(s('text', { x: x(t), y: H - 6, 'text-anchor': edgeAnchor(x(t), W), text: tickLabel(t, step) }));
  }
  const bw = Math.max(1, (bucketMs / (t1 - t0)) * pw);
  const gap = bw > 6 ? Math.min(2, bw * 0.15) : 0;
  for (const b of buckets) {
    if (b.t === null) continue;
    const g = s('g', { class: 'bucket' });
    const parts = series.filter((se) => (b.values?.[se.key] ?? 0) > 0).map((se) => `${se.label} ${fmtCount(/** @type {number} */ (b.values?.[se.key]))}`);
    g.append(s('title', { text: `${fmtTime(b.t)} – ${fmtClock(b.t + bucketMs)}: ${parts.length ? parts.join(', ') : 'none'}` }));
    g.append(s('rect', { class: 'hover-zone', x: x(b.t), y: m.t, width: bw, height: ph }));
    let acc = 0;
    for (const se of series) {
      const v = b.values?.[se.key] ?? 0;
      if (v <= 0) continue;
      const top = y(acc + v);
      g.append(s('rect', { class: 'bar', x: x(b.t) + gap / 2, y: top, width: Math.max(0.8, bw - gap), height: Math.max(0.8, y(acc) - top), fill: se.color }));
      acc += v;
    }
    svg.append(g);
  }
  if (totals.every((n) => n === 0)) {
    svg.append(s('text', { class: 'empty-note', x: m.l + pw / 2, y: m.t + ph / 2, 'text-anchor': 'middle', text: empty }));
  }
  return svg;
}
