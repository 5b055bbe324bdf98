// @ts-check
// The mismatch table: filters, pages of older rows, evidence on click, acknowledge and resolve (with a note).
//
// While the pointer is on the table, a row is open for review or an input in it has the focus, refreshes change
// rows in place (status) but add none: new rows wait behind the "N new" button, so nothing moves under the pointer.

/** @import { KindInfo } from './labels.js' */
/** @import { Mismatch, MismatchPage } from './types.js' */

import { AuthRequired, api, errorText } from './api.js';
import { $, h, showError } from './dom.js';
import { fmtCount, fmtDuration, fmtTime, happenedBetween, isoTitle, platformLabel } from './format.js';
import { KINDS, KIND_INFO, PLATFORMS, kindPill, pill, userLink } from './labels.js';
import { run } from './refresh.js';
import { currentView } from './route.js';

const MISMATCH_PAGE = 50;

const mismatchState = {
  /** @type {Mismatch[]} */
  rows: [],
  /** @type {number | null} */
  next: null,
  /** @type {Set<number>} */
  expanded: new Set(),
  /** @type {Mismatch[]} */
  pending: [],
  hover: false,
  forceNext: false,
};

function mismatchesPaused() {
  return mismatchState.hover || mismatchState.expanded.size > 0 || $('mismatch-table').contains(document.activeElement);
}

/**
 * @param {number} limit
 * @param {number | null} before
 */
function mismatchQuery(limit, before) {
  const form = /** @type {HTMLFormElement} */ ($('mismatch-filters'));
  const params = new URLSearchParams();
  for (const name of ['kind', 'status', 'platform', 'user', 'since']) {
    const v = /** @type {HTMLInputElement | HTMLSelectElement} */ (form.elements.namedItem(name)).value.trim();
    if (v) params.set(name, v);
  }
  params.set('limit', String(limit));
  if (before) params.set('before', String(before));
  return params;
}

/**
 * Loads the first page again (as many rows as are shown), or the next older page when `older`. A refresh while the
 * table is paused (see mismatchesPaused) keeps the rows where they are; `force` (the "N new" button) applies it.
 * @param {boolean} older
 * @param {boolean} [force]
 */
export async function loadMismatches(older, force = false) {
  if (mismatchState.forceNext && !older) {
    mismatchState.forceNext = false;
    force = true;
  }
  const shown = mismatchState.rows.length;
  const limit = older ? MISMATCH_PAGE : Math.min(500, Math.max(MISMATCH_PAGE, shown));
  const params = mismatchQuery(limit, older ? mismatchState.next : null);
  let page;
  try {
    page = /** @type {MismatchPage} */ (await api(`/v1/mismatches?${params.toString()}`));
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    showError('mismatch-error', `Cannot load mismatches: ${errorText(err)}`);
    return;
  }
  showError('mismatch-error', null);
  if (!older && !force && mismatchState.rows.length > 0 && mismatchesPaused()) {
    const byId = new Map(page.mismatches.map((m) => [m.id, m]));
    const newest = Math.max(...mismatchState.rows.map((m) => m.id));
    mismatchState.rows = mismatchState.rows.map((m) => byId.get(m.id) ?? m);
    mismatchState.pending = page.mismatches.filter((m) => m.id > newest);
    updateMismatchRowsInPlace();
    renderMismatchPause();
    return;
  }
  mismatchState.rows = older ? [...mismatchState.rows, ...page.mismatches] : page.mismatches;
  mismatchState.next = page.next;
  if (!older) mismatchState.pending = [];
  renderMismatches();
}

/** Status and actions of the rows shown, changed where they are: no row is added, removed or moved. */
function updateMismatchRowsInPlace() {
  for (const m of mismatchState.rows) {
    /** @type {HTMLTableRowElement | null} */
    const tr = $('mismatch-rows').querySelector(`tr.mismatch-row[data-mismatch-id="${CSS.escape(String(m.id))}"]`);
    if (!tr || tr.dataset.status === m.status) continue;
    tr.replaceWith(mismatchRow(m, mismatchState.expanded.has(m.id)));
  }
}

/**
 * While the table is paused, what changes above it (health, charts, this section's head) must not move it either:
 * the area above may grow but not shrink, and growth is scrolled away, so the rows stay where the pointer is.
 */
const tableAnchor = { top: /** @type {number | null} */ (null) };

/** The box around the mismatch table, whose place on the screen is kept while the table is paused. */
const tableWrap = () => /** @type {HTMLElement} */ ($('mismatch-table').closest('.table-wrap'));

