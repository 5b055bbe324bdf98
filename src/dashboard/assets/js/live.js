// @ts-check
// Live events: the event stream (SSE), falling back to long-polling the JSON page route; the newest events are
// listed, and each fresh one refreshes what it changes.

/** @import { EventPage, PresenceEvent } from './types.js' */

import { ApiFailure, AuthRequired, api, currentToken, errorText, isAbort } from './api.js';
import { loadCharts } from './charts.js';
import { $, h } from './dom.js';
import { fmtCount, fmtTime, isoTitle, platformLabel, toMs } from './format.js';
import { loadHealth } from './glance.js';
import { pill, userLink } from './labels.js';
import { loadMismatches } from './mismatches.js';
import { soon } from './refresh.js';
import { currentView, timelineUser } from './route.js';
import { loadTimeline } from './timeline.js';

const FEED_MAX = 150;
const FEED_BACKLOG = 25;

/**
 * The connection: its EventSource or long-poll request, the last event listed, and a generation that every
 * (re)start increments, so that what an older connection still does is ignored.
 */
const live = {
  /** @type {EventSource | null} */
  es: null,
  /** @type {'off' | 'sse' | 'poll'} */
  mode: 'off',
  lastSeq: 0,
  /** @type {AbortController | null} */
  abort: null,
  generation: 0,
};

/**
 * @param {string} text
 * @param {string} cls
 */
function setLiveStatus(text, cls) {
  const el = $('live-status');
  el.textContent = text;
  el.className = `live-status ${cls}`;
}

/** @param {PresenceEvent} ev */
function eventTimeText(ev) {
  if (ev.source === 'poll') {
    const after = toMs(ev.occurredAfter);
    const before = toMs(ev.occurredBefore);
    if (after !== null && before !== null) return `happened between ${fmtTime(after)} and ${fmtTime(before)}`;
    if (before !== null) return `happened before ${fmtTime(before)}`;
  }
  if (ev.occurredAt) return `occurred ${fmtTime(ev.occurredAt)}`;
  return '';
}

/**
 * Lists an event (unless already listed); a `fresh` one (not from the backlog) refreshes what it changes.
 * @param {PresenceEvent | null | undefined} ev
 * @param {boolean} fresh
 */
function onLiveEvent(ev, fresh) {
  if (!ev || typeof ev.seq !== 'number' || ev.seq <= live.lastSeq) return;
  live.lastSeq = ev.seq;
  const online = ev.type === 'presence.online';
  const item = h(
    'li',
    { class: fresh ? 'fresh' : '', dataset: { seq: String(ev.seq), userId: String(ev.userID) } },
    h('span', { class: 'seq', text: `#${ev.seq}` }),
    h(
      'div',
      { class: 'line1' },
      pill(online ? 'online' : 'offline', online ? 'online' : 'offline'),
      h('span', { class: 'user' }, userLink(String(ev.userID))),
      h('span', { class: 'muted', text: platformLabel(ev.platformID, ev.platform) }),
      ev.source === 'poll'
        ? pill(ev.mismatchID ? `correction · mismatch #${ev.mismatchID}` : 'correction', 'poll')
        : pill('webhook', 'webhook'),
    ),
    h(
      'div',
      { class: 'line2' },
      h('span', { class: 'time', text: fmtTime(ev.recordedAt), title: isoTitle(ev.recordedAt) }),
      ` · user ${ev.userOnline ? 'online' : 'offline'} (v${ev.userVersion ?? '?'})`,
      eventTimeText(ev) ? ` · ${eventTimeText(ev)}` : '',
    ),
  );
  const feed = $('live-feed');
  feed.prepend(item);
  while (feed.children.length > FEED_MAX) feed.lastElementChild?.remove();
  $('live-empty').hidden = true;
  $('head-seq').textContent = `stream head #${fmtCount(ev.seq)}`;
  if (fresh) {
    soon('health', loadHealth, 800);
    soon('charts', loadCharts, 3000);
    if (ev.source === 'poll' || ev.mismatchID) soon('mismatches', () => loadMismatches(false), 800);
    if (currentView() === 'timeline' && timelineUser() === ev.userID) soon('timeline', loadTimeline, 800);
  }
}

