// @ts-check
// Incidents: what to review first; each opens into its mismatches (GET /v1/mismatches?incident=).

/** @import { Incident, IncidentPage, Mismatch, MismatchPage } from './types.js' */

import { AuthRequired, api, errorText } from './api.js';
import { $, h, showError } from './dom.js';
import { fmtClock, fmtCount, fmtTime, isoTitle, toMs } from './format.js';
import { KIND_INFO, pill } from './labels.js';
import { loadMismatches, mismatchCells } from './mismatches.js';
import { run } from './refresh.js';

const INCIDENT_MISMATCHES = 50;

/** @type {Readonly<Record<string, string | undefined>>} */
const INCIDENT_CAUSE = {
  mass_disagreement: 'mass disagreement (guard)',
  webhook_loss: 'lost webhooks',
  initial_sync: 'first-start sync',
};

/** The incidents shown, those opened, and the mismatches of each opened one (or why they did not load). */
const incidentState = {
  /** @type {Incident[]} */
  rows: [],
  /** @type {IncidentPage['counts'] | null} */
  counts: null,
  /** @type {Set<number>} */
  expanded: new Set(),
  /** @type {Map<number, Mismatch[] | { error: string }>} */
  mismatches: new Map(),
};

export async function loadIncidents() {
  let page;
  try {
    page = /** @type {IncidentPage} */ (await api('/v1/incidents?limit=20'));
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    showError('incident-error', `Cannot load incidents: ${errorText(err)}`);
    return;
  }
  showError('incident-error', null);
  incidentState.rows = page.incidents;
  incidentState.counts = page.counts;
  for (const id of incidentState.expanded) await loadIncidentMismatches(id);
  renderIncidents();
}

/** @param {number} id */
async function loadIncidentMismatches(id) {
  const page = /** @type {MismatchPage} */ (await api(`/v1/mismatches?incident=${encodeURIComponent(String(id))}&limit=${INCIDENT_MISMATCHES}`));
  incidentState.mismatches.set(id, page.mismatches);
}

/** @param {Incident} i */
function incidentWhen(i) {
  const a = /** @type {number} */ (toMs(i.firstAt));
  const b = /** @type {number} */ (toMs(i.lastAt));
  return b - a < 1000 ? fmtTime(a) : `${fmtTime(a)} – ${fmtClock(b)}`;
}

function renderIncidents() {
  const c = incidentState.counts ?? { open: 0, acknowledged: 0, closed: 0 };
  $('incident-count').textContent = `${fmtCount(c.open)} open · ${fmtCount(c.acknowledged)} acknowledged · ${fmtCount(c.closed)} closed`;
  const rows = [];
  for (const i of incidentState.rows) {
    const expanded = incidentState.expanded.has(i.id);
    rows.push(incidentRow(i, expanded));
    if (expanded) rows.push(incidentDetail(i));
  }
  $('incident-rows').replaceChildren(...rows);
  $('incident-empty').hidden = incidentState.rows.length > 0;
}

/**
 * @param {Incident} i
 * @param {boolean} expanded
 */
function incidentRow(i, expanded) {
  const toggle = async () => {
    if (incidentState.expanded.has(i.id)) {
      incidentState.expanded.delete(i.id);
    } else {
      incidentState.expanded.add(i.id);
      try {
        await loadIncidentMismatches(i.id);
      } catch (err) {
        if (err instanceof AuthRequired) return;
        incidentState.mismatches.set(i.id, { error: errorText(err) });
      }
    }
    renderIncidents();
  };
  const actions = h('td', { class: 'actions' });
  if (i.status === 'open') {
    const btn = h('button', { type: 'button', class: 'btn btn-small', text: 'Ack', dataset: { action: 'ack-incident' }, title: 'Acknowledge the incident and its open mismatches' });
    btn.addEventListener('click', async (e) => {
      e.stopPropagation();
      btn.disabled = true;
      try {
        await api(`/v1/incidents/${encodeURIComponent(String(i.id))}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        // The counts by status and any open detail change too.
        await loadIncidents();
        run('mismatches', () => loadMismatches(false, true));
      } catch (err) {
        btn.disabled = false;
        if (err instanceof AuthRequired) return;
        showError('incident-error', `Could not acknowledge incident #${i.id}: ${errorText(err)}`);
      }
    });
    actions.append(btn);
  }
  const status = i.closedReason ? `${i.status} (${i.closedReason})` : i.status;
  const kinds = (i.byKind ?? []).map((k) => `${fmtCount(k.count)} ${(KIND_INFO[k.kind]?.label ?? k.kind)}`).join(' · ');
  return h(
    'tr',
    {
      class: `incident-row${expanded ? ' expanded' : ''}`,
      dataset: { incidentId: String(i.id), cause: String(i.cause), status: String(i.status) },
      title: expanded ? 'Click to close' : 'Click for its mismatches',
      attrs: { 'aria-expanded': String(expanded) },
      on: {
        click: (/** @type {MouseEvent} */ e) => {
          if (/** @type {Element} */ (e.target).closest('a, button')) return;
          void toggle();
        },
      },
    },
    h('td', { class: 'nowrap mono', text: `${expanded ? '▾' : '▸'} ${i.id}` }),
    h('td', { class: 'nowrap' }, pill(status, i.status)),
    h('td', {}, h('span', { class: 'incident-title', text: i.title }), h('span', { class: 'incident-cause', text: `${INCIDENT_CAUSE[i.cause] ?? i.cause}${i.note ? ` · note: ${i.note}` : ''}` })),
    h('td', { class: 'nowrap', text: incidentWhen(i), title: `${isoTitle(i.firstAt)} – ${isoTitle(i.lastAt)}` }),
    h('td', {}, h('strong', { text: fmtCount(i.mismatches) }), h('span', { class: 'incident-cause', text: kinds })),
    actions,
  );
}

/** @param {Incident} i */
function incidentDetail(i) {
  const list = incidentState.mismatches.get(i.id);
  let body;
  if (list === undefined) body = h('p', { class: 'muted', text: 'Loading its mismatches…' });
  else if (!Array.isArray(list)) body = h('p', { class: 'error-line', text: `Cannot load its mismatches: ${list.error}` });
  else if (list.length === 0) body = h('p', { class: 'muted', text: 'No mismatch left in it (removed by retention).' });
  else {
    body = h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table incident-mismatches' },
        h('thead', {}, h('tr', {}, ...['#', 'Detected', 'Kind', 'User', 'Platform', 'Happened between', 'Status'].map((t) => h('th', { scope: 'col', text: t })))),
        h(
          'tbody',
          {},
          ...list.map((m) =>
            h(
              'tr',
              { class: 'incident-mismatch', dataset: { mismatchId: String(m.id), kind: String(m.kind) } },
              ...mismatchCells(m),
              h('td', { class: 'nowrap' }, pill(m.status, m.status)),
            ),
          ),
        ),
      ),
      h('p', {
        class: 'muted small',
        text:
          list.length < i.mismatches
            ? `The latest ${list.length} of ${fmtCount(i.mismatches)} mismatches; all of them: openim-presence mismatches list --incident ${i.id}`
            : `All ${list.length} mismatches of incident #${i.id}.`,
      }),
    );
  }
  return h('tr', { class: 'incident-detail', dataset: { incidentId: String(i.id) } }, h('td', { attrs: { colspan: '6' } }, body));
}