function anchorMismatchTable() {
  const wrap = tableWrap();
  const top = $('overview-top');
  if (!mismatchesPaused() || currentView() !== 'overview') {
    // The lock on the area above stays until the rows change anyway (renderMismatches), so leaving moves nothing.
    tableAnchor.top = null;
    return;
  }
  const now = wrap.getBoundingClientRect().top;
  if (tableAnchor.top === null) {
    tableAnchor.top = now;
    top.style.minHeight = `${top.offsetHeight}px`;
    return;
  }
  const shift = now - tableAnchor.top;
  if (Math.abs(shift) >= 0.5) window.scrollBy(0, shift);
}

function renderMismatchPause() {
  const n = mismatchState.pending.length;
  const btn = $('mismatch-new');
  btn.hidden = n === 0;
  btn.textContent = n === 0 ? '' : `${fmtCount(n)} new ${n === 1 ? 'row' : 'rows'}: show`;
  btn.dataset.count = String(n);
  $('mismatch-paused').hidden = !(mismatchState.hover && n > 0);
}

function renderMismatches() {
  const body = $('mismatch-rows');
  const rows = [];
  for (const m of mismatchState.rows) {
    const expanded = mismatchState.expanded.has(m.id);
    rows.push(mismatchRow(m, expanded));
    if (expanded) rows.push(mismatchDetail(m));
  }
  body.replaceChildren(...rows);
  $('mismatch-empty').hidden = mismatchState.rows.length > 0;
  $('mismatch-more').hidden = mismatchState.next === null || mismatchState.next === undefined;
  const n = mismatchState.rows.length;
  $('mismatch-count').textContent = n === 0 ? '' : `${fmtCount(n)} shown${mismatchState.next ? ' (more older)' : ''}`;
  if (!mismatchesPaused()) $('overview-top').style.minHeight = '';
  renderMismatchPause();
}

/**
 * @param {Mismatch} m
 * @param {boolean} expanded
 */
function mismatchRow(m, expanded) {
  const toggle = () => {
    if (mismatchState.expanded.has(m.id)) mismatchState.expanded.delete(m.id);
    else mismatchState.expanded.add(m.id);
    renderMismatches();
    anchorMismatchTable();
  };
  const actions = h('td', { class: 'actions' });
  if (m.status === 'open') actions.append(actionButton(m, 'ack', 'Ack', ''));
  if (m.status !== 'resolved') actions.append(actionButton(m, 'resolve', 'Resolve', ''));
  return h(
    'tr',
    {
      class: `mismatch-row${expanded ? ' expanded' : ''}`,
      dataset: { mismatchId: String(m.id), kind: String(m.kind), status: String(m.status) },
      title: 'Click for evidence',
      on: {
        click: (/** @type {MouseEvent} */ e) => {
          if (/** @type {Element} */ (e.target).closest('a, button')) return;
          toggle();
        },
      },
    },
    ...mismatchCells(m),
    h('td', { class: 'nowrap', text: m.lateByMs === null || m.lateByMs === undefined ? '—' : fmtDuration(m.lateByMs) }),
    h('td', { class: 'nowrap' }, pill(m.status, m.status), m.shadow ? [' ', pill('shadow', 'shadow', 'Recorded in shadow mode: nothing was published')] : null),
    actions,
  );
}

/**
 * The cells every mismatch row starts with: id, detection time, kind, user, platform, when it happened.
 * @param {Mismatch} m
 */
export function mismatchCells(m) {
  return [
    h('td', { class: 'nowrap mono', text: String(m.id) }),
    h('td', { class: 'nowrap', text: fmtTime(m.detectedAt), title: isoTitle(m.detectedAt) }),
    h('td', {}, kindPill(m.kind)),
    h('td', { class: 'user-cell' }, userLink(m.userID)),
    h('td', { class: 'nowrap', text: platformLabel(m.platformID, m.platform) }),
    h('td', { class: 'nowrap', text: happenedBetween(m) }),
  ];
}

/**
 * A button that acknowledges or resolves the mismatch, with the note `noteOf` gives (if any).
 * @param {Mismatch} m
 * @param {'ack' | 'resolve'} action
 * @param {string} label
 * @param {'' | (() => string)} noteOf
 */
