// Tiny DOM helpers: build elements from data without ever parsing HTML strings, so text from
// the API (bodies, names, tags) can never become markup.

/**
 * Creates an element. `props` may hold `class`, `text`, `dataset`, `style` (an object, set
 * through the CSSOM so the content security policy allows it), `on<event>` handlers and any
 * other attribute; `false` and `null` attributes are left out.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

/** Creates an SVG element, with the same `props` as `h`. */
export function svg(tag, props = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  apply(el, props);
  append(el, children);
  return el;
}

function apply(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' && 'value' in el) el.value = value;
    else if (key === 'checked' || key === 'disabled' || key === 'selected') el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

/** Appends children: nodes, strings (as text), arrays of either; `null` and `false` are skipped. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Removes every child of `el`, then appends `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled figure: a small caption above a large value. */
export function figure(label, value, { sub, test } = {}) {
  return h('div', { class: 'figure', dataset: test ? { figure: test } : undefined },
    h('div', { class: 'figure-label', text: label }),
    h('div', { class: 'figure-value', text: value }),
    sub ? h('div', { class: 'figure-sub', text: sub }) : null);
}

/** A message box for an error, with the API's message. */
export function errorBox(error) {
  return h('div', { class: 'alert', role: 'alert', text: error && error.message ? error.message : String(error) });
}

/** Calls `fn` at most once per `ms` of quiet: for search boxes. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
