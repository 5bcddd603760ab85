// Client-side routes under /ui (and / for the sessions list). The server answers every one of
// them with the same page; this module picks the view from the path and keeps the query string
// as each view's state, so reloading or sharing a URL shows the same thing.

const routes = [
  { name: 'sessions', pattern: /^\/(?:ui\/?(?:sessions\/?)?)?$/ },
  { name: 'session', pattern: /^\/ui\/sessions\/([^/]+)\/?$/ },
  { name: 'metrics', pattern: /^\/ui\/metrics\/?$/ },
  { name: 'user', pattern: /^\/ui\/users\/([^/]+)\/?$/ },
];

let current = null;
let views = {};
let outlet = null;

/** The view for `path` and its parameters, or `null`. */
export function match(path) {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m) return { name: route.name, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

/** Shows the view for `url`, adding it to the history unless `replace`. */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

/** The current query string's parameters. */
export function query() {
  return new URLSearchParams(location.search);
}

/** Rewrites the query string in place (no new history entry, no re-render). */
export function setQuery(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== '' && value !== null && value !== undefined && value !== false) params.set(key, String(value));
  }
  const search = params.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}`);
}

function render() {
  if (current && current.unmount) current.unmount();
  current = null;
  outlet.replaceChildren();
  const found = match(location.pathname);
  document.dispatchEvent(new CustomEvent('canopy:route', { detail: found }));
  if (!found) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = 'No such page. ';
    const a = document.createElement('a');
    a.href = '/';
    a.textContent = 'Back to sessions';
    p.append(a);
    outlet.append(p);
    return;
  }
  current = views[found.name](outlet, ...found.params) || null;
  outlet.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

/** Starts routing into `root` with `pages` (name → mount function returning `{unmount}`). */
export function start(root, pages) {
  outlet = root;
  views = pages;
  window.addEventListener('popstate', render);
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !match(url.pathname)) return;
    event.preventDefault();
    if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
  });
  render();
}
