// Operator dashboard of the presence reconciler: health, charts, mismatches, live events and user timelines.
// Plain ES module, no dependencies. Every string that comes from the API is put in the page with textContent or
// as an attribute value set through the DOM; nothing is ever parsed as HTML.

const TOKEN_KEY = 'openim-presence.api-token';
const SVG_NS = 'http://www.w3.org/2000/svg';
const HEALTH_EVERY_MS = 5_000;
const CHARTS_EVERY_MS = 30_000;
const MISMATCHES_EVERY_MS = 20_000;
const FEED_MAX = 150;
const FEED_BACKLOG = 25;
const MISMATCH_PAGE = 50;

const KINDS = ['missed_online', 'missed_offline', 'late_webhook', 'transient', 'suspect_poll', 'initial_sync'];
const KIND_INFO = {
  missed_online: { label: 'missed online', color: '#7c3aed', help: 'No online webhook came; a poll found the user online and the stream was corrected.' },
  missed_offline: { label: 'missed offline', color: '#dc2626', help: 'No offline webhook came; a poll found the user offline and the stream was corrected.' },
  late_webhook: { label: 'late webhook', color: '#d97706', help: 'The webhook arrived after the correction had already been made.' },
  transient: { label: 'transient', color: '#64748b', help: 'A poll disagreed, then agreed again: nothing was corrected.' },
  suspect_poll: { label: 'suspect poll', color: '#0891b2', help: 'Mass-disagreement guard: the poll itself was suspected wrong.' },
  initial_sync: { label: 'initial sync', color: '#65a30d', help: 'Online before the daemon first started: learned by the first polls, not a lost webhook.' },
};
const PLATFORMS = ['IOS', 'Android', 'Windows', 'OSX', 'Web', 'MiniWeb', 'Linux', 'APad', 'IPad', 'Admin', 'HarmonyOS'];
const SOURCE_COLORS = { webhook: '#2f6fe4', poll: '#ea6c12' };
const TIMELINE_KINDS = [
  { kind: 'webhook', label: 'Webhooks', one: 'webhook', color: '#2f6fe4' },
  { kind: 'poll', label: 'Polls', one: 'poll', color: '#0d9488' },
  { kind: 'event', label: 'Events', one: 'event', color: '#15803d' },
  { kind: 'mismatch', label: 'Mismatches', one: 'mismatch', color: '#c62828' },
];

// ---------------------------------------------------------------------------------------------------------------
// DOM helpers (the only way this file creates elements)

/** Creates an HTML element. `props`: class, text, title, href, dataset, attrs (static names), on (event handlers). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

/** Creates an SVG element; `attrs` are set with setAttribute (values are never parsed as markup). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'title') el.title = String(v);
    else if (k === 'href') el.setAttribute('href', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) el.setAttribute(a, String(av));
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'color') el.style.backgroundColor = v;
    else el[k] = v;
  }
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const $ = (id) => document.getElementById(id);

function pill(text, variant, title) {
  return h('span', { class: `pill pill-${variant}`, text, title });
}

function kindPill(kind) {
  const info = KIND_INFO[kind] ?? { label: kind, color: '#64748b', help: '' };
  return h('span', { class: 'pill pill-kind', text: info.label, title: info.help, color: info.color });
}

function userLink(userID) {
  return h('a', { href: `#/user/${encodeURIComponent(userID)}`, text: userID, class: 'user-link', title: `Timeline of ${userID}` });
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

function toMs(t) {
  if (t === null || t === undefined || t === '') return null;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDate(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Local time; the date is added unless it is today. */
function fmtTime(t) {
  const ms = toMs(t);
  if (ms === null) return '—';
  const sameDay = fmtDate(ms) === fmtDate(Date.now());
  return sameDay ? fmtClock(ms) : `${fmtDate(ms)} ${fmtClock(ms)}`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 60_000) return `${(a / 1000).toFixed(a < 10_000 ? 1 : 0)} s`;
  if (a < 3_600_000) return `${Math.round(a / 60_000)} min`;
  if (a < 86_400_000) return `${(a / 3_600_000).toFixed(1)} h`;
  return `${(a / 86_400_000).toFixed(1)} d`;
}

function fmtAgo(t) {
  const ms = toMs(t);
  if (ms === null) return 'never';
  const d = Date.now() - ms;
  if (d < 2000) return 'just now';
  return `${fmtDuration(d)} ago`;
}

