// One session: its figures, feedback and tags; the timeline of its calls; the tree the server
// built; the detail of the chosen call; and replay.

import { h, replace, figure, errorBox } from '../dom.js';
import { getSession } from '../api.js';
import { query, setQuery } from '../router.js';
import { pathColors } from '../components/colors.js';
import { timeline, legend } from '../components/timeline.js';
import { sessionTree } from '../components/tree.js';
import { callDetail } from '../components/detail.js';
import { feedbackControl, tagsControl } from '../components/annotations.js';
import { openReplay } from '../components/replay.js';
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

function view(root, detail) {
  const s = detail.session;
  const requests = new Map(detail.requests.map((r) => [r.request_id, r]));
  const durations = new Map(detail.timeline.map((t) => [t.request_id, t.duration_ms]));
  const colors = pathColors(detail.timeline.map((t) => t.path));
  const legendColors = new Map(colors);
  // Nodes without calls of their own take their colour from nowhere; give them one too.
  const addPaths = (node) => { if (!colors.has(node.path) && node.path !== '/') colors.set(node.path, 'var(--muted)'); node.children.forEach(addPaths); };
  addPaths(detail.tree);

  const side = h('div', { class: 'detail-slot' },
    h('div', { class: 'card placeholder', dataset: { test: 'detail-placeholder' } },
      h('p', { class: 'muted', text: 'Choose a call in the tree or the timeline to see its messages, tokens and cost.' })));

  let chart = null;
  let tree = null;
  const select = (id) => {
    setQuery({ ...Object.fromEntries(query()), call: id || '' });
    if (!id) {
      replace(side, h('div', { class: 'card placeholder' }, h('p', { class: 'muted', text: 'Choose a call in the tree or the timeline.' })));
    } else {
      replace(side, callDetail(id, { onClose: () => select(null) }));
    }
    chart.select(id);
    tree.select(id);
  };
  chart = timeline({ entries: detail.timeline, spanMs: s.duration_ms, colors, onSelect: select });
  tree = sessionTree({ root: detail.tree, requests, durations, colors, onSelect: select });

  replace(root,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, 'Sessions'), ' › ', s.session_name || 'Unnamed session'),
    h('div', { class: 'page-head' },
      h('div', {},
        h('h1', { text: s.session_name || 'Unnamed session' }),
        h('p', { class: 'muted' }, h('span', { class: 'mono', dataset: { test: 'session-id' }, text: s.session_id }),
          s.user_ids && s.user_ids.length ? ` · users: ${s.user_ids.join(', ')}` : '')),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', dataset: { test: 'replay-open' }, onclick: () => openReplay(detail) }, 'Replay…'))),
    figures(s),
    h('div', { class: 'annotations' }, feedbackControl(s), tagsControl(s)),
    h('div', { class: 'split' },
      h('div', { class: 'stack' },
        h('section', { class: 'card', 'aria-labelledby': 'timeline-title' },
          h('div', { class: 'section-head' },
            h('h2', { id: 'timeline-title', text: 'Timeline' }),
            h('span', { class: 'muted small', text: `${fmt.int(detail.timeline.length)} calls over ${fmt.ms(s.duration_ms)}; hover a bar for details, click it to open the call` }),
            chart.tools),
          legend(legendColors), chart.element),
        h('section', { class: 'card', 'aria-labelledby': 'tree-title' },
          h('div', { class: 'section-head' },
            h('h2', { id: 'tree-title', text: 'Tree' }),
            h('div', { class: 'row' },
              h('button', { type: 'button', class: 'small', dataset: { test: 'expand-all' }, onclick: () => tree.expandAll() }, 'Expand all'),
              h('button', { type: 'button', class: 'small', dataset: { test: 'collapse-all' }, onclick: () => tree.collapseAll() }, 'Collapse all'))),
          tree.element)),
      side));

  const initial = query().get('call');
  if (initial && requests.has(initial)) select(initial);
  return () => {
    chart.destroy();
    tree.destroy();
  };
}

/** Shows session `id` in `root`. */
export function mountSession(root, id) {
  let disposed = false;
  let cleanup = null;
  replace(root, h('p', { class: 'muted', text: 'Loading the session…' }));
  getSession(id)
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
