// The sessions list: header figures, a time range, a name picker, search, filters, a paginated
// table sorted by any of its figures, and live refresh. Its state lives in the query string.

import { h, replace, figure, errorBox, debounce } from '../dom.js';
import { querySessions, countSessions, sessionNames } from '../api.js';
import { query, setQuery, navigate } from '../router.js';
import { rangePicker, timeFilter, isRange, DEFAULT_RANGE } from '../components/range.js';
import { buildFilter, filterControls, and, A_REPLAY } from '../components/filters.js';
import * as fmt from '../format.js';

const PAGE_SIZES = [25, 50, 100];
const SORT_KEYS = ['created_at', 'duration_ms', 'total_requests', 'error_count', 'total_cost', 'avg_latency'];
const DEFAULT_SORT = 'created_at';
const LIVE_EVERY_MS = 5000;

function readState() {
  const q = query();
  const size = Number(q.get('size'));
  return {
    range: isRange(q.get('range')) ? q.get('range') : DEFAULT_RANGE,
    from: q.get('from') || '',
    to: q.get('to') || '',
    name: q.get('name') || '',
    search: q.get('q') || '',
    minCost: q.get('minCost') || '',
    minCalls: q.get('minCalls') || '',
    prop: q.get('prop') || '',
    propValue: q.get('pval') || '',
    user: q.get('user') || '',
    noReplays: q.get('noReplays') === '1',
    page: Math.max(0, Number(q.get('page')) || 0),
    size: PAGE_SIZES.includes(size) ? size : PAGE_SIZES[0],
    live: q.get('live') === '1',
    sort: SORT_KEYS.includes(q.get('sort')) ? q.get('sort') : DEFAULT_SORT,
    ascending: q.get('dir') === 'asc',
  };
}

function writeState(s) {
  setQuery({
    range: s.range === DEFAULT_RANGE ? '' : s.range,
    from: s.range === 'custom' ? s.from : '',
    to: s.range === 'custom' ? s.to : '',
    name: s.name, q: s.search, minCost: s.minCost, minCalls: s.minCalls,
    prop: s.prop, pval: s.propValue, user: s.user, noReplays: s.noReplays ? '1' : '',
    page: s.page || '', size: s.size === PAGE_SIZES[0] ? '' : s.size, live: s.live ? '1' : '',
    sort: s.sort === DEFAULT_SORT ? '' : s.sort, dir: s.ascending ? 'asc' : '',
  });
}

function requestBody(s) {
  return {
    search: s.search || undefined,
    timeFilter: timeFilter(s),
    nameEquals: s.name || undefined,
    filter: buildFilter(s),
    offset: s.page * s.size,
    limit: s.size,
    sortBy: { key: s.sort, direction: s.ascending ? 'asc' : 'desc' },
  };
}

const userHref = (id) => `/ui/users/${encodeURIComponent(id)}`;

