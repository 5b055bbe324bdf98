// @ts-check
// A user's timeline (#/user/<userID>): current presence per platform, and webhooks, polls, events and mismatches
// on one time axis and in a list (GET /v1/users/:userID/timeline).

/** @import { Timeline, TimelineItem, TimelineKind } from './types.js' */

import { AuthRequired, api, errorText } from './api.js';
import { edgeAnchor, tickLabel, timeTicks, widthOf } from './chart.js';
import { $, h, s, showError } from './dom.js';
import { fmtAgo, fmtCount, fmtTime, isoTitle, platformLabel, toMs } from './format.js';
import { SOURCE_COLORS, legendItem, pill } from './labels.js';
import { markUpdated, run } from './refresh.js';
import { timelineUser } from './route.js';

/** @typedef {{ kind: TimelineKind, label: string, one: string, color: string }} LaneInfo */

/** The chart's lanes, top to bottom. */
/** @type {readonly LaneInfo[]} */
const TIMELINE_KINDS = [
  { kind: 'webhook', label: 'Webhooks', one: 'webhook', color: '#2f6fe4' },
  { kind: 'poll', label: 'Polls', one: 'poll', color: '#0d9488' },
  { kind: 'event', label: 'Events', one: 'event', color: '#15803d' },
  { kind: 'mismatch', label: 'Mismatches', one: 'mismatch', color: '#c62828' },
];

/** @type {Timeline | null} */
let lastTimeline = null;

export async function loadTimeline() {
  const userID = timelineUser();
  if (userID === null || userID === '') {
    showError('timeline-error', 'This link does not name a user.');
    return;
  }
  $('timeline-user').textContent = userID;
  document.title = `${userID} · OpenIM presence reconciler`;
  const since = /** @type {HTMLSelectElement} */ ($('timeline-since')).value;
  let tl;
  try {
    tl = /** @type {Timeline} */ (await api(`/v1/users/${encodeURIComponent(userID)}/timeline?since=${encodeURIComponent(since)}`));
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    showError('timeline-error', `Cannot load the timeline: ${errorText(err)}`);
    return;
  }
  if (timelineUser() !== userID) return;
  showError('timeline-error', null);
  renderTimeline(tl);
  markUpdated();
}

/** Empties the timeline view, before the next user's is loaded. */
export function clearTimeline() {
  $('timeline-list').replaceChildren();
  $('timeline-chart').replaceChildren();
  $('timeline-presence').replaceChildren();
}

/** Draws the chart again (at the page's new width) from the last answer, if it is the user shown. */
export function redrawTimeline() {
  if (lastTimeline && lastTimeline.userID === timelineUser()) {
    $('timeline-chart').replaceChildren(timelineChart(lastTimeline.items ?? [], toMs(lastTimeline.since), widthOf($('timeline-chart'), 960)));
  }
}

/** @param {Timeline} tl */
function renderTimeline(tl) {
  const chips = (tl.presence ?? []).map((p) =>
    h(
      'span',
      { class: 'chip' },
      h('strong', { text: platformLabel(p.platformID, p.platform) }),
      pill(p.online ? 'online' : 'offline', p.online ? 'online' : 'offline'),
      h('span', { class: 'muted', text: `since ${fmtTime(p.changedAt)}` }),
      p.lastVerifiedAt ? h('span', { class: 'muted', text: `verified ${fmtAgo(p.lastVerifiedAt)}` }) : null,
      p.pendingOffline ? pill('offline settling', 'degraded') : null,
    ),
  );
  if (chips.length === 0) chips.push(h('span', { class: 'chip muted', text: 'No presence recorded for this user.' }));
  $('timeline-presence').replaceChildren(...chips);

  const note = $('timeline-note');
  if (tl.truncated) {
    note.textContent = `Too many entries: complete only up to ${fmtTime(tl.completeUntil)}. Choose a shorter period.`;
    note.hidden = false;
  } else note.hidden = true;

  const items = Array.isArray(tl.items) ? tl.items : [];
  const list = $('timeline-list');
  const rows = items.map((it, i) => timelineRow(it, i));
  list.replaceChildren(...rows);
  $('timeline-empty').hidden = items.length > 0;
  lastTimeline = tl;
  $('timeline-chart').replaceChildren(timelineChart(items, toMs(tl.since), widthOf($('timeline-chart'), 960)));
  const windows = correctionWindows(items);
  $('timeline-legend').replaceChildren(
    ...TIMELINE_KINDS.map((k) => legendItem(k.label, k.color, items.filter((it) => it.kind === k.kind).length)),
    // The shaded bar is named only when the chart draws one.
    ...(windows.length > 0
      ? [h('span', { class: 'legend-window' }, h('i', { class: 'swatch swatch-window', color: SOURCE_COLORS.poll }), `correction window: when a corrected change really happened (${fmtCount(windows.length)})`)]
      : []),
    h('span', { class: 'muted', text: 'filled = online, hollow = offline' }),
  );
}

