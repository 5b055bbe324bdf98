// @ts-check
// Refresh scheduling: each part of the page reloads at most once at a time, and requests made meanwhile coalesce.

import { AuthRequired } from './api.js';
import { $ } from './dom.js';
import { fmtClock } from './format.js';

/** @type {Map<string, ReturnType<typeof setTimeout>>} */
const timers = new Map();

/** @type {Map<string, { again: boolean }>} */
const running = new Map();

/**
 * Runs `fn` now if idle (once more afterwards if asked while running).
 * @param {string} name
 * @param {() => unknown} fn
 */
export function run(name, fn) {
  const state = running.get(name);
  if (state) {
    state.again = true;
    return;
  }
  const st = { again: false };
  running.set(name, st);
  Promise.resolve()
    .then(fn)
    .catch((/** @type {unknown} */ err) => {
      if (!(err instanceof AuthRequired)) console.warn(`${name} refresh failed`, err);
    })
    .finally(() => {
      running.delete(name);
      if (st.again) run(name, fn);
    });
}

/**
 * Runs `fn` after `delayMs`, coalescing requests made in the meantime.
 * @param {string} name
 * @param {() => unknown} fn
 * @param {number} delayMs
 */
export function soon(name, fn, delayMs) {
  if (timers.has(name)) return;
  timers.set(
    name,
    setTimeout(() => {
      timers.delete(name);
      run(name, fn);
    }, delayMs),
  );
}

export function markUpdated() {
  $('updated').textContent = `updated ${fmtClock(Date.now())}`;
}