function sessionRow(row, replays) {
  const href = `/ui/sessions/${encodeURIComponent(row.session_id)}`;
  const users = row.user_ids || [];
  return h('tr', { dataset: { sessionId: row.session_id }, onclick: (e) => { if (!e.target.closest('a')) navigate(href); } },
    h('td', { class: 'name-cell' },
      h('a', { href, class: 'session-link' }, row.session_name || 'Unnamed session'),
      replays.has(row.session_id) ? [' ', h('span', { class: 'badge', dataset: { test: 'replay-badge' }, title: 'A replay of another session', text: 'replay' })] : null,
      h('div', { class: 'mono muted small', title: row.session_id, text: row.session_id })),
    h('td', { title: row.created_at }, fmt.dateTime(row.created_at), h('div', { class: 'muted small', text: fmt.ago(row.created_at) })),
    h('td', { title: row.latest_request_created_at, text: fmt.dateTime(row.latest_request_created_at) }),
    h('td', { class: 'num', text: fmt.ms(row.duration_ms) }),
    h('td', { class: 'num', text: fmt.int(row.total_requests) }),
    h('td', { class: 'num' }, row.error_count ? h('span', { class: 'badge err', text: fmt.int(row.error_count) }) : h('span', { class: 'muted', text: '0' })),
    h('td', { class: 'num', title: row.unpriced_requests ? `${row.unpriced_requests} calls have no price` : null },
      fmt.money(row.total_cost), row.unpriced_requests ? h('span', { class: 'muted', text: ' +?' }) : null),
    h('td', { class: 'num', title: `${fmt.int(row.prompt_tokens)} prompt, ${fmt.int(row.completion_tokens)} completion`, text: fmt.int(row.total_tokens) }),
    h('td', { class: 'num', text: fmt.ms(row.avg_latency) }),
    h('td', { class: 'users', title: users.join(', ') }, users.length
      ? [users.slice(0, 2).map((u, i) => [i ? ', ' : '', h('a', { href: userHref(u), dataset: { test: 'user-link' } }, u)]),
        users.length > 2 ? ` +${users.length - 2}` : '']
      : h('span', { class: 'muted', text: '—' })));
}

// Label, class and the API's sort key (when the column sorts).
const COLUMNS = [
  ['Session', ''], ['First call', '', 'created_at'], ['Last call', ''], ['Duration', 'num', 'duration_ms'],
  ['Calls', 'num', 'total_requests'], ['Errors', 'num', 'error_count'], ['Cost', 'num', 'total_cost'],
  ['Tokens', 'num'], ['Avg latency', 'num', 'avg_latency'], ['Users', ''],
];

