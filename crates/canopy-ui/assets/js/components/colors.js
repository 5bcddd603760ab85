// One colour per session path, the same in the trace's bars and its nodes' swatches.
//
// Every colour reaches 3:1 contrast against the cards of both themes (white, and the dark
// theme's #161a20): its relative luminance is held at 0.2, between the 0.30 that white allows
// and the 0.13 that the dark surface needs. Hues step by the golden angle, so neighbours differ.

const LUMINANCE = 0.2;
const FIRST_HUES = [210, 30, 130, 355, 175, 50, 285, 330, 20, 95];

const channel = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);

/** The relative luminance (WCAG) of an sRGB colour with channels in 0..1. */
export function luminance([r, g, b]) {
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

/** HSL (hue in degrees, saturation and lightness in 0..1) to sRGB channels in 0..1. */
function hsl(hue, s, l) {
  const k = (n) => (n + hue / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  return [0, 8, 4].map((n) => l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1)));
}

/** The colour of hue `hue` whose luminance is `LUMINANCE`, as `#rrggbb`. */
function colorOf(hue) {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (luminance(hsl(hue, 0.6, mid)) < LUMINANCE) lo = mid;
    else hi = mid;
  }
  return `#${hsl(hue, 0.6, lo).map((c) => Math.round(c * 255).toString(16).padStart(2, '0')).join('')}`;
}

/** A path → colour map, in the order paths first appear. */
export function pathColors(paths) {
  const colors = new Map();
  for (const path of paths) {
    if (colors.has(path)) continue;
    const i = colors.size;
    colors.set(path, colorOf(i < FIRST_HUES.length ? FIRST_HUES[i] : (i * 137.508) % 360));
  }
  return colors;
}
