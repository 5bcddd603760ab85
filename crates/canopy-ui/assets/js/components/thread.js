// A session's calls read as one conversation: in start order, each call shows only the messages
// no earlier call showed (a chat repeats its history on every call), then its answer. Tool and
// data steps show folded, in their place.
//
// What must not go here: reading bodies (components/messages.js) or one call's detail.

import { h } from '../dom.js';
import { conversation, messageView } from './messages.js';
import * as fmt from '../format.js';

// Calls rendered at once; more on request, so a session of thousands of calls opens quickly.
const PAGE = 100;

const keyOf = (m) => `${m.role}\u0000${JSON.stringify(m.parts)}`;

/**
 * The thread of the calls `load()` resolves to (the session's calls with their bodies), loaded
 * when the thread is first opened. `onOpen(id)` opens a call in the trace. Returns the element.
 */
export function threadView(load, { onOpen }) {
  let calls = [];
  const seen = new Set();
  const body = h('div', { class: 'thread', dataset: { test: 'thread' } });
  let shown = 0;

  function group(call) {
    const c = conversation(call);
    const failed = fmt.failed(call.response_status);
    const head = h('div', { class: 'thread-head' },
      h('span', { class: ['badge', failed ? 'err' : 'ok'], text: fmt.status(call.response_status) }),
      h('span', { class: 'mono small break', text: call.session_path || '/' }),
      h('span', { class: 'muted small', text: `${call.kind && call.kind !== 'llm' ? call.kind : ''} ${call.model || ''} · ${fmt.time(call.request_created_at)}` }),
      h('button', { type: 'button', class: 'small ghost', onclick: () => onOpen(call.request_id) }, 'Open call'));
    const step = call.kind && call.kind !== 'llm';
    let content;
    if (!c) {
      content = h('p', { class: 'muted small', text: 'The bodies are not a conversation; open the call for its JSON.' });
    } else if (step) {
      content = h('details', { class: 'thread-step' }, h('summary', { text: 'Input and output' }),
        c.input.map((m) => messageView(m)), c.output.map((m) => messageView(m, { output: true })));
    } else {
      const fresh = c.input.filter((m) => !seen.has(keyOf(m)));
      for (const m of [...c.input, ...c.output]) seen.add(keyOf(m));
      const repeated = c.input.length - fresh.length;
      content = [
        repeated ? h('p', { class: 'muted small', text: `${repeated} earlier ${repeated === 1 ? 'message' : 'messages'} sent again` }) : null,
        fresh.map((m) => messageView(m)),
        c.output.map((m) => messageView(m, { output: true })),
        c.error ? h('div', { class: 'alert', role: 'status', text: `Error: ${c.error}` }) : null,
      ];
    }
    return h('section', { class: 'thread-call', dataset: { test: 'thread-call', requestId: call.request_id }, 'aria-label': `${call.session_path || '/'} ${call.model || ''}` },
      head, content);
  }

  const more = h('button', { type: 'button', class: 'small', dataset: { test: 'thread-more' }, hidden: true, onclick: () => render() });
  function render() {
    const next = calls.slice(shown, shown + PAGE);
    shown += next.length;
    body.append(...next.map(group));
    more.hidden = shown >= calls.length;
    more.textContent = `Show ${fmt.int(Math.min(PAGE, calls.length - shown))} more of ${fmt.int(calls.length - shown)}`;
  }

  const element = h('details', { class: 'card thread-card', dataset: { test: 'thread-card' } },
    h('summary', {}, h('h2', { text: 'Conversation' }),
      h('span', { class: 'muted small', text: ` every call in start order, as one thread` })),
    body, more);
  let loading = null;
  element.addEventListener('toggle', () => {
    if (!element.open || loading) return;
    body.append(h('p', { class: 'muted small', dataset: { test: 'thread-loading' }, text: 'Loading the conversation…' }));
    loading = load()
      .then((requests) => {
        calls = [...requests].sort((a, b) => (a.request_created_at < b.request_created_at ? -1
          : a.request_created_at > b.request_created_at ? 1 : 0));
        body.replaceChildren();
        render();
      })
      .catch((error) => {
        body.replaceChildren(h('div', { class: 'alert', role: 'status', text: `Cannot load the conversation: ${error.message}` }));
        loading = null;
      });
  });
  return element;
}