/**
 * The interval in which each correction really happened: from its occurredAfter (the last observation that agreed
 * with the old state) to its occurredBefore (the first poll that saw the new one). `a` is `null` when nothing
 * earlier was known: the bar then starts at the chart's left edge.
 * @param {TimelineItem[]} items
 * @returns {{ a: number | null, b: number }[]}
 */
function correctionWindows(items) {
  const out = [];
  for (const it of items) {
    if (it.kind !== 'event' || !it.details || it.details.source !== 'poll') continue;
    const b = toMs(/** @type {string | null | undefined} */ (it.details.occurredBefore)) ?? toMs(it.at);
    if (b === null) continue;
    out.push({ a: toMs(/** @type {string | null | undefined} */ (it.details.occurredAfter)), b });
  }
  return out;
}

/**
 * @param {TimelineItem} it
 * @param {number} i
 */
function timelineRow(it, i) {
  const details = it.details && typeof it.details === 'object' ? it.details : {};
  const dl = h('dl', { class: 'kv' });
  for (const [k, v] of Object.entries(details)) {
    dl.append(h('dt', { text: k }), h('dd', { text: typeof v === 'string' ? v : JSON.stringify(v, null, 1) }));
  }
  const kindInfo = TIMELINE_KINDS.find((k) => k.kind === it.kind);
  return h(
    'li',
    { id: `tl-item-${i}`, dataset: { kind: String(it.kind) } },
    h('span', { class: 'time', text: fmtTime(it.at), title: isoTitle(it.at) }),
    h('span', {}, h('span', { class: 'pill pill-kind', text: kindInfo ? kindInfo.one : String(it.kind), color: kindInfo?.color ?? '#64748b' })),
    h('span', { class: 'summary', text: it.summary }),
    Object.keys(details).length ? h('details', {}, h('summary', { text: 'details' }), dl) : null,
  );
}

/**
 * Whether a timeline item means "online" (filled mark), "offline" (hollow) or neither.
 * @param {TimelineItem} it
 * @returns {'online' | 'offline' | null}
 */
function itemDirection(it) {
  const d = it.details ?? {};
  if (it.kind === 'webhook') return d.command === 'callbackAfterUserOnlineCommand' ? 'online' : 'offline';
  if (it.kind === 'event') return d.type === 'presence.online' ? 'online' : 'offline';
  if (it.kind === 'poll') {
    if (d.platforms === null || d.platforms === undefined) return null;
    return Object.keys(d.platforms).length > 0 ? 'online' : 'offline';
  }
  if (it.kind === 'mismatch') return d.kind === 'missed_online' ? 'online' : d.kind === 'missed_offline' ? 'offline' : null;
  return null;
}

/**
 * @param {TimelineItem[]} items
 * @param {number | null} since
 * @param {number} width
 */
