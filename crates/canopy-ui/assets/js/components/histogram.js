// A histogram as an SVG bar chart: one bar per bucket, its count above it, the bucket's range
// below, and the average marked with a line.

import { h, svg } from '../dom.js';

const W = 420;
const H = 200;
const PAD = { top: 18, right: 8, bottom: 36, left: 8 };

/**
 * Draws `rows` (`{range_start, range_end, value}`) with `format` for the axis values, and the
 * `average` marked. Returns a figure element.
 */
export function histogram({ title, rows, average, format, test }) {
  const buckets = rows.map((r) => ({ start: Number(r.range_start), end: Number(r.range_end), value: r.value }));
  const max = Math.max(1, ...buckets.map((b) => b.value));
  const lo = buckets.length ? buckets[0].start : 0;
  const hi = buckets.length ? buckets[buckets.length - 1].end : 1;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, buckets.length);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'histogram', role: 'img', 'aria-label': `${title}: ${buckets.length} buckets` });
  chart.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: 'axis' }));
  buckets.forEach((b, i) => {
    const height = (b.value / max) * innerH;
    const x = PAD.left + i * slot + 2;
    const y = H - PAD.bottom - height;
    // An empty bucket keeps a thin mark, so the ten buckets still read as a scale.
    const shown = b.value ? Math.max(1, height) : 2;
    chart.append(svg('rect', { x, y: H - PAD.bottom - shown, width: Math.max(1, slot - 4), height: shown, rx: 1, class: b.value ? 'bar' : 'bar none', dataset: { test: 'histogram-bar' } },
      svg('title', { text: `${format(b.start)} – ${format(b.end)}: ${b.value} sessions` })));
    if (b.value) chart.append(svg('text', { x: x + (slot - 4) / 2, y: y - 4, class: 'bar-label', 'text-anchor': 'middle', text: String(b.value) }));
  });
  // Axis labels at the first, middle and last bucket edges keep the chart readable.
  const edges = buckets.length ? [0, Math.floor(buckets.length / 2), buckets.length] : [];
  for (const i of edges) {
    const value = i < buckets.length ? buckets[i].start : hi;
    const anchor = i === 0 ? 'start' : i === buckets.length ? 'end' : 'middle';
    chart.append(svg('text', { x: PAD.left + i * slot, y: H - PAD.bottom + 16, class: 'tick', 'text-anchor': anchor, text: format(value) }));
  }
  if (average !== undefined && hi > lo && average >= lo && average <= hi) {
    const x = PAD.left + ((average - lo) / (hi - lo)) * innerW;
    // Drawn first, behind the bars and their labels, so that it never crosses a number.
    chart.insertBefore(svg('line', { x1: x, x2: x, y1: PAD.top - 6, y2: H - PAD.bottom, class: 'average' }), chart.firstChild);
    chart.append(svg('text', { x: Math.min(Math.max(x, 40), W - 40), y: H - 4, class: 'average-label', 'text-anchor': 'middle', text: `avg ${format(average)}` }));
  }
  return h('figure', { class: 'card histogram-card', dataset: { test: test || 'histogram' } },
    h('figcaption', {}, h('h2', { text: title }), h('span', { class: 'muted', text: `average ${average === undefined ? '—' : format(average)}` })),
    buckets.length ? chart : h('p', { class: 'muted empty', text: 'No sessions in this range.' }));
}
