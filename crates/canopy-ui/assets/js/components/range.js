// The time range picker shared by the sessions list and the metrics page: presets, or a custom
// range of two local times.

import { h } from '../dom.js';
import { toLocalInput } from '../format.js';

const HOUR = 3_600_000;
const PRESETS = [
  { id: '1h', label: '1 h', span: HOUR },
  { id: '24h', label: '24 h', span: 24 * HOUR },
  { id: '7d', label: '7 d', span: 7 * 24 * HOUR },
  { id: '30d', label: '30 d', span: 30 * 24 * HOUR },
  { id: 'all', label: 'All', span: null },
  { id: 'custom', label: 'Custom', span: null },
];

/** The range a picker starts on when the URL names none. */
export const DEFAULT_RANGE = '7d';

/** Whether `id` names a range. */
export function isRange(id) {
  return PRESETS.some((p) => p.id === id);
}

/** The API's `timeFilter` for a range state `{range, from, to}`, or `undefined` for all time. */
export function timeFilter({ range, from, to }) {
  const now = Date.now();
  if (range === 'custom') {
    const start = from ? new Date(from).getTime() : 0;
    const end = to ? new Date(to).getTime() : now;
    return { startTimeUnixMs: Number.isNaN(start) ? 0 : start, endTimeUnixMs: Number.isNaN(end) ? now : end };
  }
  const preset = PRESETS.find((p) => p.id === range);
  if (!preset || !preset.span) return undefined;
  // The window reaches a little into the future so that a call that is still arriving counts.
  return { startTimeUnixMs: now - preset.span, endTimeUnixMs: now + 60_000 };
}

/** A segmented control of presets plus custom inputs; calls `onChange(state)` on every change. */
export function rangePicker(state, onChange) {
  const from = h('input', { type: 'datetime-local', 'aria-label': 'From', value: state.from || toLocalInput(Date.now() - 24 * HOUR) });
  const to = h('input', { type: 'datetime-local', 'aria-label': 'To', value: state.to || toLocalInput(Date.now() + 60_000) });
  const custom = h('span', { class: 'custom-range' }, from, h('span', { class: 'muted', text: 'to' }), to);
  const buttons = PRESETS.map((preset) => h('button', {
    type: 'button',
    class: 'seg',
    'aria-pressed': String(state.range === preset.id),
    dataset: { range: preset.id },
    onclick: () => {
      state.range = preset.id;
      if (preset.id === 'custom') {
        state.from = from.value;
        state.to = to.value;
      }
      sync();
      onChange(state);
    },
  }, preset.label));
  const sync = () => {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.range === state.range));
    custom.hidden = state.range !== 'custom';
  };
  const changed = () => {
    state.from = from.value;
    state.to = to.value;
    onChange(state);
  };
  from.addEventListener('change', changed);
  to.addEventListener('change', changed);
  sync();
  return h('div', { class: 'range', role: 'group', 'aria-label': 'Time range' },
    h('div', { class: 'segmented' }, buttons), custom);
}
