// @ts-check
// The overview's charts: transitions by source and mismatches by kind, per bucket (GET /v1/stats/timeseries).

/** @import { Timeseries } from './types.js' */

import { AuthRequired, api, errorText } from './api.js';
import { stackedBars, widthOf } from './chart.js';
import { $, h } from './dom.js';
import { fmtCount, toMs } from './format.js';
import { KINDS, KIND_INFO, SOURCE_COLORS, legendItem } from './labels.js';
import { run } from './refresh.js';

let chartRange = '1h';
/** @type {Timeseries | null} */
let lastTimeseries = null;

export async function loadCharts() {
  let ts;
  try {
    ts = /** @type {Timeseries} */ (await api(`/v1/stats/timeseries?since=${encodeURIComponent(chartRange)}`));
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    lastTimeseries = null;
    const msg = `Cannot load the charts: ${errorText(err)}`;
    $('chart-transitions').replaceChildren(h('p', { class: 'error-line', text: msg }));
    $('chart-mismatches').replaceChildren();
    return;
  }
  lastTimeseries = ts;
  renderCharts(ts);
}

/** Draws the charts again (at the page's new width) from the last answer, if there is one. */
export function redrawCharts() {
  if (lastTimeseries) renderCharts(lastTimeseries);
}

/** @param {Timeseries} ts */
function renderCharts(ts) {
  const bucketMs = ts.bucketSeconds * 1000;
  const buckets = ts.buckets.map((b) => ({ t: toMs(b.t), raw: b }));
  const t0 = /** @type {number} */ (toMs(ts.since));
  const t1 = Math.max(/** @type {number} */ (toMs(ts.until)), t0 + bucketMs);

  const tr = ts.totals;
  const transitions = tr.webhook + tr.poll;
  $('chart-transitions-summary').textContent =
    transitions === 0
      ? `no transitions · ${fmtCount(tr.receipts)} webhooks received`
      : `${fmtCount(transitions)} transitions · ${Math.round((tr.poll / transitions) * 100)}% by correction · ${fmtCount(tr.receipts)} webhooks received`;
  $('chart-transitions').replaceChildren(
    stackedBars({
      width: widthOf($('chart-transitions'), 640),
      t0,
      t1,
      bucketMs,
      series: [
        { key: 'webhook', label: 'from webhook', color: SOURCE_COLORS.webhook },
        { key: 'poll', label: 'by correction', color: SOURCE_COLORS.poll },
      ],
      buckets: buckets.map((b) => ({ t: b.t, values: { webhook: b.raw.webhook, poll: b.raw.poll } })),
      empty: 'No transitions in this range',
      label: 'Transitions per bucket: from webhooks and by correction',
    }),
  );
  $('legend-transitions').replaceChildren(
    legendItem('from webhook', SOURCE_COLORS.webhook, tr.webhook),
    legendItem('by correction (poll)', SOURCE_COLORS.poll, tr.poll),
  );

  /** @type {readonly string[]} */
  const kinds = Array.isArray(ts.kinds) ? ts.kinds : KINDS;
  const totalMismatches = kinds.reduce((n, k) => n + (tr.mismatches[k] ?? 0), 0);
  $('chart-mismatches-summary').textContent = `${fmtCount(totalMismatches)} mismatches`;
  $('chart-mismatches').replaceChildren(
    stackedBars({
      width: widthOf($('chart-mismatches'), 640),
      t0,
      t1,
      bucketMs,
      series: kinds.map((k) => ({ key: k, label: KIND_INFO[k]?.label ?? k, color: KIND_INFO[k]?.color ?? '#64748b' })),
      buckets: buckets.map((b) => ({ t: b.t, values: b.raw.mismatches })),
      empty: 'No mismatches in this range',
      label: 'Mismatches per bucket by kind',
    }),
  );
  $('legend-mismatches').replaceChildren(...kinds.map((k) => legendItem(KIND_INFO[k]?.label ?? k, KIND_INFO[k]?.color ?? '#64748b', tr.mismatches[k] ?? 0)));
}

/** The range buttons (last hour, day, …): each reloads the charts for its range. */
export function setupCharts() {
  for (const btn of $('range-buttons').querySelectorAll('button')) {
    btn.addEventListener('click', () => {
      chartRange = /** @type {string} */ (btn.dataset.range);
      for (const b of $('range-buttons').querySelectorAll('button')) b.classList.toggle('active', b === btn);
      run('charts', loadCharts);
    });
  }
}
