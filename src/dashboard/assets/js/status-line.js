// @ts-check
// The status line: the worst webhook state, its cause once, and where.

/** @import { HealthState, WebhookHealth } from './types.js' */

import { $, h, withCode } from './dom.js';

/** @type {Readonly<Record<string, number | undefined>>} */
export const STATE_RANK = { silent: 3, degraded: 2, healthy: 1, unknown: 0 };

/** @type {Readonly<Record<HealthState, string>>} */
const STATE_LABEL = { silent: 'silent', degraded: 'degraded', healthy: 'healthy', unknown: 'no data yet' };

/**
 * The worst webhook state, its cause once, and where.
 * @param {WebhookHealth} wh
 */
export function renderStatusLine(wh) {
  const summary = wh.summary ?? { state: wh.state ?? 'unknown', headline: '', cause: '', affected: [] };
  /** @type {HealthState} */
  const state = STATE_RANK[summary.state] === undefined ? 'unknown' : summary.state;
  $('status').className = `status-line status-${state}`;
  $('status').dataset.state = state;
  $('status-state').textContent = STATE_LABEL[state];
  $('status-headline').textContent = summary.headline;
  $('status-cause').replaceChildren(...withCode(summary.cause));
  const affected = Array.isArray(summary.affected) ? summary.affected : [];
  const line = $('status-affected');
  if (affected.length === 0) {
    line.hidden = true;
    line.replaceChildren();
  } else {
    line.hidden = false;
    line.replaceChildren(
      ...affected.flatMap((g, i) => [
        ...(i > 0 ? [' · '] : []),
        h('span', { class: `affected state-${g.state}` }, h('strong', { text: `${g.state} ${g.command}` }), ` on ${g.platforms.join(', ')}`),
      ]),
    );
  }
}
