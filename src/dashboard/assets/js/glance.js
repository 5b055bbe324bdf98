// @ts-check
// Health at a glance: one status line, the guard and API alerts, a few facts, and a compact table per
// platform × command (GET /v1/health, every few seconds and after live events).

/** @import { ApiHealth, Health, PollHealth } from './types.js' */

import { AuthRequired, api, errorText } from './api.js';
import { loadDemo } from './demo-banner.js';
import { $, h } from './dom.js';
import { fmtAgo, fmtCount, isoTitle } from './format.js';
import { renderGuard } from './guard-banner.js';
import { pill } from './labels.js';
import { markUpdated } from './refresh.js';
import { renderStatusLine } from './status-line.js';
import { renderWebhookTable } from './webhook-table.js';

export async function loadHealth() {
  let health;
  try {
    health = /** @type {Health} */ (await api('/v1/health'));
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    renderHealthError(err);
    return;
  }
  renderHealth(health);
  await loadDemo(health);
  markUpdated();
}

/**
 * @param {string} label
 * @param {string | Node} value
 * @param {string} [note]
 * @param {string} [title]
 */
function fact(label, value, note, title) {
  return h('div', { class: 'fact', title }, h('span', { class: 'fact-label', text: label }), h('span', { class: 'fact-value' }, value), note ? h('span', { class: 'fact-note', text: note }) : null);
}

/** @param {unknown} err */
function renderHealthError(err) {
  $('status').className = 'status-line status-failing';
  $('status-state').textContent = 'unreachable';
  $('status-headline').textContent = 'Cannot load /v1/health';
  $('status-cause').textContent = errorText(err);
  $('status-affected').hidden = true;
  $('guard-banner').hidden = true;
  $('api-banner').hidden = true;
}

/** @param {Health} hl */
function renderHealth(hl) {
  $('head-seq').textContent = `stream head #${fmtCount(hl.stream?.headSeq ?? 0)}`;
  const wh = hl.webhooks ?? { state: 'unknown', entries: [] };
  renderStatusLine(wh);
  renderGuard(hl.poll ?? { enabled: false });
  renderApiBanner(hl.api);
  renderFacts(hl);
  renderWebhookTable(wh);
}

/**
 * The OpenIM status API failing: no decision is made meanwhile.
 * @param {ApiHealth | undefined} apiState
 */
function renderApiBanner(apiState) {
  const box = $('api-banner');
  if (apiState?.state !== 'failing') {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.replaceChildren(h('strong', { class: 'alert-title', text: 'OpenIM status API failing' }), h('span', { text: ` · ${apiState.message} No decision is made for the users concerned until it answers again.` }));
}

/** @param {Health} hl */
function renderFacts(hl) {
  const facts = [];
  const mode = hl.mode === 'shadow' ? 'shadow' : 'active';
  facts.push(fact('Mode', pill(mode, mode === 'shadow' ? 'shadow' : 'webhook'), mode === 'shadow' ? 'corrections are recorded as mismatches, not published' : 'corrections are published to the stream'));
  /** @type {PollHealth} */
  const poll = hl.poll ?? { enabled: false };
  if (poll.enabled) {
    const last = poll.lastCycleAt ?? null;
    facts.push(
      fact(
        'Last poll',
        last === null ? 'not yet' : fmtAgo(last),
        `${poll.running ? 'running now · ' : ''}${fmtCount(poll.cycles ?? 0)} cycles · ${polledUsersText(poll)}` +
          (poll.openDisagreements ? ` · ${poll.openDisagreements} open disagreement(s)` : ''),
        last === null ? undefined : isoTitle(last),
      ),
    );
  } else {
    facts.push(fact('Last poll', 'polling disabled', 'only webhooks are used'));
  }
  const apiState = hl.api?.state ?? 'unknown';
  facts.push(fact('OpenIM API', pill(apiState, apiState === 'ok' ? 'ok' : apiState === 'failing' ? 'failing' : 'unknown'), hl.api?.message ?? ''));
  const st = hl.stream ?? {};
  facts.push(
    fact(
      'Presence',
      `${fmtCount(st.onlineUsers ?? 0)} ${st.onlineUsers === 1 ? 'user' : 'users'} online`,
      `${fmtCount(st.keys ?? 0)} user-platform keys · ${fmtCount(st.heldOfflines ?? 0)} offline(s) settling`,
    ),
  );
  $('health-facts').replaceChildren(...facts);
}

/**
 * Users the poller covers, and the tracked users poll.excludeUsers keeps out (an admin user discovery listed).
 * @param {PollHealth} poll
 */
function polledUsersText(poll) {
  const polled = poll.polledUsers ?? poll.trackedUsers ?? 0;
  const excluded = poll.excludedUsers ?? 0;
  return `${fmtCount(polled)} users polled` + (excluded > 0 ? ` (${fmtCount(excluded)} more tracked but excluded by poll.excludeUsers)` : '');
}
