// @ts-check
// What the dashboard calls things and in which colour: mismatch kinds, platforms, sources, and the small pills and
// links that show them.

import { h } from './dom.js';
import { fmtCount } from './format.js';

/** @typedef {{ label: string, color: string, help: string }} KindInfo */

export const KINDS = /** @type {const} */ (['missed_online', 'missed_offline', 'late_webhook', 'transient', 'suspect_poll', 'initial_sync']);

/** @type {Readonly<Record<string, KindInfo | undefined>>} */
export const KIND_INFO = {
  missed_online: { label: 'missed online', color: '#7c3aed', help: 'No online webhook came; a poll found the user online and the stream was corrected.' },
  missed_offline: { label: 'missed offline', color: '#dc2626', help: 'No offline webhook came; a poll found the user offline and the stream was corrected.' },
  late_webhook: { label: 'late webhook', color: '#d97706', help: 'The webhook arrived after the correction had already been made.' },
  transient: { label: 'transient', color: '#64748b', help: 'A poll disagreed, then agreed again: nothing was corrected.' },
  suspect_poll: { label: 'suspect poll', color: '#0891b2', help: 'Mass-disagreement guard: the poll itself was suspected wrong.' },
  initial_sync: { label: 'initial sync', color: '#65a30d', help: 'Online before the daemon first started: learned by the first polls, not a lost webhook.' },
};

export const PLATFORMS = ['IOS', 'Android', 'Windows', 'OSX', 'Web', 'MiniWeb', 'Linux', 'APad', 'IPad', 'Admin', 'HarmonyOS'];

export const SOURCE_COLORS = { webhook: '#2f6fe4', poll: '#ea6c12' };

/**
 * @param {string} text
 * @param {string} variant
 * @param {string} [title]
 */
export function pill(text, variant, title) {
  return h('span', { class: `pill pill-${variant}`, text, title });
}

/** @param {string} kind */
export function kindPill(kind) {
  const info = KIND_INFO[kind] ?? { label: kind, color: '#64748b', help: '' };
  return h('span', { class: 'pill pill-kind', text: info.label, title: info.help, color: info.color });
}

/** @param {string} userID */
export function userLink(userID) {
  return h('a', { href: `#/user/${encodeURIComponent(userID)}`, text: userID, class: 'user-link', title: `Timeline of ${userID}` });
}

/**
 * @param {string} label
 * @param {string} color
 * @param {number} count
 */
export function legendItem(label, color, count) {
  return h('span', {}, h('i', { class: 'swatch', color }), `${label} (${fmtCount(count)})`);
}
