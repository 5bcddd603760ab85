// The session's trace: the tree the server built on the left, and each row's bar on the right,
// on one time axis. A path node's bar spans its calls; a call's bar is the call. Collapsing a
// node hides its rows and so its bars. Rows are windowed, so 10,000 calls stay light.
//
// Keyboard and screen readers: the rows are one `tree` with `treeitem`s (level, expanded state,
// position among siblings). The tree is one Tab stop (a roving tabindex); the arrow keys, Home
// and End move inside it, Right and Left open and close nodes, Enter opens a call.
//
// Trace links: the rows stay laid out by path (what Helicone's headers say), and a call that was
// made under another call or step of the session (its `parent_request_id`, from W3C trace
// context) shows a small ↳ and says so to screen readers; while a call is open, its parent's
// and its children's rows are marked. Jaeger and Langfuse users read this as the span's parent.
//
// What must not go here: the call's detail (components/detail.js) or the page's layout.

import { h } from '../dom.js';
import { virtualList } from './virtual-list.js';
import { showTip, hideTip } from './tooltip.js';
import * as fmt from '../format.js';

// One line per row on a wide screen; two (the name, then the bar) on a phone.
const ROW_HEIGHT = 28;
const ROW_HEIGHT_PHONE = 46;
const PHONE = '(max-width: 640px)';
// Nodes open by default while the rows they show stay under this count.
const OPEN_BUDGET = 400;

