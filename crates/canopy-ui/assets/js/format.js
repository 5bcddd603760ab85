// How numbers, money, durations and times read everywhere in the dashboard.

const ints = new Intl.NumberFormat('en-US');

/** A count with thousands separators: 10,000. */
export function int(n) {
  return n === null || n === undefined ? '—' : ints.format(Math.round(n));
}

/** A cost in USD, with as many decimals as small amounts need; `null` (unpriced) is a dash. */
export function money(usd) {
  if (usd === null || usd === undefined || Number.isNaN(usd)) return '—';
  if (usd === 0) return '$0';
  const abs = Math.abs(usd);
  if (abs >= 100) return `$${usd.toFixed(0)}`;
  if (abs >= 1) return `$${usd.toFixed(2)}`;
  if (abs >= 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(6)}`;
}

/** A duration given in milliseconds: 37 ms, 1.13 s, 2 m 05 s, 1 h 02 m. */
export function ms(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const v = Math.max(0, value);
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} s`;
  const s = Math.round(v / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  const m = Math.round(s / 60);
  if (m < 48 * 60) return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`;
  return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
}

/** A duration given in seconds. */
export function seconds(value) {
  return ms(value * 1000);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** A moment in the viewer's time zone: 2026-11-21 21:36:34. */
export function dateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The time of day with milliseconds, for calls inside one session. */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** How long ago: "just now", "5 min ago", "3 h ago", "2 d ago". */
export function ago(iso) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** A long id cut to its first and last characters, for tables; the full id goes in a title. */
export function shortId(id, keep = 10) {
  if (!id || id.length <= keep * 2 + 1) return id || '';
  return `${id.slice(0, keep)}…${id.slice(-4)}`;
}

/** A token count with its unit. */
export function tokens(n) {
  return `${int(n)} tok`;
}

/** A local `datetime-local` input value for a moment (milliseconds since the epoch). */
export function toLocalInput(msSinceEpoch) {
  const d = new Date(msSinceEpoch);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A short label for an HTTP status: 200, 500, or the negative codes Canopy records. */
export function status(code) {
  switch (code) {
    case -1: return 'unreachable';
    case -2: return 'timeout';
    case -3: return 'client left';
    default: return String(code);
  }
}

/** Whether a recorded status is a failure. */
export function failed(code) {
  return code < 200 || code >= 400;
}
