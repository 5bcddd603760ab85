// Filters on the sessions list, written as Helicone's filter tree: a minimum cost and call
// count on the session's totals, and a property or a user that any of its calls carries.
// The property and user boxes suggest what the latest calls carry.

import { h, replace, debounce } from '../dom.js';
import { suggest } from '../api.js';

/**
 * Calls a replay made carry the property `replay_of`; a session matches a call-level condition
 * when any call does, so "some call without it" leaves replays out and "some call with it"
 * finds them.
 */
export const NOT_A_REPLAY = { request_response_rmt: { properties: { replay_of: { equals: 'null' } } } };
export const A_REPLAY = { request_response_rmt: { properties: { replay_of: { 'not-equals': 'null' } } } };

/** `left` and `right`, either of which may be `"all"`. */
export function and(left, right) {
  if (left === 'all') return right;
  if (right === 'all') return left;
  return { left, operator: 'and', right };
}

/** The filter tree for the state's filters, or `"all"` when there are none. */
export function buildFilter(s) {
  const leaves = [];
  if (s.noReplays) leaves.push(NOT_A_REPLAY);
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
  if (s.user) {
    leaves.push({ request_response_rmt: { user_id: { equals: s.user } } });
  }
  if (!leaves.length) return 'all';
  return leaves.reduce((left, right) => ({ left, operator: 'and', right }));
}

let lists = 0;

/**
 * A datalist for `input`, refilled from `fetch(text)` (suggestions `{value, calls}`) when the
 * box gets the focus and as the user types. Failures leave the list as it was.
 */
function suggestions(input, fetch) {
  const list = h('datalist', { id: `suggest-${++lists}` });
  input.setAttribute('list', list.id);
  let asked = 0;
  const fill = async () => {
    const mine = ++asked;
    try {
      const found = await fetch(input.value.trim());
      if (mine !== asked) return;
      replace(list, found.map((s) => h('option', { value: s.value, label: `${s.calls} recent ${s.calls === 1 ? 'call' : 'calls'}` })));
    } catch {
      // Suggestions are a convenience; the box works without them.
    }
  };
  const later = debounce(fill, 200);
  input.addEventListener('focus', fill);
  input.addEventListener('input', later);
  return list;
}

/** The filter inputs; `onChange` runs after the user stops typing. */
export function filterControls(state, onChange) {
  const later = debounce(onChange, 300);
  const input = (key, props) => h('input', {
    ...props,
    value: state[key],
    oninput: (e) => { state[key] = e.target.value.trim(); later(); },
  });
  const key = input('prop', { type: 'text', placeholder: 'key', class: 'narrow', 'aria-label': 'Property key', autocomplete: 'off', dataset: { test: 'prop-key' } });
  const value = input('propValue', { type: 'text', placeholder: 'value', class: 'narrow', 'aria-label': 'Property value', autocomplete: 'off', dataset: { test: 'prop-value' } });
  const user = input('user', { type: 'text', placeholder: 'user id', class: 'narrow', 'aria-label': 'User id', autocomplete: 'off', dataset: { test: 'user-filter' } });
  const keyList = suggestions(key, (text) => suggest('property_key', { contains: text }));
  const valueList = suggestions(value, (text) => (key.value.trim() ? suggest('property_value', { key: key.value.trim(), contains: text }) : Promise.resolve([])));
  const userList = suggestions(user, (text) => suggest('user_id', { contains: text }));
  return h('div', { class: 'toolbar filters', role: 'group', 'aria-label': 'Filters' },
    h('label', {}, 'Cost ≥ $', input('minCost', { type: 'number', min: 0, step: 'any', class: 'narrow', 'aria-label': 'Minimum cost in USD', dataset: { test: 'min-cost' } })),
    h('label', {}, 'Calls ≥ ', input('minCalls', { type: 'number', min: 0, step: 1, class: 'narrow', 'aria-label': 'Minimum calls', dataset: { test: 'min-calls' } })),
    h('label', {}, 'Property ', key, ' = ', value),
    h('label', {}, 'User ', user),
    h('label', { class: 'check' }, h('input', {
      type: 'checkbox', checked: Boolean(state.noReplays), dataset: { test: 'no-replays' },
      onchange: (e) => { state.noReplays = e.target.checked; onChange(); },
    }), ' Leave out replays'),
    keyList, valueList, userList);
}
