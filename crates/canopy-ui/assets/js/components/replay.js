// Replay from the session page: choose a model and system prompt change, send, and compare the
// original and the replay side by side, step by step.

import { h, replace, errorBox } from '../dom.js';
import { replaySession } from '../api.js';
import * as fmt from '../format.js';

const COMMON_MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'claude-sonnet-4-5', 'claude-haiku-4-5'];

function paths(node, out = []) {
  if (node.path !== '/') out.push(node.path);
  node.children.forEach((c) => paths(c, out));
  return out;
}

function form(detail, onSubmit, onCancel) {
  const models = [...new Set([...detail.requests.filter((r) => r.kind === 'llm').map((r) => r.model).filter(Boolean), ...COMMON_MODELS])];
  const field = (label, control, hint) => h('label', { class: 'field' }, h('span', { class: 'label', text: label }), control, hint ? h('span', { class: 'muted small', text: hint }) : null);
  const model = h('input', { type: 'text', name: 'model', list: 'replay-models', placeholder: 'Keep each call\'s model', dataset: { test: 'replay-model' } });
  const mode = h('select', { name: 'mode', dataset: { test: 'replay-mode' } },
    h('option', { value: '' }, 'Keep the system prompt'), h('option', { value: 'append' }, 'Append to it'), h('option', { value: 'replace' }, 'Replace it'));
  const system = h('textarea', { name: 'system', rows: 3, placeholder: 'Answer as a senior agent.', dataset: { test: 'replay-system' } });
  const scope = h('select', { name: 'path' }, h('option', { value: '' }, 'Every call'), paths(detail.tree).map((p) => h('option', { value: p }, `Calls under ${p}`)));
  const propagate = h('input', { type: 'checkbox', name: 'propagate', checked: true });
  const headerName = h('input', { type: 'text', name: 'headerName', value: 'Authorization', class: 'narrow', 'aria-label': 'Header name' });
  const headerValue = h('input', { type: 'password', name: 'headerValue', autocomplete: 'off', placeholder: 'Bearer sk-… (not stored)', 'aria-label': 'Header value' });
  const patch = h('textarea', { name: 'patch', rows: 3, class: 'mono', placeholder: '{"temperature": 0}' });
  const error = h('div');
  const llmCalls = detail.requests.filter((r) => r.kind === 'llm').length;
  const submit = h('button', { type: 'submit', class: 'primary', dataset: { test: 'replay-submit' } }, `Replay ${llmCalls} LLM ${llmCalls === 1 ? 'call' : 'calls'}`);
  const el = h('form', {
    class: 'stack',
    onsubmit: (event) => {
      event.preventDefault();
      const body = { propagate: propagate.checked, headers: {} };
      if (model.value.trim()) body.model = model.value.trim();
      if (mode.value && system.value.trim()) body.system_prompt = { mode: mode.value, text: system.value };
      if (scope.value) body.path = scope.value;
      if (headerName.value.trim() && headerValue.value) body.headers[headerName.value.trim()] = headerValue.value;
      if (patch.value.trim()) {
        try {
          body.patch = JSON.parse(patch.value);
        } catch (e) {
          replace(error, errorBox(`The patch is not JSON: ${e.message}`));
          return;
        }
      }
      submit.disabled = true;
      submit.textContent = 'Replaying…';
      onSubmit(body).catch((e) => {
        submit.disabled = false;
        submit.textContent = 'Replay';
        replace(error, errorBox(e));
      });
    },
  },
    h('p', { class: 'muted' }, 'Each LLM call is sent again, in order, through this Canopy, as a new session. Tool and data steps are listed but not re-run.'),
    field('Model', model, 'Leave empty to keep each call\'s own model.'),
    h('datalist', { id: 'replay-models' }, models.map((m) => h('option', { value: m }))),
    field('System prompt', mode), system,
    field('Apply the changes to', scope, 'Every call is replayed either way, so the conversation stays whole.'),
    h('label', { class: 'check' }, propagate, ' Propagate: later calls see the replayed answers instead of the original ones'),
    h('details', {}, h('summary', { text: 'Provider credentials and a body patch' }),
      h('div', { class: 'stack' },
        h('p', { class: 'muted small', text: 'Provider keys are never stored by Canopy, so a real provider needs one for the replay. It is sent with this replay only.' }),
        h('div', { class: 'row' }, headerName, headerValue),
        field('JSON merge patch on every body', patch))),
    error,
    h('div', { class: 'row end' }, h('button', { type: 'button', onclick: onCancel }, 'Cancel'), submit));
  return el;
}

function delta(a, b, format, lowerIsBetter = true) {
  if (a === null || b === null || a === undefined || b === undefined) return h('td', { class: 'num muted', text: '—' });
  const d = b - a;
  if (!d) return h('td', { class: 'num muted', text: 'same' });
  const pct = a ? ` (${d > 0 ? '+' : ''}${Math.round((d / a) * 100)}%)` : '';
  const better = lowerIsBetter ? d < 0 : d > 0;
  return h('td', { class: ['num', better ? 'good' : 'bad'], text: `${d > 0 ? '+' : '−'}${format(Math.abs(d))}${pct}` });
}

