// The session's timeline: a Gantt chart with one bar per call, offset from the session's start,
// as wide as the call took, coloured by path. Rows are windowed, so 10,000 calls stay light.

import { h } from '../dom.js';
import { virtualList } from './virtual-list.js';
import { showTip, showTipAt, hideTip } from './tooltip.js';
import * as fmt from '../format.js';

const ROW_HEIGHT = 22;

/** A round step for about `ticks` axis ticks over `span` milliseconds. */
function tickStep(span, ticks = 6) {
  const raw = Math.max(span / ticks, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  return step;
}

function tipContent(entry) {
  return [
    h('div', { class: 'tip-title', text: entry.path }),
    h('dl', { class: 'tip-grid' },
      h('dt', { text: 'Status' }), h('dd', { text: fmt.status(entry.status) }),
      h('dt', { text: entry.kind === 'llm' ? 'Model' : 'Step' }), h('dd', { text: entry.model || entry.kind }),
      h('dt', { text: 'Starts at' }), h('dd', { text: `+${fmt.ms(entry.offset_ms)}` }),
      h('dt', { text: 'Duration' }), h('dd', { text: fmt.ms(entry.duration_ms) }),
      h('dt', { text: 'Cost' }), h('dd', { text: fmt.money(entry.cost) })),
    h('div', { class: 'muted small mono', text: entry.request_id }),
  ];
}

/**
 * Builds the chart for `entries` (the API's `timeline`) over `spanMs`. `onSelect(id)` is called
 * when a bar is clicked. Returns the element and `select(id)` to mark and reveal one call.
 */
export function timeline({ entries, spanMs, colors, onSelect }) {
  const span = Math.max(spanMs, ...entries.map((e) => e.offset_ms + e.duration_ms), 1);
  const index = new Map(entries.map((e, i) => [e.request_id, i]));
  let selected = null;

  // The visible window of time; dragging across the axis or the zoom buttons narrow it.
  const view = { from: 0, to: span };
  const width = () => view.to - view.from;
  const at = (t) => `${((t - view.from) / width()) * 100}%`;

  const ticks = h('div', { class: 'tl-ticks' });
  const grid = h('div', { class: 'tl-grid', 'aria-hidden': 'true' });
  const brush = h('div', { class: 'tl-brush', hidden: true });
  ticks.append(brush);
  const axis = h('div', { class: 'tl-axis', title: 'Drag across the axis to zoom into that stretch of time' },
    h('div', { class: 'tl-label muted', text: 'drag to zoom →' }), ticks);

  function drawAxis() {
    for (const old of ticks.querySelectorAll('.tl-tick')) old.remove();
    grid.replaceChildren();
    const step = tickStep(width());
    for (let t = Math.ceil(view.from / step) * step; t <= view.to + 1e-9; t += step) {
      // A tick at the window's left edge is not centred on it, so that its label stays whole.
      const tick = h('span', { class: ['tl-tick', t - view.from < width() * 0.02 ? 'edge' : ''], text: fmt.ms(t) });
      tick.style.left = at(t);
      ticks.append(tick);
      const line = h('span', { class: 'tl-line' });
      line.style.left = at(t);
      grid.append(line);
    }
  }

  const list = virtualList({
    rowHeight: ROW_HEIGHT,
    maxHeight: () => Math.min(340, window.innerHeight * 0.5),
    className: 'tl-rows',
    label: 'Calls in start order',
    renderRow(i) {
      const e = entries[i];
      const bar = h('button', {
        type: 'button',
        class: ['tl-bar', fmt.failed(e.status) ? 'err' : ''],
        'aria-label': `${e.path}: ${e.model || e.kind}, ${fmt.ms(e.duration_ms)} from +${fmt.ms(e.offset_ms)}, status ${fmt.status(e.status)}`,
        dataset: { requestId: e.request_id, test: 'timeline-bar' },
        onclick: () => onSelect(e.request_id),
        onpointermove: (ev) => showTip(tipContent(e), ev.clientX, ev.clientY),
        onpointerleave: hideTip,
        onfocus: (ev) => showTipAt(tipContent(e), ev.currentTarget),
        onblur: hideTip,
      });
      bar.style.left = at(e.offset_ms);
      bar.style.width = `max(3px, ${(e.duration_ms / width()) * 100}%)`;
      bar.style.background = colors.get(e.path) || 'var(--accent)';
      return h('div', { class: ['tl-row', e.request_id === selected ? 'selected' : ''], dataset: { row: 'timeline', requestId: e.request_id } },
        h('div', { class: 'tl-label', title: e.path },
          h('span', { class: 'tl-path', text: e.path }),
          h('span', { class: 'muted', text: e.kind === 'llm' ? (e.model || '') : e.kind })),
        h('div', { class: 'tl-track' }, bar));
    },
  });
  list.setCount(entries.length);

  const reset = h('button', { type: 'button', class: 'small', hidden: true, dataset: { test: 'zoom-reset' }, onclick: () => zoom(0, span) }, 'Show all');
  const zoomBy = (factor) => {
    const centre = selected && index.has(selected)
      ? entries[index.get(selected)].offset_ms + entries[index.get(selected)].duration_ms / 2
      : (view.from + view.to) / 2;
    const half = (width() * factor) / 2;
    zoom(centre - half, centre + half);
  };
  const range = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const tools = h('div', { class: 'row tl-tools' }, range,
    h('button', { type: 'button', class: 'small', 'aria-label': 'Zoom in', dataset: { test: 'zoom-in' }, onclick: () => zoomBy(0.5) }, '+'),
    h('button', { type: 'button', class: 'small', 'aria-label': 'Zoom out', onclick: () => zoomBy(2) }, '−'),
    reset);

  /** Shows the time from `from` to `to` (milliseconds from the start), within the session. */
  function zoom(from, to) {
    const w = Math.max(to - from, Math.min(span, 1));
    view.from = Math.max(0, Math.min(from, span - w));
    view.to = Math.min(span, view.from + w);
    const all = view.from <= 0 && view.to >= span;
    reset.hidden = all;
    range.textContent = all ? '' : `+${fmt.ms(view.from)} to +${fmt.ms(view.to)}`;
    drawAxis();
    list.refresh();
    // Bring the first call that reaches into the window into view.
    if (!all) {
      let lo = 0;
      let hi = entries.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (entries[mid].offset_ms < view.from) lo = mid + 1;
        else hi = mid;
      }
      while (lo > 0 && entries[lo - 1].offset_ms + entries[lo - 1].duration_ms >= view.from) lo -= 1;
      if (lo < entries.length) list.element.scrollTop = lo * ROW_HEIGHT;
    }
  }

  // Dragging across the axis selects the stretch to zoom into.
  let dragFrom = null;
  const timeAt = (x) => {
    const r = ticks.getBoundingClientRect();
    return view.from + Math.min(1, Math.max(0, (x - r.left) / r.width)) * width();
  };
  ticks.addEventListener('pointerdown', (e) => {
    dragFrom = e.clientX;
    ticks.setPointerCapture(e.pointerId);
    brush.hidden = false;
    brush.style.left = `${e.clientX - ticks.getBoundingClientRect().left}px`;
    brush.style.width = '0px';
  });
  ticks.addEventListener('pointermove', (e) => {
    if (dragFrom === null) return;
    const left = ticks.getBoundingClientRect().left;
    brush.style.left = `${Math.min(dragFrom, e.clientX) - left}px`;
    brush.style.width = `${Math.abs(e.clientX - dragFrom)}px`;
  });
  ticks.addEventListener('pointerup', (e) => {
    if (dragFrom === null) return;
    brush.hidden = true;
    const [a, b] = [dragFrom, e.clientX].sort((x, y) => x - y);
    dragFrom = null;
    if (b - a > 4) zoom(timeAt(a), timeAt(b));
  });

  const element = h('div', { class: 'timeline', dataset: { test: 'timeline' } }, axis, h('div', { class: 'tl-body' }, grid, list.element));
  drawAxis();
  return {
    element,
    tools,
    select(id) {
      selected = id;
      for (const row of list.rows()) row.classList.toggle('selected', row.dataset.requestId === id);
      const i = index.get(id);
      if (i !== undefined) list.scrollToIndex(i, { center: false });
    },
    destroy() {
      list.destroy();
      hideTip();
    },
  };
}

/** The legend of path colours, with at most `max` entries listed. */
export function legend(colors, max = 14) {
  const items = [...colors.entries()];
  return h('ul', { class: 'legend', 'aria-label': 'Path colours' },
    items.slice(0, max).map(([path, color]) => {
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = color;
      return h('li', {}, swatch, path);
    }),
    items.length > max ? h('li', { class: 'muted', text: `+${items.length - max} more paths` }) : null);
}
