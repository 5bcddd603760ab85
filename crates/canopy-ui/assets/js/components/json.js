// A JSON viewer: the value pretty-printed with its keys, strings and numbers coloured. Built
// from text nodes only, so nothing in a body can become markup.

import { h } from '../dom.js';

function render(value, indent, out) {
  const pad = '  '.repeat(indent);
  if (value === null) out.push(h('span', { class: 'j-lit', text: 'null' }));
  else if (Array.isArray(value)) {
    if (!value.length) { out.push('[]'); return; }
    out.push('[\n');
    value.forEach((item, i) => {
      out.push(`${pad}  `);
      render(item, indent + 1, out);
      out.push(i < value.length - 1 ? ',\n' : '\n');
    });
    out.push(`${pad}]`);
  } else if (typeof value === 'object') {
    const entries = Object.entries(value);
    if (!entries.length) { out.push('{}'); return; }
    out.push('{\n');
    entries.forEach(([key, item], i) => {
      out.push(`${pad}  `, h('span', { class: 'j-key', text: JSON.stringify(key) }), ': ');
      render(item, indent + 1, out);
      out.push(i < entries.length - 1 ? ',\n' : '\n');
    });
    out.push(`${pad}}`);
  } else if (typeof value === 'string') out.push(h('span', { class: 'j-str', text: JSON.stringify(value) }));
  else if (typeof value === 'number') out.push(h('span', { class: 'j-num', text: String(value) }));
  else out.push(h('span', { class: 'j-lit', text: String(value) }));
}

/** A `<pre>` with `value` as coloured JSON; a string value is shown as it is (an SSE body). */
export function jsonView(value, { label = 'JSON' } = {}) {
  const out = [];
  if (typeof value === 'string') out.push(value);
  else render(value, 0, out);
  const pre = h('pre', { class: 'json', tabindex: '0', 'aria-label': label, dataset: { test: 'raw-json' } }, out);
  const copy = h('button', {
    type: 'button', class: 'ghost small',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(typeof value === 'string' ? value : JSON.stringify(value, null, 2));
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy refused by the browser';
      }
    },
  }, 'Copy');
  return h('div', { class: 'json-wrap' }, h('div', { class: 'row end' }, copy), pre);
}
