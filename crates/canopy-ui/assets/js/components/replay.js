// Replay from the session page: choose a model and system prompt change, start a replay job,
// follow its progress (or cancel it), and compare the original and the replay side by side,
// step by step. The comparison is rebuilt from the stored records, so it is also opened later
// from either session (`openComparison`).

import { h, replace, errorBox } from '../dom.js';
import { startReplayJob, getReplayJob, cancelReplayJob, getComparison } from '../api.js';
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
      // Disabled only while the job is being started: it answers at once.
      submit.disabled = true;
      onSubmit(body).catch((e) => {
        submit.disabled = false;
        replace(error, errorBox(e));
      });
    },
  },
    h('p', { class: 'muted' }, 'Each LLM call is sent again through this Canopy, as a new session; calls that ran at the same time run at the same time again. Tool and data steps are counted and shown but not re-run.'),
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
    ['Model calls', 'calls', fmt.int],
    ['Cost', 'cost', fmt.money],
    ['Prompt tokens', 'prompt_tokens', fmt.int],
    ['Completion tokens', 'completion_tokens', fmt.int],
    ['Wall time', 'wall_ms', fmt.ms],
    ['Latency (sum)', 'latency_ms', fmt.ms],
    ['Errors', 'errors', fmt.int],
  ];
  return h('table', { class: 'data compact', dataset: { test: 'replay-totals' } },
    h('thead', {}, h('tr', {}, h('th', { text: '' }), h('th', { class: 'num', text: 'Original' }), h('th', { class: 'num', text: 'Replay' }), h('th', { class: 'num', text: 'Change' }))),
    h('tbody', {}, rows.map(([label, key, f]) => h('tr', {},
      h('th', { scope: 'row', text: label }),
      h('td', { class: 'num', text: f(t.original[key]) }),
      h('td', { class: 'num', text: f(t.replay[key]) }),
      key === 'calls' ? h('td') : delta(t.original[key], t.replay[key], f)))));
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

/** How the steps add up, in the words of the comparison's `counts`. */
function countsText(c) {
  const plural = (n, one, many) => `${fmt.int(n)} ${n === 1 ? one : many}`;
  const replayed = c.replayed === c.model_calls
    ? `${plural(c.model_calls, 'model call', 'model calls')} replayed`
    : `${fmt.int(c.replayed)} of ${plural(c.model_calls, 'model call', 'model calls')} replayed`;
  return `${plural(c.steps, 'step', 'steps')}: ${replayed}`
    + (c.not_rerun ? `, ${plural(c.not_rerun, 'tool or data step', 'tool or data steps')} counted but not re-run` : '')
    + `. The totals compare the ${plural(c.replayed, 'replayed call', 'replayed calls')}.`;
}

/** Where a replay's comparison is read later: its session's page, comparison open. */
export const comparisonHref = (replayId) => `/ui/sessions/${encodeURIComponent(replayId)}?comparison=1`;

function result(r, onClose) {
  return h('div', { class: 'stack', dataset: { test: 'replay-result' } },
    h('div', { class: 'row' },
      h('p', {}, 'Recorded as ', h('a', { href: `/ui/sessions/${encodeURIComponent(r.replay_session_id)}`, onclick: onClose, dataset: { test: 'replay-link' } }, r.replay_session_name || r.replay_session_id),
        ', a replay of ', h('a', { href: `/ui/sessions/${encodeURIComponent(r.original_session_id)}`, onclick: onClose, dataset: { test: 'replay-original-link' } }, 'the original session'),
        '. This comparison is kept: ', h('a', { href: comparisonHref(r.replay_session_id), onclick: onClose, dataset: { test: 'replay-comparison-link' } }, 'link to it'), '.')),
    h('p', { class: 'muted', dataset: { test: 'replay-counts' } }, countsText(r.counts)),
    totalsTable(r.totals),
    h('h3', { text: 'Step by step' }),
    r.steps.map(stepCard));
}