function totalsTable(t) {
  const rows = [
    ['Model calls', 'steps', fmt.int],
    ['Cost', 'cost', fmt.money],
    ['Prompt tokens', 'prompt_tokens', fmt.int],
    ['Completion tokens', 'completion_tokens', fmt.int],
    ['Latency (sum)', 'latency_ms', fmt.ms],
    ['Errors', 'errors', fmt.int],
  ];
  return h('table', { class: 'data compact', dataset: { test: 'replay-totals' } },
    h('thead', {}, h('tr', {}, h('th', { text: '' }), h('th', { class: 'num', text: 'Original' }), h('th', { class: 'num', text: 'Replay' }), h('th', { class: 'num', text: 'Change' }))),
    h('tbody', {}, rows.map(([label, key, f]) => h('tr', {},
      h('th', { scope: 'row', text: label }),
      h('td', { class: 'num', text: f(t.original[key]) }),
      h('td', { class: 'num', text: f(t.replay[key]) }),
      key === 'steps' ? h('td') : delta(t.original[key], t.replay[key], f)))));
}

function side(title, s, other) {
  if (!s) return h('div', { class: 'replay-side empty' }, h('h4', { text: title }), h('p', { class: 'muted', text: 'Not replayed.' }));
  const changed = (key) => other && other[key] !== s[key];
  return h('div', { class: 'replay-side', dataset: { side: title.toLowerCase() } },
    h('h4', {}, title, ' ', h('span', { class: ['badge', fmt.failed(s.status) ? 'err' : 'ok'], text: fmt.status(s.status) })),
    h('dl', { class: 'defs' },
      h('dt', { text: 'Model' }), h('dd', { class: changed('model') ? 'changed' : '', text: s.model || '—' }),
      h('dt', { text: 'Cost' }), h('dd', { text: fmt.money(s.cost) }),
      h('dt', { text: 'Tokens' }), h('dd', { text: `${fmt.int(s.prompt_tokens)} in · ${fmt.int(s.completion_tokens)} out` }),
      h('dt', { text: 'Latency' }), h('dd', { text: fmt.ms(s.latency_ms) })),
    h('div', { class: ['replay-output', changed('output') ? 'changed' : ''], text: s.output || '(no text)' }));
}

function stepCard(step, i) {
  return h('article', { class: 'replay-step card', dataset: { test: 'replay-step' } },
    h('header', { class: 'row' },
      h('strong', { text: `Step ${i + 1}` }), h('span', { class: 'mono', text: step.path }), h('span', { class: 'badge', text: step.kind }),
      step.propagated_messages ? h('span', { class: 'badge', text: `${step.propagated_messages} propagated` }) : null,
      step.note ? h('span', { class: 'muted small', text: step.note }) : null),
    h('div', { class: 'replay-sides' }, side('Original', step.original, step.replay), side('Replay', step.replay, step.original)));
}

function result(r, onClose) {
  return h('div', { class: 'stack', dataset: { test: 'replay-result' } },
    h('div', { class: 'row' },
      h('p', {}, 'Recorded as ', h('a', { href: `/ui/sessions/${encodeURIComponent(r.replay_session_id)}`, onclick: onClose, dataset: { test: 'replay-link' } }, r.replay_session_name || r.replay_session_id), '.')),
    // The totals count model calls only; the cards below are every step, tools included.
    h('p', { class: 'muted', dataset: { test: 'replay-counts' } }, (() => {
      const model = r.steps.filter((s) => s.kind === 'llm').length;
      const other = r.steps.length - model;
      return `${fmt.int(r.steps.length)} steps: ${fmt.int(model)} model ${model === 1 ? 'call' : 'calls'} replayed`
        + (other ? `, ${fmt.int(other)} tool or data ${other === 1 ? 'step' : 'steps'} shown as recorded` : '')
        + '. The totals compare the model calls.';
    })()),
    totalsTable(r.totals),
    h('h3', { text: 'Step by step' }),
    r.steps.map(stepCard));
}

/** Opens the replay dialog for a session's `detail`; `onDone(result)` runs after a replay. */
export function openReplay(detail, { onDone } = {}) {
  const body = h('div');
  const close = () => { dialog.close(); dialog.remove(); };
  const dialog = h('dialog', { class: 'replay-dialog', 'aria-label': 'Replay the session', dataset: { test: 'replay-dialog' } },
    h('div', { class: 'row' }, h('h2', { text: `Replay “${detail.session.session_name || detail.session.session_id}”` }), h('div', { class: 'spacer' }),
      h('button', { type: 'button', class: 'ghost', 'aria-label': 'Close', onclick: close }, '✕')),
    body);
  replace(body, form(detail, async (params) => {
    const r = await replaySession(detail.session.session_id, params);
    replace(body, result(r, close));
    if (onDone) onDone(r);
  }, close));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
