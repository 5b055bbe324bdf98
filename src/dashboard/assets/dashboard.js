// @ts-check
// Operator dashboard of the presence reconciler: health, charts, incidents, mismatches, live events and user
// timelines. Plain ES modules (js/), no dependencies, no build step: this is the page's entry module. Every string
// that comes from the API is put in the page with textContent or as an attribute value set through the DOM
// (js/dom.js); nothing is ever parsed as HTML.

import { setupAuth } from './js/auth.js';
import { loadCharts, redrawCharts, setupCharts } from './js/charts.js';
import { $ } from './js/dom.js';
import { loadHealth } from './js/glance.js';
import { loadIncidents } from './js/incidents.js';
import { startLive } from './js/live.js';
import { loadMismatches, setupMismatches } from './js/mismatches.js';
import { run } from './js/refresh.js';
import { currentView } from './js/route.js';
import { clearTimeline, loadTimeline, redrawTimeline, setupTimeline } from './js/timeline.js';

const HEALTH_EVERY_MS = 5_000;
const CHARTS_EVERY_MS = 30_000;
const MISMATCHES_EVERY_MS = 20_000;
const INCIDENTS_EVERY_MS = 10_000;

/** Reloads everything the current view shows (after the token changed). */
function refreshAll() {
  run('health', loadHealth);
  if (currentView() === 'timeline') run('timeline', loadTimeline);
  else {
    run('incidents', loadIncidents);
    run('charts', loadCharts);
    run('mismatches', () => loadMismatches(false));
  }
}

/** Shows the view the address names (`#/user/<userID>`: that user's timeline; else the overview) and loads it. */
function showView() {
  const view = currentView();
  $('overview-view').hidden = view !== 'overview';
  $('timeline-view').hidden = view !== 'timeline';
  if (view === 'timeline') {
    clearTimeline();
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
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pending;
  let lastWidth = window.innerWidth;
  window.addEventListener('resize', () => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    clearTimeout(pending);
    pending = setTimeout(() => {
      if (currentView() === 'overview') redrawCharts();
      if (currentView() === 'timeline') redrawTimeline();
    }, 150);
  });
}

function start() {
  setupAuth(refreshAll);
  setupResize();
  setupCharts();
  setupMismatches();
  setupTimeline();
  window.addEventListener('hashchange', showView);
  run('health', loadHealth);
  showView();
  void startLive();
  setInterval(() => $('auth-panel').hidden && run('health', loadHealth), HEALTH_EVERY_MS);
  setInterval(() => $('auth-panel').hidden && currentView() === 'overview' && run('charts', loadCharts), CHARTS_EVERY_MS);
  setInterval(() => $('auth-panel').hidden && currentView() === 'overview' && run('mismatches', () => loadMismatches(false)), MISMATCHES_EVERY_MS);
  setInterval(() => $('auth-panel').hidden && currentView() === 'overview' && run('incidents', loadIncidents), INCIDENTS_EVERY_MS);
}

start();
