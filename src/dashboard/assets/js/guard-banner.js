// @ts-check
// The mass-disagreement guard banner, while the guard holds: how many users, since and until when.

/** @import { PollHealth } from './types.js' */

import { $, h } from './dom.js';
import { fmtCount, fmtDuration, fmtTime, toMs } from './format.js';

/** @param {PollHealth} poll */
export function renderGuard(poll) {
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
      : /** @type {number} */ (left) > 0
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
