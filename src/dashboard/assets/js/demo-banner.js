// @ts-check
// Demo: under `openim-presence demo` only, a banner saying which scripted episode runs and what it shows now.

/** @import { Demo, Health } from './types.js' */

import { ApiFailure, AuthRequired, api } from './api.js';
import { $, h } from './dom.js';
import { fmtCount, fmtTime } from './format.js';

const demoState = { enabled: true };

/** @param {Health} health */
export async function loadDemo(health) {
  if (!demoState.enabled) return;
  let demo;
  try {
    demo = /** @type {Demo} */ (await api('/v1/demo'));
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    // 404: not a demo; stop asking.
    if (err instanceof ApiFailure && err.status === 404) demoState.enabled = false;
    $('demo-banner').hidden = true;
    return;
  }
  renderDemo(demo, health);
}

/**
 * "episode 2 of 3: gateway gw-0 crashed at 10:02:00; guard holding 31 users until 10:04:30", what to watch, what next.
 * @param {Demo} demo
 * @param {Health} health
 */
function renderDemo(demo, health) {
  const box = $('demo-banner');
  const poll = health.poll ?? { enabled: false };
  const ep = demo.episode;
  const guard = poll.enabled ? poll.guard : null;
  let now = '';
  if (ep.name === 'gateway_crash') {
    if (guard) now = `; guard holding ${fmtCount(guard.readOffline)} users until ${fmtTime(guard.holdUntil)}`;
    else if (demo.guardRaised) now = `; the guard held ${fmtCount(demo.guardRaised.readOffline)} users from ${fmtTime(demo.guardRaised.at)}, then the hold ended: those still offline were corrected offline (see Incidents)`;
    else now = '; waiting for a poll to read its users offline';
  } else if (ep.name === 'silent_webhooks') {
    const silent = health.webhooks?.summary?.state === 'silent' || health.webhooks?.state === 'silent';
    now = silent ? '; webhook health is silent' : '; waiting for the last webhooks to leave the health window';
  }
  box.hidden = false;
  box.dataset.episode = String(ep.number);
  box.replaceChildren(
    h('strong', { class: 'alert-title', text: `Demo · episode ${ep.number} of ${demo.episodes}: ${ep.title} at ${fmtTime(ep.since)}${now}` }),
    h('span', { text: ` · ${ep.watch}` }),
    ...(demo.next ? [h('span', { class: 'muted', text: ` Next: episode ${demo.next.number} (${demo.next.title}) at ${fmtTime(demo.next.at)}.` })] : []),
    h('span', { class: 'demo-commands muted small' }, 'From a terminal: ', ...[demo.commands.report, demo.commands.incidents].flatMap((c, i) => [i > 0 ? ' · ' : '', h('code', { text: c })])),
  );
}
