// Session metrics: histograms of calls per session, duration and cost with their averages, the
// percentile or interquartile cut, and a comparison of session names.

import { h, replace, errorBox } from '../dom.js';
import { sessionMetrics, sessionNames, sessionPaths } from '../api.js';
import { query, setQuery } from '../router.js';
import { rangePicker, timeFilter, isRange, DEFAULT_RANGE } from '../components/range.js';
import { histogram } from '../components/histogram.js';
import { NOT_A_REPLAY } from '../components/filters.js';
import * as fmt from '../format.js';

const CUTS = ['p50', 'p75', 'p95', 'p99', 'p99.9'];

function readState() {
  const q = query();
  return {
    range: isRange(q.get('range')) ? q.get('range') : DEFAULT_RANGE,
    from: q.get('from') || '',
    to: q.get('to') || '',
    name: q.get('name') || '',
    cut: CUTS.includes(q.get('cut')) ? q.get('cut') : 'p99',
    iqr: q.get('iqr') === '1',
    noReplays: q.get('noReplays') === '1',
  };
}

function bar(value, max) {
  const fill = h('span', { class: 'inline-bar-fill' });
  fill.style.width = `${max ? (value / max) * 100 : 0}%`;
  return h('span', { class: 'inline-bar', 'aria-hidden': 'true' }, fill);
}

function namesTable(rows) {
  if (!rows.length) return h('p', { class: 'muted', text: 'No named sessions in this range.' });
  const max = (key) => Math.max(0, ...rows.map((r) => r[key]));
  const maxCost = max('avg_cost');
  const maxDuration = max('avg_duration_ms');
  const maxCalls = max('avg_requests');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data', dataset: { test: 'names-table' } },
    h('thead', {}, h('tr', {}, ['Name', 'Sessions', 'First used', 'Last used', 'Total cost', 'Avg cost', 'Avg duration', 'Avg calls', 'Avg latency']
      .map((label, i) => h('th', { scope: 'col', class: i === 0 || i === 2 || i === 3 ? '' : 'num', text: label })))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      h('td', {}, h('a', { href: `/?name=${encodeURIComponent(r.name)}&range=all` }, r.name || '(unnamed)')),
      h('td', { class: 'num', text: fmt.int(r.session_count) }),
      h('td', { text: fmt.dateTime(r.first_used) }),
      h('td', { text: fmt.dateTime(r.last_used) }),
      h('td', { class: 'num', text: fmt.money(r.total_cost) }),
      h('td', { class: 'num' }, fmt.money(r.avg_cost), bar(r.avg_cost, maxCost)),
      h('td', { class: 'num' }, fmt.ms(r.avg_duration_ms), bar(r.avg_duration_ms, maxDuration)),
      h('td', { class: 'num' }, r.avg_requests.toFixed(1), bar(r.avg_requests, maxCalls)),
      h('td', { class: 'num', text: fmt.ms(r.avg_latency) }))))));
}

/** Each path's figures over the sessions of one name. */
function pathsTable(rows) {
  if (!rows.length) return h('p', { class: 'muted', text: 'No calls in this range.' });
  const maxLatency = Math.max(0, ...rows.map((r) => r.avg_latency));
  const maxCost = Math.max(0, ...rows.map((r) => r.cost_per_session));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data', dataset: { test: 'paths-table' } },
    h('thead', {}, h('tr', {}, ['Path', 'Sessions', 'Calls / session', 'Avg latency', 'Errors', 'Cost / session', 'Total cost']
      .map((label, i) => h('th', { scope: 'col', class: i === 0 ? '' : 'num', text: label })))),
    h('tbody', {}, rows.map((r) => h('tr', { dataset: { path: r.path } },
      h('th', { scope: 'row', class: 'mono break', text: r.path }),
      h('td', { class: 'num', text: fmt.int(r.sessions) }),
      h('td', { class: 'num', text: r.calls_per_session.toFixed(1) }),
      h('td', { class: 'num' }, fmt.ms(r.avg_latency), bar(r.avg_latency, maxLatency)),
      h('td', { class: 'num', text: fmt.int(r.errors) }),
      h('td', { class: 'num', title: r.unpriced_calls ? `${r.unpriced_calls} calls have no price` : null }, fmt.money(r.cost_per_session), bar(r.cost_per_session, maxCost)),
      h('td', { class: 'num', text: fmt.money(r.total_cost) }))))));
}

