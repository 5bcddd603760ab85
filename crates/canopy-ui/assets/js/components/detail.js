// One call in full: what it was (status, model, path, timing), its tokens and cost, and its
// bodies: the messages rendered as a conversation, and the raw JSON on demand.

import { h, replace, figure, errorBox } from '../dom.js';
import { getRequest } from '../api.js';
import { conversationView } from './messages.js';
import { jsonView } from './json.js';
import * as fmt from '../format.js';

function definitions(pairs) {
  return h('dl', { class: 'defs' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
}

function tokensAndCost(call) {
  const rows = [
    ['Prompt tokens', fmt.int(call.prompt_tokens)],
    ['  of which cache reads', call.prompt_cache_read_tokens ? fmt.int(call.prompt_cache_read_tokens) : null],
    ['  of which cache writes', call.prompt_cache_write_tokens ? fmt.int(call.prompt_cache_write_tokens) : null],
    ['  of which audio', call.prompt_audio_tokens ? fmt.int(call.prompt_audio_tokens) : null],
    ['Completion tokens', fmt.int(call.completion_tokens)],
    ['  of which reasoning', call.reasoning_tokens ? fmt.int(call.reasoning_tokens) : null],
    ['  of which audio', call.completion_audio_tokens ? fmt.int(call.completion_audio_tokens) : null],
    ['Total tokens', fmt.int(call.total_tokens)],
    ['Usage', call.usage_source === 'estimated' ? 'estimated (the provider reported none)' : call.usage_source],
    ['Cost', call.cost === null ? 'unpriced (the model is not in the price catalog)' : fmt.money(call.cost)],
    ['Priced as', call.pricing_model],
  ];
  return h('table', { class: 'data compact', dataset: { test: 'tokens-table' } },
    h('tbody', {}, rows.filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => h('tr', {}, h('th', { scope: 'row', class: k.startsWith(' ') ? 'sub' : '', text: k.trim() }), h('td', { class: 'num', text: v })))));
}

function keyValues(map, empty) {
  const entries = Object.entries(map || {});
  if (!entries.length) return h('p', { class: 'muted', text: empty });
  return h('table', { class: 'data compact' }, h('tbody', {},
    entries.map(([k, v]) => h('tr', {}, h('th', { scope: 'row', class: 'mono', text: k }), h('td', { class: 'mono', text: String(v) })))));
}

function metadata(call) {
  return h('div', { class: 'stack' },
    h('h3', { text: 'Tokens and cost' }), tokensAndCost(call),
    h('h3', { text: 'Properties' }), keyValues(call.properties, 'No properties.'),
    call.scores && Object.keys(call.scores).length ? [h('h3', { text: 'Scores' }), keyValues(call.scores, '')] : null,
    h('h3', { text: 'Request' }),
    definitions([
      ['Method', call.method],
      ['Called', call.request_path],
      ['Upstream', call.target_url],
      ['User', call.request_user_id],
      ['Prompt id', call.prompt_id],
      ['Bodies cut', call.request_body_truncated || call.response_body_truncated
        ? `${call.request_body_truncated ? 'request ' : ''}${call.response_body_truncated ? 'response' : ''}` : null],
    ]),
    h('h3', { text: 'Request headers' }),
    keyValues(call.request_headers, 'No headers were stored.'),
    h('p', { class: 'muted small' }, 'Credentials (Authorization, x-api-key, api-key, cookies, Helicone-Auth) are never stored: they show as ',
      h('code', { text: '[REDACTED]' }), '.'));
}

function tabs(panels) {
  const list = h('div', { class: 'tabs', role: 'tablist' });
  const body = h('div', { class: 'tab-panel', role: 'tabpanel' });
  const built = new Map();
  const buttons = panels.map(([name, build], i) => h('button', {
    type: 'button', role: 'tab', class: 'tab', 'aria-selected': String(i === 0), dataset: { tab: name },
    onclick: () => show(i),
  }, name));
  function show(i) {
    buttons.forEach((b, j) => b.setAttribute('aria-selected', String(i === j)));
    // Raw bodies are built only when asked for: they can be large.
    if (!built.has(i)) built.set(i, panels[i][1]());
    replace(body, built.get(i));
  }
  list.append(...buttons);
  list.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0 || (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft')) return;
    const j = (i + (e.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length;
    buttons[j].focus();
    show(j);
  });
  show(0);
  return h('div', {}, list, body);
}

/** A call the panel links to: a button that opens it. */
function linkButton(link, onOpen, test) {
  return h('button', {
    type: 'button', class: 'link trace-link', dataset: { test, requestId: link.id },
    'aria-label': `Open ${link.label} at ${link.path}`,
    onclick: () => onOpen(link.id),
  }, h('span', { class: 'trace-link-label', text: link.label }), h('span', { class: 'muted small mono', text: link.path }));
}

// At most this many children are listed; the rest are counted.
const MAX_CHILDREN = 50;

/**
 * The call's place in its distributed trace: its trace id, the call it was made under and the
 * calls made under it, each a button that opens that call (Jaeger's and Langfuse's parent and
 * children). Nothing when the call carried no trace context and links to nothing.
 */
function traceLinks(call, trace, onOpen) {
  const traceId = trace?.traceId || (call.properties || {})['canopy-trace-id'];
  const parent = trace?.parent;
  const kids = trace?.children || [];
  if (!traceId && !parent && !kids.length) return null;
  const shown = kids.slice(0, MAX_CHILDREN);
  return h('section', { class: 'trace-links', 'aria-label': 'Trace links', dataset: { test: 'trace-links' } },
    h('dl', { class: 'defs' },
      traceId ? [h('dt', { text: 'Trace' }), h('dd', {}, h('span', { class: 'mono break small', dataset: { test: 'trace-id' }, text: traceId }))] : null,
      h('dt', { text: 'Parent' }),
      h('dd', {}, parent ? linkButton(parent, onOpen, 'parent-link') : h('span', { class: 'muted', text: 'none in this session' })),
      h('dt', { text: kids.length ? `Children (${kids.length})` : 'Children' }),
      h('dd', {}, kids.length
        ? h('ul', { class: 'trace-children', dataset: { test: 'children' } },
          shown.map((k) => h('li', {}, linkButton(k, onOpen, 'child-link'))),
          kids.length > shown.length ? h('li', { class: 'muted small', text: `and ${kids.length - shown.length} more` }) : null)
        : h('span', { class: 'muted', text: 'none' }))));
}

function view(call, onClose, trace, onOpen) {
  const failed = fmt.failed(call.response_status);
  const label = call.kind && call.kind !== 'llm' ? `${call.kind}: ${call.model || ''}` : (call.model || 'unknown model');
  const messages = () => conversationView(call) || h('div', {}, h('p', { class: 'muted', text: 'These bodies are not a conversation; here they are as recorded.' }),
    jsonView(call.request_body, { label: 'Request body' }), jsonView(call.response_body, { label: 'Response body' }));
  return [
    h('div', { class: 'detail-head' },
      h('div', {},
        h('h2', { class: 'detail-title' }, h('span', { class: ['badge', failed ? 'err' : 'ok'], text: fmt.status(call.response_status) }), ' ', label),
        h('div', { class: 'muted small' }, h('span', { class: 'mono', text: call.session_path || '/' }), ` · ${call.provider} · ${fmt.dateTime(call.request_created_at)}`,
          call.is_stream ? ' · streamed' : '')),
      h('button', { type: 'button', class: 'ghost', 'aria-label': 'Close the call', onclick: onClose }, '✕')),
    h('div', { class: 'figures small-figures', dataset: { test: 'call-figures' } },
      figure('Prompt', fmt.int(call.prompt_tokens), { test: 'prompt-tokens' }),
      figure('Completion', fmt.int(call.completion_tokens), { test: 'completion-tokens' }),
      figure('Cost', fmt.money(call.cost), { test: 'call-cost' }),
      figure('Latency', fmt.ms(call.delay_ms), { sub: call.time_to_first_token != null ? `first token ${fmt.ms(call.time_to_first_token)}` : null })),
    call.error ? h('div', { class: 'alert', role: 'status', text: call.error }) : null,
    traceLinks(call, trace, onOpen),
    tabs([
      ['Messages', messages],
      ['Request JSON', () => jsonView(call.request_body, { label: 'Request body' })],
      ['Response JSON', () => jsonView(call.response_body, { label: 'Response body' })],
      ['Details', () => metadata(call)],
    ]),
    h('p', { class: 'muted small mono', text: call.request_id }),
  ];
}

/**
 * The detail panel of call `id`; loads it and calls `onClose()` when closed. `trace` holds its
 * trace id, parent and children (`{traceId, parent, children}`, links as `{id, label, path}`);
 * `onOpen(id)` opens a linked call.
 */
export function callDetail(id, { onClose, trace = null, onOpen = () => {} }) {
  const element = h('section', { class: 'detail card', 'aria-label': 'Call detail', tabindex: '-1', dataset: { test: 'call-detail', requestId: id } },
    h('p', { class: 'muted', text: 'Loading the call…' }));
  getRequest(id).then((call) => replace(element, view(call, onClose, trace, onOpen)))
    .catch((error) => replace(element, errorBox(error)));
  return element;
}
