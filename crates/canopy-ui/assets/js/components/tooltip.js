// One floating tooltip for the whole page, placed beside the pointer or the focused element.

import { h, replace } from '../dom.js';

let tip = null;

function element() {
  if (!tip) {
    tip = h('div', { class: 'tooltip', role: 'tooltip', hidden: true, dataset: { test: 'tooltip' } });
    document.body.append(tip);
  }
  return tip;
}

/** Shows `content` (nodes) near the point (x, y) in viewport coordinates. */
export function showTip(content, x, y) {
  const el = element();
  replace(el, content);
  el.hidden = false;
  const { width, height } = el.getBoundingClientRect();
  const left = Math.min(x + 14, window.innerWidth - width - 8);
  const top = y + 16 + height > window.innerHeight ? y - height - 12 : y + 16;
  el.style.left = `${Math.max(8, left)}px`;
  el.style.top = `${Math.max(8, top)}px`;
}

/** Shows `content` under `target`. */
export function showTipAt(content, target) {
  const r = target.getBoundingClientRect();
  showTip(content, r.left, r.bottom - 8);
}

/** Hides the tooltip. */
export function hideTip() {
  if (tip) tip.hidden = true;
}
