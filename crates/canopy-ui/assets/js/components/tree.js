// The session tree, as the server built it: one row per path node with its roll-up (calls,
// cost, tokens, span), and one row per call with its status, model, cost and latency. Nodes
// collapse and expand; rows are buttons and the arrow keys move between them. Rows are windowed.

import { h } from '../dom.js';
import { virtualList } from './virtual-list.js';
import * as fmt from '../format.js';

const ROW_HEIGHT = 30;
// Nodes open by default while the rows they show stay under this count.
const OPEN_BUDGET = 400;

/** The children of `node` (sub-nodes and its own calls), in start order. */
function childrenOf(node, requests) {
  const items = [
    ...node.children.map((child) => ({ kind: 'node', node: child, at: child.rollup.start })),
    ...node.request_ids.map((id) => ({ kind: 'call', id, at: requests.get(id)?.request_created_at || '' })),
  ];
  return items.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/**
 * Builds the tree of `root` (the API's `tree`). `requests` maps call ids to rows and `durations`
 * to their timeline duration; `onSelect(id)` is called when a call is chosen.
 */
export function sessionTree({ root, requests, durations, colors, onSelect }) {
  const cache = new Map();
  const kids = (node) => {
    if (!cache.has(node)) cache.set(node, childrenOf(node, requests));
    return cache.get(node);
  };
  const open = new Set();
  let rows = [];
  let selected = null;

  // Open nodes breadth first while the visible rows stay within budget.
  let budget = OPEN_BUDGET - 1;
  const queue = [root];
  while (queue.length) {
    const node = queue.shift();
    const items = kids(node);
    if (node !== root && items.length > budget) continue;
    budget -= items.length;
    open.add(node);
    for (const item of items) if (item.kind === 'node') queue.push(item.node);
  }

  function flatten() {
    const out = [];
    const walk = (node, depth, parent) => {
      const at = out.length;
      out.push({ kind: 'node', node, depth, parent });
      if (!open.has(node)) return;
      for (const item of kids(node)) {
        if (item.kind === 'node') walk(item.node, depth + 1, at);
        else out.push({ kind: 'call', id: item.id, depth: depth + 1, parent: at });
      }
    };
    walk(root, 0, -1);
    rows = out;
  }

  const indent = (depth) => {
    const pad = h('span', { class: 'indent' });
    pad.style.width = `${depth * 16}px`;
    return pad;
  };

  function nodeRow(row) {
    const { node, depth } = row;
    const r = node.rollup;
    const expanded = open.has(node);
    const swatch = h('span', { class: 'swatch' });
    swatch.style.background = colors.get(node.path) || 'transparent';
    return h('button', {
      type: 'button',
      class: 'tree-row node',
      'aria-expanded': String(expanded),
      dataset: { row: 'tree', kind: 'node', path: node.path },
      title: node.path,
      onclick: () => toggle(node),
    },
      h('span', { class: 'tree-name' }, indent(depth),
        h('span', { class: 'caret', 'aria-hidden': 'true', text: expanded ? '▾' : '▸' }), swatch,
        h('span', { class: 'node-name', text: node === root ? 'Session' : node.name }),
        r.errors ? h('span', { class: 'badge err', text: `${r.errors} err` }) : null),
      h('span', { class: 'num', text: `${fmt.int(r.requests)} ${r.requests === 1 ? 'call' : 'calls'}` }),
      h('span', { class: 'num', text: fmt.money(r.cost) }),
      h('span', { class: 'num', text: fmt.int(r.prompt_tokens + r.completion_tokens) }),
      h('span', { class: 'num', text: fmt.ms(r.span_ms) }));
  }

  function callRow(row) {
    const call = requests.get(row.id) || {};
    const failed = fmt.failed(call.response_status);
    const label = call.kind && call.kind !== 'llm' ? `${call.kind}: ${call.model || ''}` : (call.model || 'unknown model');
    return h('button', {
      type: 'button',
      class: ['tree-row', 'call', row.id === selected ? 'selected' : ''],
      'aria-current': row.id === selected ? 'true' : null,
      dataset: { row: 'tree', kind: 'call', requestId: row.id },
      title: row.id,
      onclick: () => onSelect(row.id),
    },
      h('span', { class: 'tree-name' }, indent(row.depth),
        h('span', { class: ['badge', failed ? 'err' : 'ok'], text: fmt.status(call.response_status) }),
        h('span', { class: 'call-model', text: label }),
        call.is_stream ? h('span', { class: 'badge', text: 'stream' }) : null),
      h('span', { class: 'num muted', text: fmt.time(call.request_created_at) }),
      h('span', { class: 'num', text: fmt.money(call.cost) }),
      h('span', { class: 'num', text: fmt.int(call.total_tokens) }),
      h('span', { class: 'num', text: fmt.ms(call.delay_ms ?? durations.get(row.id)) }));
  }

  const list = virtualList({
    rowHeight: ROW_HEIGHT,
    maxHeight: () => Math.min(600, window.innerHeight * 0.65),
    className: 'tree-rows',
    label: 'Session tree',
    renderRow: (i) => (rows[i].kind === 'node' ? nodeRow(rows[i]) : callRow(rows[i])),
  });

  function render() {
    flatten();
    list.setCount(rows.length);
  }

  function focusRow(i) {
    if (i < 0 || i >= rows.length) return;
    list.scrollToIndex(i);
    const el = list.row(i);
    if (el) el.focus();
  }

  function toggle(node, value = !open.has(node)) {
    if (value) open.add(node);
    else open.delete(node);
    const focused = document.activeElement && list.element.contains(document.activeElement)
      ? Number(document.activeElement.dataset.index) : -1;
    render();
    if (focused >= 0) focusRow(focused);
  }

  list.element.addEventListener('keydown', (event) => {
    const i = Number(event.target.dataset.index);
    if (Number.isNaN(i) || !rows[i]) return;
    const row = rows[i];
    const handled = {
      ArrowDown: () => focusRow(i + 1),
      ArrowUp: () => focusRow(i - 1),
      Home: () => focusRow(0),
      End: () => focusRow(rows.length - 1),
      ArrowRight: () => {
        if (row.kind === 'node' && !open.has(row.node)) toggle(row.node, true);
        else focusRow(i + 1);
      },
      ArrowLeft: () => {
        if (row.kind === 'node' && open.has(row.node) && row.node !== root) toggle(row.node, false);
        else focusRow(row.parent);
      },
    }[event.key];
    if (handled) {
      event.preventDefault();
      handled();
    }
  });

  const header = h('div', { class: 'tree-head', 'aria-hidden': 'true' },
    h('span', { text: 'Path / call' }), h('span', { class: 'num', text: 'Calls / at' }),
    h('span', { class: 'num', text: 'Cost' }), h('span', { class: 'num', text: 'Tokens' }),
    h('span', { class: 'num', text: 'Time' }));
  const element = h('div', { class: 'tree', dataset: { test: 'tree' } }, header, list.element);
  render();

  /** Opens every node on the way to a call, so that it has a row. */
  function reveal(id) {
    const path = [];
    const find = (node) => {
      if (node.request_ids.includes(id)) return path.push(node), true;
      for (const child of node.children) {
        if (find(child)) return path.push(node), true;
      }
      return false;
    };
    find(root);
    let changed = false;
    for (const node of path) if (!open.has(node)) { open.add(node); changed = true; }
    if (changed) render();
  }

  return {
    element,
    select(id) {
      selected = id;
      reveal(id);
      for (const el of list.rows()) {
        const on = el.dataset.requestId === id;
        el.classList.toggle('selected', on);
        if (on) el.setAttribute('aria-current', 'true');
        else el.removeAttribute('aria-current');
      }
      const i = rows.findIndex((r) => r.kind === 'call' && r.id === id);
      if (i >= 0) list.scrollToIndex(i);
    },
    expandAll() {
      const all = (node) => { open.add(node); node.children.forEach(all); };
      all(root);
      render();
    },
    collapseAll() {
      open.clear();
      open.add(root);
      render();
    },
    destroy() {
      list.destroy();
    },
  };
}