/** (Re)starts the feed: the last events first, then the stream from there. */
export async function startLive() {
  stopLive();
  const gen = ++live.generation;
  setLiveStatus('connecting…', '');
  try {
    const head = /** @type {EventPage} */ (await api('/v1/events?after=0&limit=1'));
    if (gen !== live.generation) return;
    const from = Math.max(0, head.head - FEED_BACKLOG);
    const backlog = from < head.head ? /** @type {EventPage} */ (await api(`/v1/events?after=${from}&limit=${FEED_BACKLOG}`)) : { events: [], next: from };
    if (gen !== live.generation) return;
    live.lastSeq = from;
    for (const ev of backlog.events) onLiveEvent(ev, false);
    live.lastSeq = Math.max(live.lastSeq, backlog.next ?? from);
  } catch (err) {
    if (gen !== live.generation || err instanceof AuthRequired) return;
    if (err instanceof ApiFailure && err.status === 410) live.lastSeq = 0;
    setLiveStatus(`cannot read the stream: ${errorText(err)}`, 'down');
    setTimeout(() => gen === live.generation && startLive(), 5000);
    return;
  }
  openEventSource(gen);
}

/** @param {number} gen */
function openEventSource(gen) {
  if (typeof EventSource !== 'function') {
    void longPoll(gen);
    return;
  }
  const params = new URLSearchParams({ after: String(live.lastSeq) });
  const token = currentToken();
  if (token) params.set('access_token', token);
  const es = new EventSource(`/v1/events?${params.toString()}`);
  live.es = es;
  let opened = false;
  es.addEventListener('open', () => {
    opened = true;
    live.mode = 'sse';
    setLiveStatus('live', 'live');
  });
  es.addEventListener('message', (msg) => {
    let ev;
    try {
      ev = /** @type {PresenceEvent} */ (JSON.parse(msg.data));
    } catch {
      return;
    }
    onLiveEvent(ev, true);
  });
  es.addEventListener('heartbeat', (msg) => {
    try {
      const data = /** @type {unknown} */ (JSON.parse(/** @type {MessageEvent<string>} */ (msg).data));
      const head = typeof data === 'number' ? data : data && typeof data === 'object' && 'head' in data && typeof data.head === 'number' ? data.head : null;
      if (head !== null) $('head-seq').textContent = `stream head #${fmtCount(head)}`;
    } catch {
      /* a heartbeat without JSON carries nothing to show */
    }
  });
  es.addEventListener('error', () => {
    if (gen !== live.generation) return;
    if (es.readyState === EventSource.CLOSED) {
      // Not an event stream (no SSE on this daemon, a refused token, an expired cursor): the JSON route says why.
      es.close();
      live.es = null;
      void longPoll(gen, opened);
    } else {
      setLiveStatus('reconnecting…', 'down');
    }
  });
}

/**
 * @param {number} gen
 * @param {boolean} [afterSse] the stream worked before: go back to it once the JSON route answers again
 */
async function longPoll(gen, afterSse) {
  live.mode = 'poll';
  let wait = 20;
  let failures = 0;
  setLiveStatus('live (polling)', 'polling');
  while (gen === live.generation) {
    const ctrl = new AbortController();
    live.abort = ctrl;
    try {
      const page = /** @type {EventPage} */ (await api(`/v1/events?after=${live.lastSeq}&wait=${wait}&limit=200`, { signal: ctrl.signal }));
      if (gen !== live.generation) return;
      failures = 0;
      setLiveStatus('live (polling)', 'polling');
      for (const ev of page.events) onLiveEvent(ev, true);
      if (typeof page.next === 'number') live.lastSeq = Math.max(live.lastSeq, page.next);
      if (afterSse) {
        // The stream worked before: go back to it once the JSON route answers again.
        openEventSource(gen);
        return;
      }
      if (wait === 0) await sleep(2000);
    } catch (err) {
      if (gen !== live.generation || isAbort(err) || err instanceof AuthRequired) return;
      if (err instanceof ApiFailure && err.status === 410) {
        const oldest = err.body?.error?.oldestSeq;
        live.lastSeq = typeof oldest === 'number' ? oldest - 1 : 0;
        setLiveStatus('events were missed (retention): resumed from the oldest kept', 'polling');
        continue;
      }
      if (err instanceof ApiFailure && err.status === 400 && wait > 0) {
        wait = 0;
        continue;
      }
      failures++;
      setLiveStatus(`disconnected: ${errorText(err)}; retrying`, 'down');
      await sleep(Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)));
    }
  }
}

/** Closes the stream or ends the long poll; what either still delivers is ignored. */
export function stopLive() {
  live.generation++;
  if (live.es) {
    live.es.close();
    live.es = null;
  }
  if (live.abort) {
    live.abort.abort();
    live.abort = null;
  }
  live.mode = 'off';
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
