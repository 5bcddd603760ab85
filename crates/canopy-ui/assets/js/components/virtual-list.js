// A windowed list: only the rows in view (plus a few either side) exist in the DOM, so a
// session of 10,000 calls scrolls as lightly as one of ten. Rows have one fixed height.

import { h } from '../dom.js';

/**
 * Creates the list. `renderRow(i)` builds row `i`; it is called again only after the row left
 * the window or after `refresh()`. `maxHeight()`, when given, caps the list's height (in pixels);
 * a shorter list takes its rows' height. Returns the scrolling element and the list's controls.
 */
export function virtualList({ rowHeight, renderRow, maxHeight, overscan = 8, className = '', label = '' }) {
  const canvas = h('div', { class: 'vl-canvas' });
  const element = h('div', { class: ['vl', className], 'aria-label': label || null }, canvas);
  const rendered = new Map();
  let count = 0;
  let frame = 0;

  function paint() {
    frame = 0;
    const height = element.clientHeight || 640;
    const top = element.scrollTop;
    const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
    const last = Math.min(count - 1, Math.ceil((top + height) / rowHeight) + overscan);
    for (const [i, row] of rendered) {
      if (i < first || i > last) {
        row.remove();
        rendered.delete(i);
      }
    }
    for (let i = first; i <= last; i++) {
      if (rendered.has(i)) continue;
      const row = renderRow(i);
      row.dataset.index = String(i);
      row.style.top = `${i * rowHeight}px`;
      row.style.height = `${rowHeight}px`;
      // Rows stay in index order in the DOM, so assistive technology reads them in order.
      let before = null;
      for (const [j, other] of rendered) {
        if (j > i && (!before || j < Number(before.dataset.index))) before = other;
      }
      canvas.insertBefore(row, before);
      rendered.set(i, row);
    }
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(paint);
  }

  element.addEventListener('scroll', schedule, { passive: true });
  const resize = new ResizeObserver(schedule);
  resize.observe(element);

  return {
    element,
    /** Sets the number of rows and repaints every row. */
    setCount(n) {
      count = n;
      canvas.style.height = `${n * rowHeight}px`;
      // A short list is as tall as its rows; a long one scrolls within `maxHeight`.
      if (maxHeight) element.style.height = `${Math.max(rowHeight, Math.min(n * rowHeight, maxHeight()))}px`;
      this.refresh();
    },
    /** Rebuilds the rows in view (after the data behind them changed). */
    refresh() {
      for (const row of rendered.values()) row.remove();
      rendered.clear();
      paint();
    },
    /** Scrolls as little as needed to show row `i`, and paints at once. */
    scrollToIndex(i, { center = false } = {}) {
      const top = i * rowHeight;
      const height = element.clientHeight;
      if (center) element.scrollTop = Math.max(0, top - height / 2 + rowHeight / 2);
      else if (top < element.scrollTop) element.scrollTop = top;
      else if (top + rowHeight > element.scrollTop + height) element.scrollTop = top + rowHeight - height;
      paint();
    },
    /** Row `i`'s element, when it is in the window. */
    row(i) {
      return rendered.get(i) || null;
    },
    /** Every row element in the window. */
    rows() {
      return [...rendered.values()];
    },
    destroy() {
      resize.disconnect();
      if (frame) cancelAnimationFrame(frame);
    },
  };
}
