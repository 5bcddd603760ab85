// One session: its figures, feedback and tags; its trace (the tree the server built, with each
// row's bar on one time axis); the detail of the chosen call beside it; the whole conversation
// as one thread; and replay.

import { h, replace, figure, errorBox } from '../dom.js';
import { getSession, takePrefetchedSession, querySessions } from '../api.js';
import { query, setQuery } from '../router.js';
import { pathColors } from '../components/colors.js';
import { traceView, callLabel } from '../components/trace.js';
import { threadView } from '../components/thread.js';
import { callDetail } from '../components/detail.js';
import { feedbackControl, tagsControl } from '../components/annotations.js';
import { openReplay, openComparison, comparisonHref } from '../components/replay.js';
import * as fmt from '../format.js';

function figures(s) {
  return h('div', { class: 'figures', dataset: { test: 'session-figures' } },
    figure('Start', fmt.dateTime(s.created_at).slice(11), { sub: fmt.dateTime(s.created_at).slice(0, 10), test: 'start' }),
    figure('Last call', fmt.dateTime(s.latest_request_created_at).slice(11), { sub: fmt.dateTime(s.latest_request_created_at).slice(0, 10), test: 'end' }),
    figure('Duration', fmt.ms(s.duration_ms), { test: 'duration' }),
    figure('Cost', fmt.money(s.total_cost), { sub: s.unpriced_requests ? `${s.unpriced_requests} unpriced` : null, test: 'cost' }),
    figure('Calls', fmt.int(s.total_requests), { sub: s.error_count ? `${s.error_count} failed` : 'none failed', test: 'calls' }),
    figure('Tokens', fmt.int(s.total_tokens), { sub: `${fmt.int(s.prompt_tokens)} in · ${fmt.int(s.completion_tokens)} out`, test: 'tokens' }),
    figure('Avg latency', fmt.ms(s.avg_latency), { test: 'latency' }),
    s.cache_hits ? figure('Saved by cache', fmt.money(s.cost_saved), { sub: `${fmt.int(s.cache_hits)} cache hits`, test: 'cache' }) : null);
}

/** The session this one replays, from its calls' `replay_of`; `null` when it is no replay. */
function replayOf(detail) {
  const call = detail.requests.find((r) => r.properties && r.properties.replay_of);
  return call ? call.properties.replay_of : null;
}

/** On a replay: the session it replays and the saved comparison. */
function replayLinks(s, original) {
  if (!original) return null;
  return h('p', { class: 'break', dataset: { test: 'replay-of' } }, 'Replay of ',
    h('a', { href: `/ui/sessions/${encodeURIComponent(original)}`, class: 'mono', dataset: { test: 'replay-of-link' } }, original),
    ' · ', h('a', { href: comparisonHref(s.session_id), dataset: { test: 'comparison-link' } }, 'comparison'));
}

/** On any session: its replays (sessions whose calls say `replay_of` = its id), each with its
 * comparison; filled in once the list is read, absent when there are none. */
function replaysList(s) {
  const el = h('section', { class: 'card', hidden: true, dataset: { test: 'replays' } });
  querySessions({ filter: { request_response_rmt: { properties: { replay_of: { equals: s.session_id } } } }, limit: 50, offset: 0 })
    .then((rows) => {
      if (!rows.length) return;
      el.hidden = false;
      replace(el, h('h2', { text: `Replays (${fmt.int(rows.length)}${rows.length === 50 ? '+' : ''})` }),
        h('ul', { class: 'plain' }, rows.map((r) => h('li', { dataset: { test: 'replay-row' } },
          h('a', { href: `/ui/sessions/${encodeURIComponent(r.session_id)}`, dataset: { test: 'replay-session-link' } }, r.session_name || r.session_id),
          ' · ', fmt.dateTime(r.created_at), ' · ',
          h('a', { href: comparisonHref(r.session_id), dataset: { test: 'replay-comparison-link' } }, 'comparison')))));
    })
    .catch(() => {
      // The page works without the list; a failing query shows nothing here.
    });
  return el;
}