/** A round step for about `ticks` axis ticks over `span` milliseconds. */
function tickStep(span, ticks) {
  const raw = Math.max(span / ticks, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
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

/** What a call is called in its row: its model, or its kind and tool. */
export function callLabel(call, entry) {
  const kind = call.kind || entry?.kind;
  const model = call.model || entry?.model;
  return kind && kind !== 'llm' ? `${kind}: ${model || ''}` : (model || 'unknown model');
}

/**
 * Builds the trace of `root` (the API's `tree`) with `entries` (its `timeline`) over `spanMs`.
 * `requests` maps call ids to rows; `parents` maps a call id to the id of the call it was made
 * under; `onSelect(id)` is called when a call is opened.
 */
export function traceView({ root, entries, requests, parents = new Map(), spanMs, colors, onSelect }) {
  const span = Math.max(spanMs, ...entries.map((e) => e.offset_ms + e.duration_ms), 1);
  const byId = new Map(entries.map((e) => [e.request_id, e]));
  // How a call relates to the open one: 'parent', 'child' or ''.
  const relation = (id) => {
    if (!selected || id === selected) return '';
    if (parents.get(selected) === id) return 'parent';
    return parents.get(id) === selected ? 'child' : '';
  };
  const errors = entries.filter((e) => fmt.failed(e.status))
    .sort((a, b) => a.offset_ms - b.offset_ms || (a.request_id < b.request_id ? -1 : 1));

  // Per node: its children in start order, the parent, and the stretch of time its calls cover.
  const kids = new Map();
  const parentOf = new Map();
  const extent = new Map();
  // Nodes with at least one priced call; the others show no cost ("—"), as their calls do.
  const priced = new Set();
  const index = (node) => {
    let from = Infinity;
    let to = -Infinity;
    const items = [];
    for (const child of node.children) {
      parentOf.set(child, node);
      const [a, b] = index(child);
      from = Math.min(from, a);
      to = Math.max(to, b);
      items.push({ kind: 'node', node: child, at: a });
      if (priced.has(child)) priced.add(node);
    }
    for (const id of node.request_ids) {
      parentOf.set(id, node);
      const cost = requests.get(id)?.cost;
      if (cost !== null && cost !== undefined) priced.add(node);
      const e = byId.get(id);
      const a = e ? e.offset_ms : 0;
      from = Math.min(from, a);
      to = Math.max(to, e ? a + e.duration_ms : a);
      items.push({ kind: 'call', id, at: a });
    }
    items.sort((x, y) => x.at - y.at);
    kids.set(node, items);
    extent.set(node, [from, to]);
    return [from, to];
  };
  index(root);

  const open = new Set();
  let budget = OPEN_BUDGET - 1;
  for (const queue = [root]; queue.length;) {
    const node = queue.shift();
    const items = kids.get(node);
    if (node !== root && items.length > budget) continue;
    budget -= items.length;
    open.add(node);
    for (const item of items) if (item.kind === 'node') queue.push(item.node);
  }

  // The filter: text in a call's path or model, and failed calls only.
  const filter = { text: '', errorsOnly: false };
  const active = () => filter.text !== '' || filter.errorsOnly;
  const callMatches = (id) => {
    const e = byId.get(id);
    const call = requests.get(id) || {};
    if (filter.errorsOnly && !fmt.failed(e ? e.status : call.response_status)) return false;
    if (!filter.text) return true;
    const hay = `${e ? e.path : ''} ${callLabel(call, e)}`.toLowerCase();
    return hay.includes(filter.text);
  };
  // Nodes with a matching call below them, computed when the filter changes.
  let shown = null;
  function applyFilter() {
    if (!active()) {
      shown = null;
      return;
    }
    shown = new Set();
    const walk = (node) => {
      let any = false;
      for (const item of kids.get(node)) {
        if (item.kind === 'node' ? walk(item.node) : callMatches(item.id)) any = true;
      }
      if (any) {
        shown.add(node);
        open.add(node);
      }
      return any;
    };
    walk(root);
    shown.add(root);
  }

  let rows = [];
  let selected = null;
  // The row that holds the tree's one Tab stop, by key (`n:<path>` or `c:<id>`).
  let current = 'n:/';
  const keyOf = (row) => (row.kind === 'node' ? `n:${row.node.path}` : `c:${row.id}`);

  function flatten() {
    const out = [];
    const walk = (node, level, parent, pos, size) => {
      const at = out.length;
      out.push({ kind: 'node', node, level, parent, pos, size });
      if (!open.has(node)) return;
      const items = kids.get(node).filter((item) => (item.kind === 'node'
        ? !shown || shown.has(item.node)
        : !shown || callMatches(item.id)));
      items.forEach((item, i) => {
        if (item.kind === 'node') walk(item.node, level + 1, at, i + 1, items.length);
        else out.push({ kind: 'call', id: item.id, level: level + 1, parent: at, pos: i + 1, size: items.length });
      });
    };
    walk(root, 1, -1, 1, 1);
    rows = out;
    if (!rows.some((r) => keyOf(r) === current)) current = 'n:/';
  }

  // The visible window of time; dragging across the axis or the zoom buttons narrow it.
  const view = { from: 0, to: span };
  const width = () => view.to - view.from;
  const at = (t) => `${((t - view.from) / width()) * 100}%`;

  function bar(from, duration, color, props) {
    const el = h('span', props);
    el.style.left = at(from);
    el.style.width = `max(3px, ${(duration / width()) * 100}%)`;
    el.style.background = color;
    return el;
  }

  const indent = (level) => {
    const pad = h('span', { class: 'indent' });
    pad.style.width = `calc(${level - 1} * var(--indent))`;
    return pad;
  };

  function treeitem(row, props, ...children) {
    const key = keyOf(row);
    return h('div', {
      role: 'treeitem',
      'aria-level': String(row.level),
      'aria-posinset': String(row.pos),
      'aria-setsize': String(row.size),
      tabindex: key === current ? '0' : '-1',
      ...props,
    }, ...children);
  }

  function nodeRow(row) {
    const { node } = row;
    const r = node.rollup;
    const expanded = open.has(node);
    const [from, to] = extent.get(node);
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = colors.get(node.path) || 'var(--muted)';
    const name = node === root ? 'Session' : node.name;
    const calls = `${fmt.int(r.requests)} ${r.requests === 1 ? 'call' : 'calls'}`;
    const cost = priced.has(node) ? fmt.money(r.cost) : '—';
    return treeitem(row, {
      class: 'tr-row node',
      'aria-expanded': String(expanded),
      'aria-label': `${name}, ${calls}${r.errors ? `, ${r.errors} failed` : ''}, cost ${cost}, ${fmt.ms(r.span_ms)}`,
      dataset: { row: 'tree', kind: 'node', path: node.path },
      title: node.path,
      onclick: () => { setCurrent(row); toggle(node); },
    },
      h('span', { class: 'tr-label' }, indent(row.level),
        h('span', { class: 'caret', 'aria-hidden': 'true', text: expanded ? '▾' : '▸' }), swatch,
        h('span', { class: 'tr-name', text: name }),
        h('span', { class: 'tr-count muted', text: calls }),
        r.errors ? h('span', { class: 'badge err', text: `${r.errors} err` }) : null),
      h('span', { class: 'tr-num', text: cost }),
      h('span', { class: 'tr-num', text: fmt.ms(r.span_ms) }),
      h('span', { class: 'tr-track', 'aria-hidden': 'true' },
        Number.isFinite(from) ? bar(from, to - from, 'var(--span)', { class: 'tr-bar span' }) : null));
  }

  function callRow(row) {
    const call = requests.get(row.id) || {};
    const e = byId.get(row.id);
    const status = e ? e.status : call.response_status;
    const failed = fmt.failed(status);
    const label = callLabel(call, e);
    const on = row.id === selected;
    const duration = call.delay_ms ?? e?.duration_ms;
    const parent = parents.get(row.id);
    const parentLabel = parent ? callLabel(requests.get(parent) || {}, byId.get(parent)) : '';
    const rel = relation(row.id);
    return treeitem(row, {
      class: ['tr-row', 'call', on ? 'selected' : '', failed ? 'failed' : '', rel ? `rel-${rel}` : ''],
      'aria-selected': String(on),
      'aria-label': `${fmt.status(status)} ${label}, ${fmt.money(call.cost)}, ${fmt.ms(duration)}${e ? ` from +${fmt.ms(e.offset_ms)}` : ''}${parent ? `, made under ${parentLabel}` : ''}`,
      dataset: { row: 'tree', kind: 'call', requestId: row.id, parentId: parent || null, relation: rel || null },
      onclick: () => { setCurrent(row); onSelect(row.id); },
    },
      h('span', { class: 'tr-label' }, indent(row.level),
        parent ? h('span', { class: 'tr-link', 'aria-hidden': 'true', title: `Made under ${parentLabel}`, dataset: { test: 'parent-marker' }, text: '↳' }) : null,
        h('span', { class: ['badge', failed ? 'err' : 'ok'], text: fmt.status(status) }),
        h('span', { class: 'tr-name call-model', text: label }),
        call.is_stream ? h('span', { class: 'badge', text: 'stream' }) : null),
      h('span', { class: 'tr-num', text: fmt.money(call.cost) }),
      h('span', { class: 'tr-num', text: fmt.ms(duration) }),
      h('span', { class: 'tr-track', 'aria-hidden': 'true' },
        e ? bar(e.offset_ms, e.duration_ms, colors.get(e.path) || 'var(--accent)', {
          class: ['tr-bar', failed ? 'err' : ''],
          dataset: { requestId: row.id, test: 'timeline-bar' },
          onpointermove: (ev) => showTip(tipContent(e), ev.clientX, ev.clientY),
          onpointerleave: hideTip,
        }) : null));
  }

  const phone = window.matchMedia(PHONE);
  const list = virtualList({
    rowHeight: phone.matches ? ROW_HEIGHT_PHONE : ROW_HEIGHT,
    maxHeight: () => Math.min(640, window.innerHeight * 0.7),
    className: 'tr-rows',
    label: 'Session trace',
    role: 'tree',
    renderRow: (i) => (rows[i].kind === 'node' ? nodeRow(rows[i]) : callRow(rows[i])),
    // While the row with the Tab stop is out of the window, the tree itself takes the stop.
    onPaint: () => {
      element.style.setProperty('--sb', `${list.element.offsetWidth - list.element.clientWidth}px`);
      const i = rows.findIndex((r) => keyOf(r) === current);
      list.element.tabIndex = i >= 0 && list.row(i) ? -1 : 0;
    },
  });
  const onPhone = () => list.setRowHeight(phone.matches ? ROW_HEIGHT_PHONE : ROW_HEIGHT);
  phone.addEventListener('change', onPhone);

  function render() {
    flatten();
    list.setCount(rows.length);
  }

  function setCurrent(row) {
    const key = keyOf(row);
    if (key === current) return;
    current = key;
    for (const el of list.rows()) el.tabIndex = -1;
    const i = rows.indexOf(row);
    const el = list.row(i);
    if (el) el.tabIndex = 0;
    list.element.tabIndex = -1;
  }

  function focusRow(i) {
    if (i < 0 || i >= rows.length) return;
    setCurrent(rows[i]);
    list.scrollToIndex(i);
    const el = list.row(i);
    if (el) el.focus();
  }

  const focusedIndex = () => (document.activeElement && list.element.contains(document.activeElement)
    && document.activeElement !== list.element ? Number(document.activeElement.dataset.index) : -1);

  function toggle(node, value = !open.has(node)) {
    if (node === root && !value) return;
    if (value) open.add(node);
    else open.delete(node);
    const focused = focusedIndex();
    render();
    if (focused >= 0) focusRow(rows.findIndex((r) => r.kind === 'node' && r.node === node));
  }

  list.element.addEventListener('focus', (event) => {
    if (event.target !== list.element) return;
    const i = rows.findIndex((r) => keyOf(r) === current);
    focusRow(Math.max(0, i));
  });

  list.element.addEventListener('keydown', (event) => {
    const i = Number(event.target.dataset.index);
    if (Number.isNaN(i) || !rows[i]) return;
    const row = rows[i];
    const page = Math.max(1, Math.floor(list.element.clientHeight / (phone.matches ? ROW_HEIGHT_PHONE : ROW_HEIGHT)) - 1);
    const handled = {
      ArrowDown: () => focusRow(i + 1),
      ArrowUp: () => focusRow(i - 1),
      PageDown: () => focusRow(Math.min(rows.length - 1, i + page)),
      PageUp: () => focusRow(Math.max(0, i - page)),
      Home: () => focusRow(0),
      End: () => focusRow(rows.length - 1),
      ArrowRight: () => {
        if (row.kind === 'node' && !open.has(row.node)) toggle(row.node, true);
        else if (row.kind === 'node') focusRow(i + 1);
      },
      ArrowLeft: () => {
        if (row.kind === 'node' && open.has(row.node) && row.node !== root) toggle(row.node, false);
        else focusRow(row.parent);
      },
      Enter: () => (row.kind === 'node' ? toggle(row.node) : onSelect(row.id)),
      ' ': () => (row.kind === 'node' ? toggle(row.node) : onSelect(row.id)),
    }[event.key];
    if (handled && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      handled();
    }
  });

  // The time axis above the bars, with grid lines through them.
  const ticks = h('div', { class: 'tl-ticks' });
  const lines = h('span', { class: 'tr-lines' });
  const grid = h('div', { class: 'tr-grid', 'aria-hidden': 'true' }, h('span'), h('span'), h('span'), lines);
  const brush = h('div', { class: 'tl-brush', hidden: true });
  ticks.append(brush);
  const axis = h('div', { class: 'tr-head', 'aria-hidden': 'true' },
    h('span', { class: 'tr-label', text: 'Path / call' }),
    h('span', { class: 'tr-num', text: 'Cost' }),
    h('span', { class: 'tr-num', text: 'Time' }),
    h('span', { class: 'tr-track', title: 'Drag across the axis to zoom into that stretch of time' }, ticks));

  function drawAxis() {
    for (const old of ticks.querySelectorAll('.tl-tick')) old.remove();
    lines.replaceChildren();
    const step = tickStep(width(), phone.matches ? 3 : 5);
    for (let t = Math.ceil(view.from / step) * step; t <= view.to + 1e-9; t += step) {
      // Ticks near either edge are not centred on their time, so that their labels stay whole.
      const edge = t - view.from < width() * 0.08 ? 'edge' : view.to - t < width() * 0.08 ? 'edge-end' : '';
      const tick = h('span', { class: ['tl-tick', edge], text: fmt.ms(t) });
      tick.style.left = at(t);
      ticks.append(tick);
      const line = h('span', { class: 'tl-line' });
      line.style.left = at(t);
      lines.append(line);
    }
  }

  const reset = h('button', { type: 'button', class: 'small', hidden: true, dataset: { test: 'zoom-reset' }, onclick: () => zoom(0, span) }, 'Show all');
  const zoomBy = (factor) => {
    const e = selected && byId.get(selected);
    const centre = e ? e.offset_ms + e.duration_ms / 2 : (view.from + view.to) / 2;
    const half = (width() * factor) / 2;
    zoom(centre - half, centre + half);
  };
  const range = h('span', { class: 'muted small', 'aria-live': 'polite' });

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

  /** Opens every node on the way to call `id`, so that it has a row; returns its index. */
  function reveal(id) {
    let changed = false;
    for (let node = parentOf.get(id); node; node = parentOf.get(node)) {
      if (!open.has(node)) { open.add(node); changed = true; }
    }
    if (shown && !callMatches(id)) {
      filter.text = '';
      filter.errorsOnly = false;
      search.value = '';
      errorsOnly.checked = false;
      applyFilter();
      changed = true;
    }
    if (changed) render();
    return rows.findIndex((r) => r.kind === 'call' && r.id === id);
  }

  // The toolbar: search, errors only, next error, expand and collapse, zoom.
  const search = h('input', {
    type: 'search', class: 'tr-search', placeholder: 'Search path or model', 'aria-label': 'Search calls by path or model',
    dataset: { test: 'trace-search' },
    oninput: () => { filter.text = search.value.trim().toLowerCase(); applyFilter(); render(); },
  });
  const errorsOnly = h('input', {
    type: 'checkbox', dataset: { test: 'errors-only' }, disabled: errors.length === 0,
    onchange: () => { filter.errorsOnly = errorsOnly.checked; applyFilter(); render(); },
  });
  const nextError = h('button', {
    type: 'button', class: 'small', dataset: { test: 'next-error' }, disabled: errors.length === 0,
    title: errors.length ? `${errors.length} failed ${errors.length === 1 ? 'call' : 'calls'}` : 'No call failed',
    onclick: () => {
      const now = selected && byId.get(selected);
      let i = now ? errors.findIndex((e) => e.offset_ms > now.offset_ms || (e.offset_ms === now.offset_ms && e.request_id > now.request_id)) : 0;
      if (i < 0) i = 0;
      onSelect(errors[i].request_id);
      const r = reveal(errors[i].request_id);
      if (r >= 0) focusRow(r);
    },
  }, `Next error${errors.length ? ` (${errors.length})` : ''}`);
  const tools = h('div', { class: 'row tr-tools' },
    search,
    h('label', { class: 'check small' }, errorsOnly, 'Errors only'),
    nextError,
    h('button', { type: 'button', class: 'small', dataset: { test: 'expand-all' }, onclick: () => { for (const n of kids.keys()) open.add(n); render(); } }, 'Expand all'),
    h('button', { type: 'button', class: 'small', dataset: { test: 'collapse-all' }, onclick: () => { open.clear(); open.add(root); render(); } }, 'Collapse all'),
    h('span', { class: 'row tr-zoom' }, range,
      h('button', { type: 'button', class: 'small', 'aria-label': 'Zoom in', dataset: { test: 'zoom-in' }, onclick: () => zoomBy(0.5) }, '+'),
      h('button', { type: 'button', class: 'small', 'aria-label': 'Zoom out', onclick: () => zoomBy(2) }, '−'),
      reset));

  const element = h('div', { class: 'trace', dataset: { test: 'trace' } },
    axis, h('div', { class: 'tr-body' }, grid, list.element));
  drawAxis();

  render();

  return {
    element,
    tools,
    /** Marks call `id` (or none) as the open one and brings it into view. */
    select(id) {
      selected = id;
      for (const el of list.rows()) {
        if (el.dataset.kind !== 'call') continue;
        const on = el.dataset.requestId === id;
        el.classList.toggle('selected', on);
        el.setAttribute('aria-selected', String(on));
        const rel = relation(el.dataset.requestId);
        el.classList.toggle('rel-parent', rel === 'parent');
        el.classList.toggle('rel-child', rel === 'child');
        if (rel) el.dataset.relation = rel;
        else delete el.dataset.relation;
      }
      if (!id) return;
      const i = reveal(id);
      if (i >= 0) {
        setCurrent(rows[i]);
        list.scrollToIndex(i);
      }
    },
    /** Moves the focus to the tree's current row (after the call panel closed). */
    focus() {
      const i = rows.findIndex((r) => keyOf(r) === current);
      focusRow(Math.max(0, i));
    },
    destroy() {
      phone.removeEventListener('change', onPhone);
      list.destroy();
      hideTip();
    },
  };
}
