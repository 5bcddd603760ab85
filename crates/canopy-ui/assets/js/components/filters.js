// Filters on the sessions list, written as Helicone's filter tree: a minimum cost and call
// count on the session's totals, and a property that any of its calls carries.

import { h, debounce } from '../dom.js';

/** The filter tree for the state's filters, or `"all"` when there are none. */
export function buildFilter(s) {
  const leaves = [];
  const cost = Number(s.minCost);
  if (s.minCost !== '' && Number.isFinite(cost)) {
    leaves.push({ sessions_request_response_rmt: { session_total_cost: { gte: cost } } });
  }
  const calls = Number(s.minCalls);
  if (s.minCalls !== '' && Number.isFinite(calls)) {
    leaves.push({ sessions_request_response_rmt: { session_total_requests: { gte: calls } } });
  }
  if (s.prop && s.propValue) {
    leaves.push({ request_response_rmt: { properties: { [s.prop]: { equals: s.propValue } } } });
  }
  if (!leaves.length) return 'all';
  return leaves.reduce((left, right) => ({ left, operator: 'and', right }));
}

/** The filter inputs; `onChange` runs after the user stops typing. */
export function filterControls(state, onChange) {
  const later = debounce(onChange, 300);
  const input = (key, props) => h('input', {
    ...props,
    value: state[key],
    oninput: (e) => { state[key] = e.target.value.trim(); later(); },
  });
  return h('div', { class: 'toolbar filters', role: 'group', 'aria-label': 'Filters' },
    h('label', {}, 'Cost ≥ $', input('minCost', { type: 'number', min: 0, step: 'any', class: 'narrow', 'aria-label': 'Minimum cost in USD', dataset: { test: 'min-cost' } })),
    h('label', {}, 'Calls ≥ ', input('minCalls', { type: 'number', min: 0, step: 1, class: 'narrow', 'aria-label': 'Minimum calls', dataset: { test: 'min-calls' } })),
    h('label', {}, 'Property ', input('prop', { type: 'text', placeholder: 'key', class: 'narrow', 'aria-label': 'Property key' }),
      ' = ', input('propValue', { type: 'text', placeholder: 'value', class: 'narrow', 'aria-label': 'Property value' })));
}