/** Shows the metrics page in `root`. */
export function mountMetrics(root) {
  const state = readState();
  let disposed = false;
  let sequence = 0;
  const charts = h('div', { class: 'histograms' });
  const names = h('div');
  const paths = h('div');
  const pathsTitle = h('h2', { id: 'paths-title', text: 'By path' });
  const pathsCard = h('section', { class: 'card', hidden: true, 'aria-labelledby': 'paths-title', dataset: { test: 'paths-card' } },
    h('div', { class: 'section-head' }, pathsTitle, h('span', { class: 'muted small', text: 'each path over every session of the name' })), paths);
  const message = h('div');
  const namePicker = h('select', { 'aria-label': 'Session name', dataset: { test: 'metrics-name' }, onchange: () => { state.name = namePicker.value; changed(); } },
    h('option', { value: '' }, 'All names'));
  const cut = h('select', { 'aria-label': 'Cut outliers above', disabled: state.iqr, onchange: () => { state.cut = cut.value; changed(); } },
    CUTS.map((c) => h('option', { value: c, selected: c === state.cut }, `Cut above ${c}`)));
  const iqr = h('label', { class: 'check' }, h('input', {
    type: 'checkbox', checked: state.iqr,
    onchange: (e) => { state.iqr = e.target.checked; cut.disabled = state.iqr; changed(); },
  }), ' Interquartile cut');
  const noReplays = h('label', { class: 'check' }, h('input', {
    type: 'checkbox', checked: state.noReplays, dataset: { test: 'no-replays' },
    onchange: (e) => { state.noReplays = e.target.checked; changed(); },
  }), ' Leave out replays');

  root.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Metrics' }),
      h('p', { class: 'muted', text: 'How sessions are distributed: calls, duration and cost, with outliers cut. Averages count every session, before the cut.' }))),
    h('div', { class: 'toolbar' }, rangePicker(state, () => changed()), namePicker, cut, iqr, noReplays),
    message, charts, pathsCard,
    h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', { text: 'By session name' })), names));

  function changed() {
    setQuery({
      range: state.range === DEFAULT_RANGE ? '' : state.range,
      from: state.range === 'custom' ? state.from : '', to: state.range === 'custom' ? state.to : '',
      name: state.name, cut: state.cut === 'p99' ? '' : state.cut, iqr: state.iqr ? '1' : '', noReplays: state.noReplays ? '1' : '',
    });
    load();
  }

  async function load() {
    const mine = ++sequence;
    const tf = timeFilter(state);
    const filter = state.noReplays ? NOT_A_REPLAY : 'all';
    try {
      const [m, rows, perPath] = await Promise.all([
        sessionMetrics({ nameContains: state.name, pSize: state.cut, useInterquartile: state.iqr, timeFilter: tf, filter }),
        sessionNames({ nameContains: '', timeFilter: tf, filter }),
        state.name ? sessionPaths({ nameEquals: state.name, timeFilter: tf, filter }) : Promise.resolve(null),
      ]);
      if (disposed || mine !== sequence) return;
      replace(message);
      const avg = (list) => (list && list.length ? list[0].average : undefined);
      replace(charts,
        histogram({ title: 'Calls per session', rows: m.session_count, average: avg(m.average.session_count), format: (v) => (Number.isInteger(v) ? fmt.int(v) : v.toFixed(1)), test: 'histogram-calls' }),
        histogram({ title: 'Session duration', rows: m.session_duration, average: avg(m.average.session_duration), format: fmt.seconds, test: 'histogram-duration' }),
        histogram({ title: 'Session cost', rows: m.session_cost, average: avg(m.average.session_cost), format: fmt.money, test: 'histogram-cost' }));
      replace(names, namesTable(rows));
      pathsCard.hidden = !perPath;
      if (perPath) {
        pathsTitle.textContent = `Paths of ${state.name}`;
        replace(paths, pathsTable(perPath));
      }
      const known = new Set(rows.map((r) => r.name));
      replace(namePicker, h('option', { value: '' }, 'All names'),
        rows.map((r) => h('option', { value: r.name }, r.name || '(unnamed)')),
        state.name && !known.has(state.name) ? h('option', { value: state.name }, state.name) : null);
      namePicker.value = state.name;
    } catch (error) {
      if (!disposed && mine === sequence) replace(message, errorBox(error));
    }
  }

  load();
  return { unmount() { disposed = true; } };
}