function fmtCount(n) {
  return Number(n).toLocaleString('en-US');
}

function isoTitle(t) {
  const ms = toMs(t);
  return ms === null ? undefined : new Date(ms).toISOString();
}

// ---------------------------------------------------------------------------------------------------------------
// API access with the optional bearer token

let token = sessionStorage.getItem(TOKEN_KEY);

class AuthRequired extends Error {}
class ApiFailure extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  const used = token;
  if (used) headers.set('authorization', `Bearer ${used}`);
  let res;
  try {
    res = await fetch(path, { ...init, headers });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiFailure(0, 'cannot reach the daemon', null);
  }
  if (res.status === 401) {
    // A refusal of a token already replaced (an answer still in flight) says nothing about the current one.
    if (used === token) askForToken(used ? 'That token was not accepted.' : '');
    throw new AuthRequired('an API token is required');
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const message = body && body.error && typeof body.error.message === 'string' ? body.error.message : `HTTP ${res.status}`;
    throw new ApiFailure(res.status, message, body);
  }
  return body;
}

function errorText(err) {
  if (err instanceof AuthRequired) return 'An API token is required.';
  if (err instanceof ApiFailure) return err.status ? `${err.message} (HTTP ${err.status})` : err.message;
  return String(err && err.message ? err.message : err);
}

function askForToken(reason) {
  if (token) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }
  stopLive();
  const err = $('auth-error');
  if (reason || $('auth-panel').hidden) {
    err.textContent = reason;
    err.hidden = !reason;
  }
  $('forget-token').hidden = true;
  if ($('auth-panel').hidden) {
    $('auth-panel').hidden = false;
    $('auth-token').value = '';
    $('auth-token').focus();
  }
}

