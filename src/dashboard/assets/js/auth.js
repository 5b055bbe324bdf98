// @ts-check
// The token panel: shown when the daemon asks for a bearer token; the token is kept for the tab only.

import { currentToken, forgetToken, onTokenRefused, setToken } from './api.js';
import { $ } from './dom.js';
import { startLive, stopLive } from './live.js';

/** @returns {HTMLInputElement} */
const tokenInput = () => /** @type {HTMLInputElement} */ ($('auth-token'));

/**
 * Forgets the token, stops the live feed and shows the panel (with `reason`, when there is one).
 * @param {string} reason
 */
function askForToken(reason) {
  if (currentToken()) forgetToken();
  stopLive();
  const err = $('auth-error');
  if (reason || $('auth-panel').hidden) {
    err.textContent = reason;
    err.hidden = !reason;
  }
  $('forget-token').hidden = true;
  if ($('auth-panel').hidden) {
    $('auth-panel').hidden = false;
    tokenInput().value = '';
    tokenInput().focus();
  }
}

/**
 * Wires the token form and the "forget token" button; `refreshAll` reloads what the page shows.
 * @param {() => void} refreshAll
 */
export function setupAuth(refreshAll) {
  onTokenRefused(askForToken);
  $('auth-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = tokenInput().value.trim();
    if (!value) return;
    setToken(value);
    $('auth-panel').hidden = true;
    $('forget-token').hidden = false;
    refreshAll();
    void startLive();
  });
  $('forget-token').hidden = !currentToken();
  $('forget-token').addEventListener('click', () => {
    forgetToken();
    $('forget-token').hidden = true;
    stopLive();
    refreshAll();
    void startLive();
  });
}