function view(root, detail) {
  const s = detail.session;
  const original = replayOf(detail);
  const requests = new Map(detail.requests.map((r) => [r.request_id, r]));
  const colors = pathColors(detail.timeline.map((t) => t.path));
  const entries = new Map(detail.timeline.map((t) => [t.request_id, t]));
  // Real parent-child links (W3C trace context), where the API found them within the session.
  const parents = new Map();
  const children = new Map();
  for (const r of detail.requests) {
    const parent = r.parent_request_id;
    if (!parent || !requests.has(parent)) continue;
    parents.set(r.request_id, parent);
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(r.request_id);
  }
  const linkOf = (id) => ({ id, label: callLabel(requests.get(id) || {}, entries.get(id)), path: entries.get(id)?.path || requests.get(id)?.session_path || '/' });
  const traceOf = (id) => {
    const r = requests.get(id) || {};
    return {
      traceId: (r.request_properties || {})['canopy-trace-id'] || null,
      parent: parents.has(id) ? linkOf(parents.get(id)) : null,
      children: (children.get(id) || []).map(linkOf),
    };
  };

  const placeholder = () => h('div', { class: 'card placeholder', dataset: { test: 'detail-placeholder' } },
    h('p', { class: 'muted', text: 'Choose a call in the trace to see its messages, tokens and cost.' }));
  // Beside the trace on a wide screen; a full-screen sheet on a phone while a call is open.
  const side = h('div', { class: 'detail-slot' }, placeholder());

  let trace = null;
  let open = null;
  const select = (id, { restoreFocus = false, focusPanel = false } = {}) => {
    setQuery({ ...Object.fromEntries(query()), call: id || '' });
    open = id || null;
    side.classList.toggle('sheet', Boolean(open));
    document.body.classList.toggle('sheet-open', Boolean(open));
    const panel = open ? callDetail(open, {
      onClose: () => select(null, { restoreFocus: true }),
      trace: traceOf(open),
      // Following a parent or child link opens that call and moves the focus to its panel.
      onOpen: (next) => select(next, { focusPanel: true }),
    }) : placeholder();
    replace(side, panel);
    trace.select(open);
    if (restoreFocus) trace.focus();
    if (focusPanel && open) panel.focus();
  };
  trace = traceView({ root: detail.tree, entries: detail.timeline, requests, parents, spanMs: s.duration_ms, colors, onSelect: select });

  // Esc closes the call's panel (a dialog, when one is open, handles its own Esc).
  const onKey = (event) => {
    if (event.key !== 'Escape' || !open || event.defaultPrevented || document.querySelector('dialog[open]')) return;
    event.preventDefault();
    select(null, { restoreFocus: true });
  };
  document.addEventListener('keydown', onKey);

  replace(root,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, 'Sessions'), ' › ', s.session_name || 'Unnamed session'),
    h('div', { class: 'page-head' },
      h('div', {},
        h('h1', { text: s.session_name || 'Unnamed session' }),
        h('p', { class: 'muted break' }, h('span', { class: 'mono', dataset: { test: 'session-id' }, text: s.session_id }),
          s.user_ids && s.user_ids.length
            ? [' · users: ', s.user_ids.map((u, i) => [i ? ', ' : '', h('a', { href: `/ui/users/${encodeURIComponent(u)}`, dataset: { test: 'user-link' } }, u)])]
            : ''),
        replayLinks(s, original)),
      h('div', { class: 'row' },
        original ? h('button', { type: 'button', dataset: { test: 'comparison-open' }, onclick: () => openComparison(s.session_id) }, 'Comparison') : null,
        h('button', { type: 'button', class: 'primary', dataset: { test: 'replay-open' }, onclick: () => openReplay(detail) }, 'Replay…'))),
    figures(s),
    replaysList(s),
    h('div', { class: 'annotations' }, feedbackControl(s), tagsControl(s)),
    h('div', { class: 'split' },
      h('section', { class: 'card trace-card', 'aria-labelledby': 'trace-title' },
        h('div', { class: 'section-head' },
          h('h2', { id: 'trace-title', text: 'Trace' }),
          h('span', { class: 'muted small', text: `${fmt.int(detail.timeline.length)} calls over ${fmt.ms(s.duration_ms)}` })),
        trace.tools,
        trace.element),
      side),
    // The thread reads every call's bodies, which the page's data leaves out: fetched when it
    // is first opened.
    threadView(() => getSession(s.session_id, { bodies: true }).then((full) => full.requests),
      { onOpen: (id) => { select(id); side.scrollIntoView({ block: 'nearest' }); } }));

  if (original && query().get('comparison') === '1') openComparison(s.session_id);
  const initial = query().get('call');
  if (initial && requests.has(initial)) select(initial);
  return () => {
    document.removeEventListener('keydown', onKey);
    document.body.classList.remove('sheet-open');
    trace.destroy();
  };
}

/** Shows session `id` in `root`. */
export function mountSession(root, id) {
  let disposed = false;
  let cleanup = null;
  replace(root, h('p', { class: 'muted', text: 'Loading the session…' }));
  takePrefetchedSession(id)
    .then((detail) => {
      if (disposed) return;
      document.title = `${detail.session.session_name || detail.session.session_id} · Canopy`;
      cleanup = view(root, detail);
    })
    .catch((error) => {
      if (!disposed) replace(root, h('nav', { class: 'crumbs' }, h('a', { href: '/' }, 'Sessions')), errorBox(error));
    });
  return {
    unmount() {
      disposed = true;
      document.title = 'Canopy';
      if (cleanup) cleanup();
    },
  };
}