function actionButton(m, action, label, noteOf) {
  const btn = h('button', {
    type: 'button',
    class: 'btn btn-small',
    text: label,
    dataset: { action },
    title: action === 'ack' ? 'Mark acknowledged' : 'Mark resolved',
  });
  btn.addEventListener('click', async (e) => {
    e.stopPropagation();
    btn.disabled = true;
    const note = typeof noteOf === 'function' ? noteOf() : '';
    try {
      const updated = /** @type {Mismatch} */ (
        await api(`/v1/mismatches/${encodeURIComponent(String(m.id))}/${action}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(note ? { note } : {}),
        })
      );
      mismatchState.rows = mismatchState.rows.map((r) => (r.id === updated.id ? updated : r));
      showError('mismatch-error', null);
      renderMismatches();
    } catch (err) {
      btn.disabled = false;
      if (err instanceof AuthRequired) return;
      showError('mismatch-error', `Could not ${action === 'ack' ? 'acknowledge' : 'resolve'} mismatch #${m.id}: ${errorText(err)}`);
    }
  });
  return btn;
}

/** @param {Mismatch} m */
function mismatchDetail(m) {
  const evidence = Array.isArray(m.evidence) ? m.evidence : [];
  const list = h(
    'ol',
    { class: 'evidence' },
    evidence.map((ev) =>
      h('li', {}, h('span', { class: 'mono', text: fmtTime(ev.at), title: isoTitle(ev.at) }), h('span', { class: 'what', text: ev.what }), h('span', { class: 'detail', text: ev.detail })),
    ),
  );
  const noteInput = h('input', { type: 'text', placeholder: 'note (optional), e.g. checked with the gateway team', maxLength: 2000, class: 'note-input' });
  const form = h('div', { class: 'note-form' }, noteInput);
  if (m.status === 'open') form.append(actionButton(m, 'ack', 'Acknowledge with note', () => noteInput.value.trim()));
  if (m.status !== 'resolved') form.append(actionButton(m, 'resolve', 'Resolve with note', () => noteInput.value.trim()));
  const cell = h(
    'td',
    { colSpan: 9 },
    evidence.length ? list : h('p', { class: 'muted', text: 'No evidence recorded.' }),
    m.note ? h('p', { class: 'note-line' }, h('strong', { text: 'Note: ' }), m.note) : null,
    m.eventSeq ? h('p', { class: 'muted', text: `Corrective event #${m.eventSeq}` }) : null,
    m.status !== 'resolved' ? form : null,
  );
  return h('tr', { class: 'detail-row', dataset: { detailFor: String(m.id) } }, cell);
}

/** Fills the filter lists and wires the filters, the pause while the pointer is on the table, and the buttons. */
export function setupMismatches() {
  const kindSel = $('filter-kind');
  for (const k of KINDS) kindSel.append(h('option', { value: k, text: /** @type {KindInfo} */ (KIND_INFO[k]).label }));
  const platSel = $('filter-platform');
  for (const p of PLATFORMS) platSel.append(h('option', { value: p, text: p }));
  const form = $('mismatch-filters');
  const reload = () => {
    mismatchState.rows = [];
    mismatchState.next = null;
    mismatchState.pending = [];
    mismatchState.forceNext = true;
    run('mismatches', () => loadMismatches(false));
  };
  const wrap = tableWrap();
  wrap.addEventListener('pointerenter', () => {
    mismatchState.hover = true;
    anchorMismatchTable();
    renderMismatchPause();
  });
  // Leaving the table ends the pause: the held rows come with the next update (or at once with the button).
  wrap.addEventListener('pointerleave', () => {
    mismatchState.hover = false;
    anchorMismatchTable();
    renderMismatchPause();
  });
  // The operator scrolling is a new place to keep; a change of size above is not.
  window.addEventListener('scroll', () => {
    if (tableAnchor.top !== null) tableAnchor.top = wrap.getBoundingClientRect().top;
  });
  if (typeof ResizeObserver === 'function') {
    const ro = new ResizeObserver(() => anchorMismatchTable());
    ro.observe($('overview-top'));
    ro.observe(/** @type {Element} */ ($('mismatches').querySelector('.section-head')));
  }
  $('mismatch-new').addEventListener('click', () => {
    mismatchState.forceNext = true;
    run('mismatches', () => loadMismatches(false));
  });
  for (const el of form.querySelectorAll('select')) el.addEventListener('change', reload);
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let typing;
  $('filter-user').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(reload, 350);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(typing);
    reload();
  });
  form.addEventListener('reset', () => setTimeout(reload, 0));
  $('mismatch-more').addEventListener('click', () => run('mismatches', () => loadMismatches(true)));
}