/** Shows the sessions list in `root`. */
export function mountSessions(root) {
  const state = readState();
  let disposed = false;
  let sequence = 0;
  let timer = 0;

  const figures = h('div', { class: 'figures', 'aria-live': 'polite' });
  const tbody = h('tbody');
  // A sorting column's heading is a button; the first press sorts largest (or newest) first,
  // the next one flips the order.
  const heading = ([label, cls, key]) => {
    if (!key) return h('th', { class: cls, scope: 'col', text: label });
    const on = state.sort === key;
    const th = h('th', { class: [cls, 'sortable'], scope: 'col', 'aria-sort': on ? (state.ascending ? 'ascending' : 'descending') : null },
      h('button', {
        type: 'button', class: 'sort', dataset: { sort: key },
        onclick: () => {
          state.ascending = state.sort === key ? !state.ascending : false;
          state.sort = key;
          replace(headRow, COLUMNS.map(heading));
          changed();
        },
      }, label, h('span', { class: 'sort-mark', 'aria-hidden': 'true', text: on ? (state.ascending ? ' ↑' : ' ↓') : '' })));
    return th;
  };
  const headRow = h('tr', {}, COLUMNS.map(heading));
  const table = h('table', { class: 'data sessions-table', dataset: { test: 'sessions-table' } },
    h('thead', {}, headRow), tbody);
  const message = h('div');
  const pageInfo = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', onclick: () => { state.page -= 1; changed(false); } }, '← Previous');
  const next = h('button', { type: 'button', onclick: () => { state.page += 1; changed(false); } }, 'Next →');
  const updated = h('span', { class: 'muted small' });

  const names = h('select', { 'aria-label': 'Session name', dataset: { test: 'name-picker' }, onchange: () => { state.name = names.value; changed(); } },
    h('option', { value: '' }, 'All names'));
  const search = h('input', {
    type: 'search', placeholder: 'Search by id or name', value: state.search, 'aria-label': 'Search sessions by id or name',
    dataset: { test: 'search' },
    oninput: debounce(() => { state.search = search.value.trim(); changed(); }, 250),
  });
  const live = h('label', { class: 'check' },
    h('input', { type: 'checkbox', checked: state.live, onchange: (e) => { state.live = e.target.checked; schedule(); writeState(state); } }),
    ' Live');
  const size = h('select', { 'aria-label': 'Rows per page', onchange: () => { state.size = Number(size.value); changed(); } },
    PAGE_SIZES.map((n) => h('option', { value: n, selected: n === state.size }, `${n} / page`)));

  root.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Sessions' }), h('p', { class: 'muted', text: 'Calls that share a session id, newest first unless a column heading says otherwise. Each row has the whole session\'s totals.' })),
      h('div', { class: 'row' }, updated, live, h('button', { type: 'button', onclick: () => load() }, 'Refresh'))),
    figures,
    h('div', { class: 'toolbar' }, rangePicker(state, () => { loadNames(); changed(); }), names, search),
    filterControls(state, () => changed()),
    message,
    h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'pager' }, pageInfo, h('div', { class: 'row' }, size, prev, next)));

  function changed(resetPage = true) {
    if (resetPage) state.page = 0;
    writeState(state);
    load();
  }

  async function loadNames() {
    try {
      const rows = await sessionNames({ nameContains: '', timeFilter: timeFilter(state) });
      if (disposed) return;
      const known = new Set(rows.map((r) => r.name));
      replace(names, h('option', { value: '' }, 'All names'),
        rows.map((r) => h('option', { value: r.name }, `${r.name || '(unnamed)'} · ${fmt.int(r.session_count)}`)),
        state.name && !known.has(state.name) ? h('option', { value: state.name }, state.name) : null);
      names.value = state.name;
    } catch {
      // The list still works without the picker's names; the table shows the error if any.
    }
  }

  async function load() {
    const mine = ++sequence;
    const body = requestBody(state);
    try {
      // The page's replays, found with the same query narrowed to them, are marked. In the same
      // order, those on this page are among the first (page + 1) × size replays.
      const replayBody = { ...body, filter: and(body.filter, A_REPLAY), offset: 0, limit: Math.min(1000, body.offset + body.limit) };
      const [rows, totals, replayRows] = await Promise.all([querySessions(body), countSessions(body),
        state.noReplays ? Promise.resolve([]) : querySessions(replayBody)]);
      const replays = new Set(replayRows.map((r) => r.session_id));
      if (disposed || mine !== sequence) return;
      replace(message);
      replace(figures,
        figure('Sessions', fmt.int(totals.count), { test: 'sessions' }),
        figure('Total cost', fmt.money(totals.total_cost), { test: 'total-cost' }),
        figure('Average cost', fmt.money(totals.avg_cost), { sub: 'per session', test: 'avg-cost' }),
        figure('Average calls', totals.avg_requests.toFixed(1), { sub: 'per session', test: 'avg-calls' }),
        figure('Average latency', fmt.ms(totals.avg_latency), { sub: 'per call', test: 'avg-latency' }));
      replace(tbody, rows.length ? rows.map((row) => sessionRow(row, replays))
        : h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'empty' }, 'No sessions match. Widen the time range or clear the filters; ',
          h('code', { text: 'canopy demo' }), ' records two.')));
      const first = totals.count ? state.page * state.size + 1 : 0;
      const last = Math.min(totals.count, state.page * state.size + rows.length);
      pageInfo.textContent = `${fmt.int(first)}–${fmt.int(last)} of ${fmt.int(totals.count)}`;
      prev.disabled = state.page === 0;
      next.disabled = last >= totals.count;
      updated.textContent = `Updated ${fmt.time(new Date().toISOString()).slice(0, 8)}`;
    } catch (error) {
      if (disposed || mine !== sequence) return;
      replace(message, errorBox(error));
    }
  }

  function schedule() {
    clearInterval(timer);
    if (state.live) {
      timer = setInterval(() => { if (!document.hidden) load(); }, LIVE_EVERY_MS);
    }
  }

  loadNames();
  load();
  schedule();
  return {
    unmount() {
      disposed = true;
      clearInterval(timer);
    },
  };
}
