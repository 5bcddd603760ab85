// One colour per session path, the same in the timeline, the tree and the legend.

// Mid-tone colours that read on light and dark backgrounds alike.
const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#8cd17d',
];

/** A path → colour map, in the order paths first appear; past the palette, hues keep turning. */
export function pathColors(paths) {
  const colors = new Map();
  for (const path of paths) {
    if (colors.has(path)) continue;
    const i = colors.size;
    colors.set(path, i < PALETTE.length ? PALETTE[i] : `hsl(${Math.round((i * 137.508) % 360)} 55% 55%)`);
  }
  return colors;
}
