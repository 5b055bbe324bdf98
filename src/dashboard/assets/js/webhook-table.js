// @ts-check
// The webhook health table: one row per platform, online and offline side by side; a row opens into the messages.

/** @import { WebhookEntry, WebhookHealth } from './types.js' */

import { $, h, withCode } from './dom.js';
import { fmtCount, fmtDuration, platformLabel } from './format.js';
import { pill } from './labels.js';
import { STATE_RANK } from './status-line.js';

/** @typedef {{ platformID: number, platform: string, online: WebhookEntry | null, offline: WebhookEntry | null }} PlatformRow */

/** The platforms opened for their details, by id. */
const webhookState = { expanded: /** @type {Set<string>} */ (new Set()) };

/**
 * Whether an entry has anything to show: an unknown one with transitions is "too few to judge".
 * @param {WebhookEntry} e
 */
function entrySeen(e) {
  return e.byWebhook + e.byCorrection + e.receipts + (e.silentRenewals ?? 0) > 0 || e.state !== 'unknown';
}

/**
 * @param {WebhookEntry | null} e
 * @param {'online' | 'offline'} command
 */
function stateCell(e, command) {
  if (!e || !entrySeen(e)) return [h('td', { class: 'group-start muted', dataset: { command, field: 'state' }, text: '—' }), h('td', { class: 'num muted', text: '—' }), h('td', { class: 'num muted', text: '—' }), h('td', { class: 'num muted', text: '—' })];
  const label = e.state === 'unknown' ? 'too few' : e.state;
  const share = e.correctionShare === null || e.correctionShare === undefined ? '—' : `${Math.round(e.correctionShare * 100)} %`;
  return [
    h('td', { class: 'group-start', dataset: { command, field: 'state', state: e.state } }, pill(label, e.state, e.state === 'unknown' ? 'not enough transitions to judge' : undefined)),
    h('td', { class: 'num', dataset: { command, field: 'byWebhook' }, text: fmtCount(e.byWebhook) }),
    h('td', { class: 'num', dataset: { command, field: 'byCorrection' }, text: fmtCount(e.byCorrection) }),
    h('td', { class: 'num', dataset: { command, field: 'share' }, text: share }),
  ];
}

/** @param {WebhookHealth} wh */
export function renderWebhookTable(wh) {
  const entries = Array.isArray(wh.entries) ? wh.entries : [];
  /** @type {Map<number, PlatformRow>} */
  const byPlatform = new Map();
  for (const e of entries) {
    if (!entrySeen(e)) continue;
    const row = byPlatform.get(e.platformID) ?? { platformID: e.platformID, platform: e.platform, online: null, offline: null };
    row[e.command] = e;
    byPlatform.set(e.platformID, row);
  }
  /** @param {PlatformRow} r */
  const worst = (r) => Math.max(STATE_RANK[r.online?.state ?? ''] ?? -1, STATE_RANK[r.offline?.state ?? ''] ?? -1);
  const rows = [...byPlatform.values()].sort((a, b) => worst(b) - worst(a) || a.platformID - b.platformID);
  const out = [];
  for (const r of rows) {
    const id = String(r.platformID);
    const expanded = webhookState.expanded.has(id);
    const toggle = () => {
      if (webhookState.expanded.has(id)) webhookState.expanded.delete(id);
      else webhookState.expanded.add(id);
      renderWebhookTable(wh);
    };
    out.push(
      h(
        'tr',
        {
          class: `health-row${expanded ? ' expanded' : ''}`,
          dataset: { platformId: id, worst: /** @type {string} */ (['unknown', 'healthy', 'degraded', 'silent'][Math.max(0, worst(r))]) },
          title: 'Click for the details',
          attrs: { 'aria-expanded': expanded ? 'true' : 'false', tabindex: 0 },
          on: { click: toggle, keydown: (/** @type {KeyboardEvent} */ ev) => (ev.key === 'Enter' || ev.key === ' ') && (ev.preventDefault(), toggle()) },
        },
        h('th', { scope: 'row', class: 'platform', text: platformLabel(r.platformID, r.platform) }),
        ...stateCell(r.online, 'online'),
        ...stateCell(r.offline, 'offline'),
      ),
    );
    if (expanded) out.push(webhookDetail(r));
  }
  $('webhook-rows').replaceChildren(...out);
  $('webhook-empty').hidden = rows.length > 0;
  const windowMinutes = wh.windowMinutes;
  $('webhook-window').textContent = windowMinutes ? `last ${windowMinutes} min` : '';
  const quiet = entries.filter((e) => !entrySeen(e)).map((e) => `${e.command} · ${platformLabel(e.platformID, e.platform)}`);
  $('webhook-note').textContent =
    'Transitions are state changes, learned by webhook (OpenIM told us) or by correction (a poll found them); share = by correction / all. ' +
    '"too few": under 5 corrections, not enough to judge. Click a platform for its messages and the webhooks received.' +
    (quiet.length ? ` Nothing yet for: ${quiet.join(', ')}.` : '');
}

/** @param {PlatformRow} r */
function webhookDetail(r) {
  /**
   * @param {WebhookEntry | null} e
   * @param {'online' | 'offline'} command
   */
  const part = (e, command) => {
    if (!e || !entrySeen(e)) return h('div', { class: 'detail-part' }, h('h4', { text: `${command} webhooks` }), h('p', { class: 'muted', text: 'nothing seen in the window' }));
    const stats = [
      `${fmtCount(e.receipts)} webhooks received (transitions, renewals and duplicates)`,
      e.lateP99Ms === null || e.lateP99Ms === undefined ? null : `late webhooks p50 ${fmtDuration(e.lateP50Ms)}, p99 ${fmtDuration(e.lateP99Ms)}`,
      e.silentRenewals ? `${fmtCount(e.silentRenewals)} users online with no renewal webhook` : null,
    ].filter(Boolean);
    return h(
      'div',
      { class: `detail-part state-${e.state}`, dataset: { command } },
      h('h4', {}, `${command} webhooks `, pill(e.state === 'unknown' ? 'too few to judge' : e.state, e.state)),
      h('p', { class: 'webhook-msg' }, ...withCode(e.message)),
      h('p', { class: 'muted small', text: stats.join(' · ') }),
    );
  };
  return h('tr', { class: 'detail-row', dataset: { detailFor: String(r.platformID) } }, h('td', { colSpan: 9 }, h('div', { class: 'detail-parts' }, part(r.online, 'online'), part(r.offline, 'offline'))));
}
