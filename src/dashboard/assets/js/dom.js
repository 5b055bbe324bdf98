// @ts-check
// DOM helpers: the only way the dashboard creates elements. Every string that comes from the API is put in the page
// with textContent or as an attribute value set through the DOM; nothing is ever parsed as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Options of `h`: class, text, title, href, dataset, attrs (static names), on (event handlers), color (background);
 * any other key is set as the element's property of that name. `undefined`, `null` and `false` values are skipped.
 * @typedef {{
 *   class?: string,
 *   text?: unknown,
 *   title?: string,
 *   href?: string,
 *   dataset?: Record<string, string>,
 *   attrs?: Record<string, string | number | boolean>,
 *   on?: Record<string, (ev: any) => unknown>,
 *   color?: string,
 *   [property: string]: unknown,
 * }} Props
 */

/** @typedef {Node | string | number | boolean | null | undefined} Leaf */
/** A child of `h` or `s`: a node, text, nothing (`null`, `undefined`, `false`), or an array of those. */
/** @typedef {Leaf | Leaf[]} Child */

/**
 * Creates an HTML element. `props`: see `Props`.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

/**
 * Creates an SVG element; `attrs` are set with setAttribute (values are never parsed as markup).
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...Child} children
 * @returns {SVGElementTagNameMap[K]}
 */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {Props} props
 */
function applyProps(el, props) {
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = /** @type {string} */ (v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'title') el.title = String(v);
    else if (k === 'href') el.setAttribute('href', /** @type {string} */ (v));
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'attrs') for (const [a, av] of Object.entries(/** @type {Record<string, unknown>} */ (v))) el.setAttribute(a, String(av));
    else if (k === 'on') for (const [ev, fn] of Object.entries(/** @type {Record<string, EventListener>} */ (v))) el.addEventListener(ev, fn);
    else if (k === 'color') el.style.backgroundColor = /** @type {string} */ (v);
    else /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el))[k] = v;
  }
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/**
 * The page's element of that id (the page has them all: index.html).
 * @param {string} id
 * @returns {HTMLElement}
 */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * Text with `code` spans (as the daemon's messages mark setting names) as nodes: the backticks are not shown.
 * @param {string | null | undefined} text
 * @returns {(string | HTMLElement)[]}
 */
export function withCode(text) {
  const parts = String(text ?? '').split('`');
  return parts.map((p, i) => (i % 2 === 1 ? h('code', { text: p }) : p)).filter((p) => p !== '');
}

/**
 * Says what went wrong in one of the page's error lines, or hides it (`null`).
 * @param {string} id
 * @param {string | null} text
 */
export function showError(id, text) {
  const line = $(id);
  line.textContent = text ?? '';
  line.hidden = text === null;
}