function setupAuth() {
  $('auth-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('auth-token').value.trim();
    if (!value) return;
    token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    $('auth-panel').hidden = true;
    $('forget-token').hidden = false;
    refreshAll();
    startLive();
  });
  $('forget-token').hidden = !token;
  $('forget-token').addEventListener('click', () => {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('forget-token').hidden = true;
    stopLive();
    refreshAll();
    startLive();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Refresh scheduling

const timers = new Map();
/** Says what went wrong in one of the page's error lines, or hides it (`null`). */
function showError(id, text) {
  const line = $(id);
  line.textContent = text ?? '';
  line.hidden = text === null;
}

const running = new Map();

/** Runs `fn` now if idle (once more afterwards if asked while running). */
function run(name, fn) {
  const state = running.get(name);
  if (state) {
    state.again = true;
    return;
  }
  const st = { again: false };
  running.set(name, st);
  Promise.resolve()
    .then(fn)
    .catch((err) => {
      if (!(err instanceof AuthRequired)) console.warn(`${name} refresh failed`, err);
    })
    .finally(() => {
      running.delete(name);
      if (st.again) run(name, fn);
    });
}

/** Runs `fn` after `delayMs`, coalescing requests made in the meantime. */
function soon(name, fn, delayMs) {
  if (timers.has(name)) return;
  timers.set(
    name,
    setTimeout(() => {
      timers.delete(name);
      run(name, fn);
    }, delayMs),
  );
}

function refreshAll() {
  run('health', loadHealth);
  if (currentView() === 'timeline') run('timeline', loadTimeline);
  else {
    run('incidents', loadIncidents);
    run('charts', loadCharts);
    run('mismatches', () => loadMismatches(false));
  }
}

function markUpdated() {
  $('updated').textContent = `updated ${fmtClock(Date.now())}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Health: one status line, the guard and API alerts, a few facts, and a compact table per platform × command

const STATE_RANK = { silent: 3, degraded: 2, healthy: 1, unknown: 0 };
const STATE_LABEL = { silent: 'silent', degraded: 'degraded', healthy: 'healthy', unknown: 'no data yet' };
const webhookState = { expanded: new Set() };

async function loadHealth() {
  let health;
  try {
    health = await api('/v1/health');
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    renderHealthError(err);
    return;
  }
  renderHealth(health);
  await loadDemo(health);
  markUpdated();
}

// ---------------------------------------------------------------------------------------------------------------
// Incidents: what to review first; each opens into its mismatches (GET /v1/mismatches?incident=)

const INCIDENTS_EVERY_MS = 10_000;
const INCIDENT_MISMATCHES = 50;
const INCIDENT_CAUSE = {
  mass_disagreement: 'mass disagreement (guard)',
  webhook_loss: 'lost webhooks',
  initial_sync: 'first-start sync',
};
const incidentState = { rows: [], counts: null, expanded: new Set(), mismatches: new Map() };

async function loadIncidents() {
  let page;
  try {
    page = await api('/v1/incidents?limit=20');
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

async function loadIncidentMismatches(id) {
  const page = await api(`/v1/mismatches?incident=${encodeURIComponent(String(id))}&limit=${INCIDENT_MISMATCHES}`);
  incidentState.mismatches.set(id, page.mismatches);
}

function incidentWhen(i) {
  const a = toMs(i.firstAt);
  const b = toMs(i.lastAt);
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
        click: (e) => {
          if (e.target.closest('a, button')) return;
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
              h('td', { class: 'nowrap mono', text: String(m.id) }),
              h('td', { class: 'nowrap', text: fmtTime(m.detectedAt), title: isoTitle(m.detectedAt) }),
              h('td', {}, kindPill(m.kind)),
              h('td', { class: 'user-cell' }, userLink(m.userID)),
              h('td', { class: 'nowrap', text: platformLabel(m.platformID, m.platform) }),
              h('td', { class: 'nowrap', text: happenedBetween(m) }),
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

// ---------------------------------------------------------------------------------------------------------------
// Demo: under `openim-presence demo` only, a banner saying which scripted episode runs and what it shows now

const demoState = { enabled: true };

async function loadDemo(health) {
  if (!demoState.enabled) return;
  let demo;
  try {
    demo = await api('/v1/demo');
  } catch (err) {
    if (err instanceof AuthRequired) throw err;
    // 404: not a demo; stop asking.
    if (err?.status === 404) demoState.enabled = false;
    $('demo-banner').hidden = true;
    return;
  }
  renderDemo(demo, health);
}

/** "episode 2 of 3: gateway gw-0 crashed at 10:02:00; guard holding 31 users until 10:04:30", what to watch, what next. */
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

/** Text with `code` spans (as the daemon's messages mark setting names) as nodes: the backticks are not shown. */
function withCode(text) {
  const parts = String(text ?? '').split('`');
  return parts.map((p, i) => (i % 2 === 1 ? h('code', { text: p }) : p)).filter((p) => p !== '');
}

function fact(label, value, note, title) {
  return h('div', { class: 'fact', title }, h('span', { class: 'fact-label', text: label }), h('span', { class: 'fact-value' }, value), note ? h('span', { class: 'fact-note', text: note }) : null);
}

function renderHealthError(err) {
  $('status').className = 'status-line status-failing';
  $('status-state').textContent = 'unreachable';
  $('status-headline').textContent = 'Cannot load /v1/health';
  $('status-cause').textContent = errorText(err);
  $('status-affected').hidden = true;
  $('guard-banner').hidden = true;
  $('api-banner').hidden = true;
}

function renderHealth(hl) {
  $('head-seq').textContent = `stream head #${fmtCount(hl.stream?.headSeq ?? 0)}`;
  const wh = hl.webhooks ?? { state: 'unknown', entries: [] };
  renderStatusLine(wh);
  renderGuard(hl.poll ?? { enabled: false });
  renderApiBanner(hl.api);
  renderFacts(hl);
  renderWebhookTable(wh);
}

/** The worst webhook state, its cause once, and where. */
function renderStatusLine(wh) {
  const summary = wh.summary ?? { state: wh.state ?? 'unknown', headline: '', cause: '', affected: [] };
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

/** The mass-disagreement guard, while it holds: how many users, since and until when. */
function renderGuard(poll) {
  const box = $('guard-banner');
  const guard = poll.enabled ? poll.guard : null;
  if (!guard) {
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.users;
    return;
  }
  const until = toMs(guard.holdUntil);
  const left = until === null ? null : until - Date.now();
  const holdText =
    until === null
      ? 'until the disagreement has persisted for the hold period'
      : left > 0
        ? `until ${fmtTime(until)} (in ${fmtDuration(left)})`
        : `until ${fmtTime(until)}: the hold is over, the next poll corrects whoever is still offline`;
  box.hidden = false;
  box.dataset.users = String(guard.readOffline);
  box.replaceChildren(
    h('strong', { class: 'alert-title', text: `Mass-disagreement guard holding ${fmtCount(guard.readOffline)} users ${holdText}` }),
    h('span', {
      text:
        ` · ${fmtCount(guard.readOffline)} of ${fmtCount(guard.believedOnline)} believed-online users read offline at once, with no offline webhooks, since ${fmtTime(guard.since)}. ` +
        'OpenIM is suspected (a slow or crashed gateway): nothing is corrected meanwhile; users still offline when the hold ends are corrected. ',
    }),
    h('span', { class: 'muted', text: `Mismatch #${guard.mismatchID} (suspect poll).` }),
  );
}

function renderApiBanner(apiState) {
  const box = $('api-banner');
  if (apiState?.state !== 'failing') {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.replaceChildren(h('strong', { class: 'alert-title', text: 'OpenIM status API failing' }), h('span', { text: ` · ${apiState.message} No decision is made for the users concerned until it answers again.` }));
}

function renderFacts(hl) {
  const facts = [];
  const mode = hl.mode === 'shadow' ? 'shadow' : 'active';
  facts.push(fact('Mode', pill(mode, mode === 'shadow' ? 'shadow' : 'webhook'), mode === 'shadow' ? 'corrections are recorded as mismatches, not published' : 'corrections are published to the stream'));
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

function platformLabel(platformID, platform) {
  if (platformID === null || platformID === undefined) return 'all platforms';
  return platform ? String(platform) : `platform ${platformID}`;
}

/** Users the poller covers, and the tracked users poll.excludeUsers keeps out (an admin user discovery listed). */
function polledUsersText(poll) {
  const polled = poll.polledUsers ?? poll.trackedUsers ?? 0;
  const excluded = poll.excludedUsers ?? 0;
  return `${fmtCount(polled)} users polled` + (excluded > 0 ? ` (${fmtCount(excluded)} more tracked but excluded by poll.excludeUsers)` : '');
}

/** Whether an entry has anything to show: an unknown one with transitions is "too few to judge". */
function entrySeen(e) {
  return e.byWebhook + e.byCorrection + e.receipts + (e.silentRenewals ?? 0) > 0 || e.state !== 'unknown';
}

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

function renderWebhookTable(wh) {
  const entries = Array.isArray(wh.entries) ? wh.entries : [];
  const byPlatform = new Map();
  for (const e of entries) {
    if (!entrySeen(e)) continue;
    const row = byPlatform.get(e.platformID) ?? { platformID: e.platformID, platform: e.platform, online: null, offline: null };
    row[e.command] = e;
    byPlatform.set(e.platformID, row);
  }
  const worst = (r) => Math.max(STATE_RANK[r.online?.state] ?? -1, STATE_RANK[r.offline?.state] ?? -1);
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
          dataset: { platformId: id, worst: ['unknown', 'healthy', 'degraded', 'silent'][Math.max(0, worst(r))] },
          title: 'Click for the details',
          attrs: { 'aria-expanded': expanded ? 'true' : 'false', tabindex: 0 },
          on: { click: toggle, keydown: (ev) => (ev.key === 'Enter' || ev.key === ' ') && (ev.preventDefault(), toggle()) },
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

function webhookDetail(r) {
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

// ---------------------------------------------------------------------------------------------------------------
// Charts (inline SVG)

let chartRange = '1h';
let lastTimeseries = null;

async function loadCharts() {
  let ts;
  try {
    ts = await api(`/v1/stats/timeseries?since=${encodeURIComponent(chartRange)}`);
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

/** Width in CSS pixels available to a chart, so that its text is drawn at its real size. */
function widthOf(el, fallback) {
  const w = Math.floor(el.clientWidth);
  return w > 200 ? w : fallback;
}

function renderCharts(ts) {
  const bucketMs = ts.bucketSeconds * 1000;
  const buckets = ts.buckets.map((b) => ({ t: toMs(b.t), raw: b }));
  const t0 = toMs(ts.since);
  const t1 = Math.max(toMs(ts.until), t0 + bucketMs);

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

function legendItem(label, color, count) {
  return h('span', {}, h('i', { class: 'swatch', color }), `${label} (${fmtCount(count)})`);
}

function niceMax(v) {
  if (v <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  const f = v / exp;
  const nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * exp;
}

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

/** Tick times between t0 and t1 at a round step, aligned to local time. */
function timeTicks(t0, t1, maxTicks) {
  const span = Math.max(1, t1 - t0);
  const step = TIME_STEPS.find((st) => span / st <= maxTicks) ?? TIME_STEPS[TIME_STEPS.length - 1];
  const offset = new Date(t0).getTimezoneOffset() * 60_000;
  const first = Math.ceil((t0 - offset) / step) * step + offset;
  const ticks = [];
  for (let t = first; t <= t1; t += step) ticks.push(t);
  return { ticks, step };
}

/** Centred tick labels, except near the right edge where they would be cut off. */
function edgeAnchor(px, width) {
  return px > width - 28 ? 'end' : 'middle';
}

function tickLabel(t, step) {
  const d = new Date(t);
  if (step >= 864e5) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (step >= 6e4) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return fmtClock(t);
}

function stackedBars({ width, t0, t1, bucketMs, series, buckets, empty, label }) {
  const W = width;
  const H = 180;
  const m = { l: 38, r: 10, t: 10, b: 24 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * pw;
  const totals = buckets.map((b) => series.reduce((n, se) => n + (b.values?.[se.key] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
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
    const parts = series.filter((se) => (b.values?.[se.key] ?? 0) > 0).map((se) => `${se.label} ${fmtCount(b.values[se.key])}`);
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

function setupCharts() {
  for (const btn of $('range-buttons').querySelectorAll('button')) {
    btn.addEventListener('click', () => {
      chartRange = btn.dataset.range;
      for (const b of $('range-buttons').querySelectorAll('button')) b.classList.toggle('active', b === btn);
      run('charts', loadCharts);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Mismatch table

// While the pointer is on the table, a row is open for review or an input in it has the focus, refreshes change
// rows in place (status) but add none: new rows wait behind the "N new" button, so nothing moves under the pointer.
const mismatchState = { rows: [], next: null, expanded: new Set(), pending: [], hover: false, forceNext: false };

function mismatchesPaused() {
  return mismatchState.hover || mismatchState.expanded.size > 0 || $('mismatch-table').contains(document.activeElement);
}

function mismatchQuery(limit, before) {
  const form = $('mismatch-filters');
  const params = new URLSearchParams();
  for (const name of ['kind', 'status', 'platform', 'user', 'since']) {
    const v = form.elements[name].value.trim();
    if (v) params.set(name, v);
  }
  params.set('limit', String(limit));
  if (before) params.set('before', String(before));
  return params;
}

/**
 * Loads the first page again (as many rows as are shown), or the next older page when `older`. A refresh while the
 * table is paused (see mismatchesPaused) keeps the rows where they are; `force` (the "N new" button) applies it.
 */
async function loadMismatches(older, force = false) {
  if (mismatchState.forceNext && !older) {
    mismatchState.forceNext = false;
    force = true;
  }
  const shown = mismatchState.rows.length;
  const limit = older ? MISMATCH_PAGE : Math.min(500, Math.max(MISMATCH_PAGE, shown));
  const params = mismatchQuery(limit, older ? mismatchState.next : null);
  let page;
  try {
    page = await api(`/v1/mismatches?${params.toString()}`);
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
    const tr = $('mismatch-rows').querySelector(`tr.mismatch-row[data-mismatch-id="${CSS.escape(String(m.id))}"]`);
    if (!tr || tr.dataset.status === m.status) continue;
    tr.replaceWith(mismatchRow(m, mismatchState.expanded.has(m.id)));
  }
}

/**
 * While the table is paused, what changes above it (health, charts, this section's head) must not move it either:
 * the area above may grow but not shrink, and growth is scrolled away, so the rows stay where the pointer is.
 */
const tableAnchor = { top: null };

function anchorMismatchTable() {
  const wrap = $('mismatch-table').closest('.table-wrap');
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

function happenedBetween(m) {
  const after = toMs(m.occurredAfter);
  const before = toMs(m.occurredBefore);
  if (after === null && before === null) return '—';
  if (after === null) return `before ${fmtTime(before)}`;
  if (before === null) return `after ${fmtTime(after)}`;
  return `${fmtTime(after)} – ${fmtTime(before)}`;
}

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
        click: (e) => {
          if (e.target.closest('a, button')) return;
          toggle();
        },
      },
    },
    h('td', { class: 'nowrap mono', text: String(m.id) }),
    h('td', { class: 'nowrap', text: fmtTime(m.detectedAt), title: isoTitle(m.detectedAt) }),
    h('td', {}, kindPill(m.kind)),
    h('td', { class: 'user-cell' }, userLink(m.userID)),
    h('td', { class: 'nowrap', text: platformLabel(m.platformID, m.platform) }),
    h('td', { class: 'nowrap', text: happenedBetween(m) }),
    h('td', { class: 'nowrap', text: m.lateByMs === null || m.lateByMs === undefined ? '—' : fmtDuration(m.lateByMs) }),
    h('td', { class: 'nowrap' }, pill(m.status, m.status), m.shadow ? [' ', pill('shadow', 'shadow', 'Recorded in shadow mode: nothing was published')] : null),
    actions,
  );
}

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
      const updated = await api(`/v1/mismatches/${encodeURIComponent(String(m.id))}/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(note ? { note } : {}),
      });
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

function setupMismatches() {
  const kindSel = $('filter-kind');
  for (const k of KINDS) kindSel.append(h('option', { value: k, text: KIND_INFO[k].label }));
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
  const wrap = $('mismatch-table').closest('.table-wrap');
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
    ro.observe($('mismatches').querySelector('.section-head'));
  }
  $('mismatch-new').addEventListener('click', () => {
    mismatchState.forceNext = true;
    run('mismatches', () => loadMismatches(false));
  });
  for (const el of form.querySelectorAll('select')) el.addEventListener('change', reload);
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

// ---------------------------------------------------------------------------------------------------------------
// Live events: SSE, falling back to long-polling the JSON page route

const live = { es: null, mode: 'off', lastSeq: 0, abort: null, generation: 0 };

function setLiveStatus(text, cls) {
  const el = $('live-status');
  el.textContent = text;
  el.className = `live-status ${cls}`;
}

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
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  $('live-empty').hidden = true;
  $('head-seq').textContent = `stream head #${fmtCount(ev.seq)}`;
  if (fresh) {
    soon('health', loadHealth, 800);
    soon('charts', loadCharts, 3000);
    if (ev.source === 'poll' || ev.mismatchID) soon('mismatches', () => loadMismatches(false), 800);
    if (currentView() === 'timeline' && timelineUser() === ev.userID) soon('timeline', loadTimeline, 800);
  }
}

async function startLive() {
  stopLive();
  const gen = ++live.generation;
  setLiveStatus('connecting…', '');
  try {
    const head = await api('/v1/events?after=0&limit=1');
    if (gen !== live.generation) return;
    const from = Math.max(0, head.head - FEED_BACKLOG);
    const backlog = from < head.head ? await api(`/v1/events?after=${from}&limit=${FEED_BACKLOG}`) : { events: [], next: from };
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

function openEventSource(gen) {
  if (typeof EventSource !== 'function') {
    longPoll(gen);
    return;
  }
  const params = new URLSearchParams({ after: String(live.lastSeq) });
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
      ev = JSON.parse(msg.data);
    } catch {
      return;
    }
    onLiveEvent(ev, true);
  });
  es.addEventListener('heartbeat', (msg) => {
    try {
      const data = JSON.parse(msg.data);
      const head = typeof data === 'number' ? data : data && typeof data.head === 'number' ? data.head : null;
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
      longPoll(gen, opened);
    } else {
      setLiveStatus('reconnecting…', 'down');
    }
  });
}

async function longPoll(gen, afterSse) {
  live.mode = 'poll';
  let wait = 20;
  let failures = 0;
  setLiveStatus('live (polling)', 'polling');
  while (gen === live.generation) {
    const ctrl = new AbortController();
    live.abort = ctrl;
    try {
      const page = await api(`/v1/events?after=${live.lastSeq}&wait=${wait}&limit=200`, { signal: ctrl.signal });
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
      if (gen !== live.generation || (err && err.name === 'AbortError') || err instanceof AuthRequired) return;
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

function stopLive() {
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// User timeline

function currentView() {
  return location.hash.startsWith('#/user/') ? 'timeline' : 'overview';
}

function timelineUser() {
  if (currentView() !== 'timeline') return null;
  try {
    return decodeURIComponent(location.hash.slice('#/user/'.length));
  } catch {
    return null;
  }
}

let lastTimeline = null;

async function loadTimeline() {
  const userID = timelineUser();
  if (userID === null || userID === '') {
    showError('timeline-error', 'This link does not name a user.');
    return;
  }
  $('timeline-user').textContent = userID;
  document.title = `${userID} · OpenIM presence reconciler`;
  const since = $('timeline-since').value;
  let tl;
  try {
    tl = await api(`/v1/users/${encodeURIComponent(userID)}/timeline?since=${encodeURIComponent(since)}`);
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
    windows.length > 0
      ? h('span', { class: 'legend-window' }, h('i', { class: 'swatch swatch-window', color: SOURCE_COLORS.poll }), `correction window: when a corrected change really happened (${fmtCount(windows.length)})`)
      : null,
    h('span', { class: 'muted', text: 'filled = online, hollow = offline' }),
  );
}

/**
 * The interval in which each correction really happened: from its occurredAfter (the last observation that agreed
 * with the old state) to its occurredBefore (the first poll that saw the new one). `open` when nothing earlier was
 * known: the bar then starts at the chart's left edge.
 */
function correctionWindows(items) {
  const out = [];
  for (const it of items) {
    if (it.kind !== 'event' || !it.details || it.details.source !== 'poll') continue;
    const b = toMs(it.details.occurredBefore) ?? toMs(it.at);
    if (b === null) continue;
    out.push({ a: toMs(it.details.occurredAfter), b });
  }
  return out;
}

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

/** Whether a timeline item means "online" (filled mark), "offline" (hollow) or neither. */
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

function timelineChart(items, since, width) {
  const W = width;
  const lane = 34;
  const m = { l: 92, r: 16, t: 8, b: 26 };
  const H = m.t + lane * TIMELINE_KINDS.length + m.b;
  const pw = W - m.l - m.r;
  const times = items.map((it) => toMs(it.at)).filter((t) => t !== null);
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
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * pw;
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
    const color = TIMELINE_KINDS[li].color;
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

function highlightTimelineItem(i) {
  for (const el of $('timeline-list').querySelectorAll('li.highlight')) el.classList.remove('highlight');
  const row = $(`tl-item-${i}`);
  if (!row) return;
  row.classList.add('highlight');
  row.scrollIntoView({ block: 'center', behavior: 'smooth' });
}

function setupTimeline() {
  $('timeline-since').addEventListener('change', () => run('timeline', loadTimeline));
  $('timeline-refresh').addEventListener('click', () => run('timeline', loadTimeline));
}

// ---------------------------------------------------------------------------------------------------------------
// Views and start

function showView() {
  const view = currentView();
  $('overview-view').hidden = view !== 'overview';
  $('timeline-view').hidden = view !== 'timeline';
  if (view === 'timeline') {
    $('timeline-list').replaceChildren();
    $('timeline-chart').replaceChildren();
    $('timeline-presence').replaceChildren();
    run('timeline', loadTimeline);
  } else {
    document.title = 'OpenIM presence reconciler';
    run('incidents', loadIncidents);
    run('charts', loadCharts);
    run('mismatches', () => loadMismatches(false));
  }
  window.scrollTo(0, 0);
}

/** Charts are drawn at the page's pixel size: draw them again when it changes. */
function setupResize() {
  let pending;
  let lastWidth = window.innerWidth;
  window.addEventListener('resize', () => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    clearTimeout(pending);
    pending = setTimeout(() => {
      if (currentView() === 'overview' && lastTimeseries) renderCharts(lastTimeseries);
      if (currentView() === 'timeline' && lastTimeline && lastTimeline.userID === timelineUser()) {
        $('timeline-chart').replaceChildren(timelineChart(lastTimeline.items ?? [], toMs(lastTimeline.since), widthOf($('timeline-chart'), 960)));
      }
    }, 150);
  });
}

function start() {
  setupAuth();
  setupResize();
  setupCharts();
  setupMismatches();
  setupTimeline();
  window.addEventListener('hashchange', showView);
  run('health', loadHealth);
  showView();
  startLive();
  setInterval(() => $('auth-panel').hidden && run('health', loadHealth), HEALTH_EVERY_MS);
  setInterval(() => $('auth-panel').hidden && currentView() === 'overview' && run('charts', loadCharts), CHARTS_EVERY_MS);
  setInterval(() => $('auth-panel').hidden && currentView() === 'overview' && run('mismatches', () => loadMismatches(false)), MISMATCHES_EVERY_MS);
  setInterval(() => $('auth-panel').hidden && currentView() === 'overview' && run('incidents', loadIncidents), INCIDENTS_EVERY_MS);
}

start();
