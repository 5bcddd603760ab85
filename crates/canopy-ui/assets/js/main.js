// The dashboard's entry point: the frame (header, navigation, theme, key), then the router.

import { h } from './dom.js';
import { start } from './router.js';
import { storedKey, storeKey } from './api.js';
import { mountSessions } from './pages/sessions.js';
import { mountSession } from './pages/session.js';
import { mountUser } from './pages/user.js';
import { mountMetrics } from './pages/metrics.js';

const THEME_STORAGE = 'canopy.theme';
const THEMES = ['auto', 'light', 'dark'];

function applyTheme(theme) {
  if (theme === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

function savedTheme() {
  try {
    return THEMES.includes(localStorage.getItem(THEME_STORAGE)) ? localStorage.getItem(THEME_STORAGE) : 'auto';
  } catch {
    return 'auto';
  }
}

function themeButton() {
  let theme = savedTheme();
  applyTheme(theme);
  const button = h('button', { type: 'button', class: 'ghost', title: 'Colour theme: follows the system, or light, or dark' });
  const label = () => { button.textContent = `Theme: ${theme}`; };
  label();
  button.addEventListener('click', () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    try { localStorage.setItem(THEME_STORAGE, theme); } catch { /* The choice lasts for this page. */ }
    applyTheme(theme);
    label();
  });
  return button;
}

function keyButton() {
  const button = h('button', { type: 'button', class: 'ghost', dataset: { test: 'forget-key' }, title: 'Forget the Canopy key stored in this browser' }, 'Forget key');
  const sync = () => { button.hidden = !storedKey(); };
  sync();
  window.addEventListener('canopy:key', sync);
  button.addEventListener('click', () => {
    storeKey('');
    location.reload();
  });
  return button;
}

function frame() {
  const nav = h('nav', { 'aria-label': 'Main' },
    h('a', { href: '/', dataset: { nav: 'sessions' } }, 'Sessions'),
    h('a', { href: '/ui/metrics', dataset: { nav: 'metrics' } }, 'Metrics'));
  document.addEventListener('canopy:route', (event) => {
    const name = event.detail ? event.detail.name : '';
    for (const link of nav.querySelectorAll('a')) {
      const active = link.dataset.nav === name || (link.dataset.nav === 'sessions' && (name === 'session' || name === 'user'));
      if (active) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  });
  const header = h('header', { class: 'topbar' },
    h('a', { class: 'brand', href: '/' }, h('img', { src: '/ui/assets/favicon.svg', alt: '', width: 22, height: 22 }), 'Canopy'),
    nav,
    h('div', { class: 'spacer' }),
    keyButton(),
    themeButton());
  const main = h('main', { id: 'view', tabindex: '-1' });
  document.getElementById('app').replaceChildren(header, main);
  return main;
}

start(frame(), {
  sessions: mountSessions,
  session: mountSession,
  metrics: mountMetrics,
  user: mountUser,
});