function timelineChart(items, since, width) {
  const W = width;
  const lane = 34;
  const m = { l: 92, r: 16, t: 8, b: 26 };
  const H = m.t + lane * TIMELINE_KINDS.length + m.b;
  const pw = W - m.l - m.r;
  const times = /** @type {number[]} */ (items.map((it) => toMs(it.at)).filter((t) => t !== null));
  for (const w of correctionWindows(items)) {
    if (w.a !== null) times.push(w.a);
    times.push(w.b);
  }
  let t0 = times.length ? Math.min(...times) : since ?? Date.now() - 3_600_000;
  let t1 = times.length ? Math.max(...times) : Date.now();
  if (t1 - t0 < 60_000) {
    const mid = (t0 + t1) / 2;
    t0 = mid - 30_000;
    t1 = mid + 30_000;
  }
  const padMs = (t1 - t0) * 0.04;
  t0 -= padMs;
  t1 += padMs;
  /** @param {number} t */
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * pw;
  /** @param {number} i */
  const laneY = (i) => m.t + lane * i + lane / 2;

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Receipts, polls, events and mismatches on one time axis' });
  TIMELINE_KINDS.forEach((k, i) => {
    svg.append(s('rect', { class: 'lane', x: m.l, y: m.t + lane * i + 4, width: pw, height: lane - 8, rx: 5 }));
    svg.append(s('text', { class: 'lane-label', x: m.l - 10, y: laneY(i) + 4, 'text-anchor': 'end', text: k.label }));
  });
  const { ticks, step } = timeTicks(t0, t1, Math.max(3, Math.floor(W / 110)));
  const axisY = m.t + lane * TIMELINE_KINDS.length;
  svg.append(s('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: axisY, y2: axisY }));
  for (const t of ticks) {
    svg.append(s('line', { class: 'grid', x1: x(t), x2: x(t), y1: m.t, y2: axisY }));
    svg.append(s('text', { x: x(t), y: H - 8, 'text-anchor': edgeAnchor(x(t), W), text: tickLabel(t, step) }));
  }
  // Correction windows first, under the marks: every correction has one (open on the left when nothing earlier
  // was known), at least 6 px wide so that a short one still shows.
  const eventLane = TIMELINE_KINDS.findIndex((k) => k.kind === 'event');
  for (const w of correctionWindows(items)) {
    const left = w.a === null ? m.l : Math.max(m.l, x(w.a));
    const right = Math.min(W - m.r, Math.max(x(w.b), left + 6));
    const bar = s('rect', {
      class: w.a === null ? 'correction-window open' : 'correction-window',
      x: Math.min(left, right - 6),
      y: laneY(eventLane) - 9,
      width: Math.max(6, right - left),
      height: 18,
      rx: 4,
      fill: SOURCE_COLORS.poll,
      'fill-opacity': w.a === null ? 0.18 : 0.3,
    });
    bar.append(
      s('title', {
        text: w.a === null ? `correction: happened before ${fmtTime(w.b)} (nothing earlier was known)` : `correction window: between ${fmtTime(w.a)} and ${fmtTime(w.b)}`,
      }),
    );
    svg.append(bar);
  }
  items.forEach((it, i) => {
    const t = toMs(it.at);
    const li = TIMELINE_KINDS.findIndex((k) => k.kind === it.kind);
    if (t === null || li < 0) return;
    const color = /** @type {LaneInfo} */ (TIMELINE_KINDS[li]).color;
    const dir = itemDirection(it);
    const cx = x(t);
    const cy = laneY(li);
    const common = {
      class: dir === 'offline' ? 'mark hollow' : 'mark',
      fill: color,
      stroke: color,
      'stroke-width': 2,
      tabindex: 0,
      'data-index': i,
    };
    /** @type {SVGGraphicsElement} */
    const mark =
      it.kind === 'mismatch'
        ? s('rect', { ...common, x: cx - 5.5, y: cy - 5.5, width: 11, height: 11, transform: `rotate(45 ${cx} ${cy})` })
        : s('circle', { ...common, cx, cy, r: 5.5 });
    mark.append(s('title', { text: `${fmtTime(t)} ${it.summary}` }));
    const focus = () => highlightTimelineItem(i);
    mark.addEventListener('click', focus);
    mark.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') focus();
    });
    svg.append(mark);
  });
  if (items.length === 0) {
    svg.append(s('text', { x: m.l + pw / 2, y: m.t + lane * 2, 'text-anchor': 'middle', text: 'Nothing recorded in this period' }));
  }
  return svg;
}

/**
 * Marks the list entry of a chart mark and scrolls it into view.
 * @param {number} i
 */
function highlightTimelineItem(i) {
  for (const el of $('timeline-list').querySelectorAll('li.highlight')) el.classList.remove('highlight');
  const row = document.getElementById(`tl-item-${i}`);
  if (!row) return;
  row.classList.add('highlight');
  row.scrollIntoView({ block: 'center', behavior: 'smooth' });
}

/** The period selector and the refresh button. */
export function setupTimeline() {
  $('timeline-since').addEventListener('change', () => run('timeline', loadTimeline));
  $('timeline-refresh').addEventListener('click', () => run('timeline', loadTimeline));
}