/** A running job: "n of N" calls finished, a bar, and Cancel. */
function progressView(job, onCancel) {
  const p = job.progress;
  const cancelling = job.cancel_requested;
  return h('div', { class: 'stack', dataset: { test: 'replay-progress' } },
    h('p', {}, h('strong', { dataset: { test: 'replay-progress-text' }, text: `${fmt.int(p.finished)} of ${fmt.int(p.total)}` }),
      ` model calls finished (${fmt.int(p.sent)} sent)`,
      cancelling ? ' · cancelling: no further call is sent, those in flight finish' : ''),
    h('progress', { max: String(Math.max(1, p.total)), value: String(p.finished), 'aria-label': 'Replay progress', class: 'replay-bar' }),
    h('p', { class: 'muted small', text: `Recorded as ${job.replay_session_name}. Closing this leaves the replay running; its comparison is linked from both sessions.` }),
    h('div', { class: 'row end' },
      h('button', { type: 'button', dataset: { test: 'replay-cancel' }, disabled: cancelling, onclick: onCancel }, cancelling ? 'Cancelling…' : 'Cancel replay')));
}

/** A job that ended: why, when it was cancelled or failed. */
function endNote(job) {
  if (job.state === 'cancelled') return h('p', { class: 'notice', dataset: { test: 'replay-cancelled' }, text: `Cancelled after ${fmt.int(job.progress.finished)} of ${fmt.int(job.progress.total)} model calls; below is what was done.` });
  return null;
}

/** How often a running job is asked for its progress. */
const POLL_MS = 400;

function dialogShell(title) {
  const body = h('div');
  let closed = false;
  const close = () => { closed = true; if (dialog.open) dialog.close(); dialog.remove(); };
  const dialog = h('dialog', { class: 'replay-dialog', 'aria-label': title, dataset: { test: 'replay-dialog' } },
    h('div', { class: 'row' }, h('h2', { text: title }), h('div', { class: 'spacer' }),
      h('button', { type: 'button', class: 'ghost', 'aria-label': 'Close', onclick: close }, '✕')),
    body);
  dialog.addEventListener('close', () => { closed = true; dialog.remove(); });
  document.body.append(dialog);
  dialog.showModal();
  return { body, close, isClosed: () => closed };
}

/** Opens the replay dialog for a session's `detail`; `onDone(result)` runs after a replay. */
export function openReplay(detail, { onDone } = {}) {
  const { body, close, isClosed } = dialogShell(`Replay “${detail.session.session_name || detail.session.session_id}”`);
  const follow = async (job) => {
    while (!isClosed()) {
      if (job.state !== 'running') {
        replace(body, endNote(job), job.comparison ? result(job.comparison, close) : errorBox(job.error || 'The replay failed.'));
        if (onDone && job.comparison) onDone(job.comparison);
        return;
      }
      const id = job.job_id;
      replace(body, progressView(job, () => cancelReplayJob(id).then((j) => { if (!isClosed() && j.state === 'running') replace(body, progressView(j, () => {})); }).catch((e) => body.append(errorBox(e)))));
      await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
      if (isClosed()) return;
      job = await getReplayJob(id);
    }
  };
  replace(body, form(detail, async (params) => {
    const job = await startReplayJob(detail.session.session_id, params);
    follow(job).catch((e) => { if (!isClosed()) replace(body, errorBox(e)); });
  }, close));
}

/** Opens the saved comparison of replay session `replayId`, read from the store. */
export function openComparison(replayId) {
  const { body, close, isClosed } = dialogShell('Replay comparison');
  replace(body, h('p', { class: 'muted', text: 'Loading the comparison…' }));
  getComparison(replayId)
    .then((r) => { if (!isClosed()) replace(body, result(r, close)); })
    .catch((e) => { if (!isClosed()) replace(body, errorBox(e)); });
  return close;
}
