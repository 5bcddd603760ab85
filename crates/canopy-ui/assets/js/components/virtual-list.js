// A windowed list: only the rows in view (plus a few either side) exist in the DOM, so a
// session of 10,000 calls scrolls as lightly as one of ten. Rows share one height, which the
// owner may change (a phone lays rows out in two lines).

import { h } from '../dom.js';

/**
 * Creates the list. `renderRow(i)` builds row `i`; it is called again only after the row left
 * the window or after `refresh()`. `maxHeight()`, when given, caps the list's height (in pixels);
 * a shorter list takes its rows' height. `onPaint()` runs after every paint. Returns the
 * scrolling element and the list's controls.
 */
export function virtualList({ rowHeight, renderRow, maxHeight, onPaint, overscan = 8, className = '', label = '', role = null }) {
  const canvas = h('div', { class: 'vl-canvas', role: role ? 'presentation' : null });
  const element = h('div', { class: ['vl', className], 'aria-label': label || null, role }, canvas);
  const rendered = new Map();
  let count = 0;
  let frame = 0;

  function paint() {
    if (frame) cancelAnimationFrame(frame);
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
    if (onPaint) onPaint();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(paint);
  }

  function size() {
    canvas.style.height = `${count * rowHeight}px`;
    // A short list is as tall as its rows; a long one scrolls within `maxHeight`.
    if (maxHeight) element.style.height = `${Math.max(rowHeight, Math.min(count * rowHeight, maxHeight()))}px`;
  }

  element.addEventListener('scroll', schedule, { passive: true });
  const resize = new ResizeObserver(schedule);
  resize.observe(element);

  return {
    element,
    /** Sets the number of rows and repaints every row. */
    setCount(n) {
      count = n;
      size();
      this.refresh();
    },
    /** Sets the rows' height (in pixels) and repaints every row. */
    setRowHeight(px) {
      if (px === rowHeight) return;
      const first = Math.floor(element.scrollTop / rowHeight);
      rowHeight = px;
      size();
      element.scrollTop = first * rowHeight;
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
