// One user: their sessions, what they cost, and how many turns they take, day by day. The
// figures come from `/api/v1/analytics/sessions`, each session counted whole.

import { h, replace, figure, errorBox } from '../dom.js';
import { entitySessions } from '../api.js';
import * as fmt from '../format.js';

const LIMIT = 1000;

function median(values) {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The sessions grouped by the day (UTC) they started, oldest first. */
function byDay(sessions) {
  const days = new Map();
  for (const s of sessions) {
    const day = s.first_request_at.slice(0, 10);
    const d = days.get(day) || { day, sessions: 0, turns: 0, cost: 0 };
    d.sessions += 1;
    d.turns += s.turn_count;
    d.cost += s.total_cost;
    days.set(day, d);
  }
  return [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1));
}

function view(root, id, sessions) {
  const turns = sessions.map((s) => s.turn_count);
  const cost = sessions.reduce((sum, s) => sum + s.total_cost, 0);
  const tokens = sessions.reduce((sum, s) => sum + s.total_tokens, 0);
  const days = byDay(sessions);
  const most = Math.max(...days.map((d) => d.cost), 0);
  const bar = (value) => {
    const el = h('span', { class: 'day-bar', 'aria-hidden': 'true' });
    el.style.width = `${most > 0 ? Math.max(2, (value / most) * 100) : 0}%`;
    return el;
  };
  replace(root,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, 'Sessions'), ' › user'),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { class: 'break', text: id }),
        h('p', { class: 'muted', text: sessions.length >= LIMIT ? `The latest ${fmt.int(LIMIT)} sessions of this user.` : 'Every session of this user.' }))),
    h('div', { class: 'figures', dataset: { test: 'user-figures' } },
      figure('Sessions', fmt.int(sessions.length), { test: 'user-sessions' }),
      figure('Total cost', fmt.money(cost), { test: 'user-cost' }),
      figure('Average cost', fmt.money(sessions.length ? cost / sessions.length : 0), { sub: 'per session', test: 'user-avg-cost' }),
      figure('Turns', sessions.length ? (turns.reduce((a, b) => a + b, 0) / sessions.length).toFixed(1) : '0', { sub: `per session; median ${median(turns)}`, test: 'user-turns' }),
      figure('Tokens', fmt.int(tokens), { test: 'user-tokens' })),
    h('section', { class: 'card', 'aria-labelledby': 'days-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'days-title', text: 'By day' }), h('span', { class: 'muted small', text: 'UTC; the bar is the day\'s cost' })),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data compact', dataset: { test: 'user-days' } },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Day' }), h('th', { scope: 'col', class: 'num', text: 'Sessions' }),
          h('th', { scope: 'col', class: 'num', text: 'Turns' }), h('th', { scope: 'col', class: 'num', text: 'Cost' }), h('th', { scope: 'col', class: 'bar-col', 'aria-hidden': 'true' }))),
        h('tbody', {}, days.map((d) => h('tr', {},
          h('th', { scope: 'row', text: d.day }), h('td', { class: 'num', text: fmt.int(d.sessions) }),
          h('td', { class: 'num', text: fmt.int(d.turns) }), h('td', { class: 'num', text: fmt.money(d.cost) }),
          h('td', { class: 'bar-col' }, bar(d.cost)))))))),
    h('section', { class: 'card', 'aria-labelledby': 'user-sessions-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'user-sessions-title', text: 'Sessions' })),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data compact', dataset: { test: 'user-session-table' } },
        h('thead', {}, h('tr', {}, ['Session', 'Started', 'Turns', 'Cost', 'Tokens'].map((t, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : '', text: t })))),
        h('tbody', {}, sessions.map((s) => h('tr', { dataset: { sessionId: s.session_id } },
          h('td', {}, h('a', { class: 'session-link', href: `/ui/sessions/${encodeURIComponent(s.session_id)}`, text: s.session_name || s.session_id })),
          h('td', { text: fmt.dateTime(s.first_request_at) }),
          h('td', { class: 'num', text: fmt.int(s.turn_count) }),
          h('td', { class: 'num', text: fmt.money(s.total_cost) }),
          h('td', { class: 'num', text: fmt.int(s.total_tokens) }))))))));
}

/** Shows user `id` in `root`. */
export function mountUser(root, id) {
  let disposed = false;
  document.title = `${id} · Canopy`;
  replace(root, h('p', { class: 'muted', text: 'Loading the user\'s sessions…' }));
  entitySessions('user', id, LIMIT)
    .then((sessions) => { if (!disposed) view(root, id, sessions); })
    .catch((error) => { if (!disposed) replace(root, h('nav', { class: 'crumbs' }, h('a', { href: '/' }, 'Sessions')), errorBox(error)); });
  return {
    unmount() {
      disposed = true;
      document.title = 'Canopy';
    },
  };
}
