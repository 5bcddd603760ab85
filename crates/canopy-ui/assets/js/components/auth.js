// The key prompt: shown when the API answers 401, once, until a key is entered.

import { h } from '../dom.js';

/** Asks for a Canopy key in a modal dialog; resolves to the key entered. */
export function askForKey(message) {
  return new Promise((resolve) => {
    const input = h('input', {
      type: 'password', name: 'key', autocomplete: 'off', required: true, spellcheck: 'false',
      placeholder: 'sk-canopy-…', 'aria-label': 'Canopy key', dataset: { test: 'key-input' },
    });
    const form = h('form', { method: 'dialog', class: 'stack' },
      h('h2', { text: 'This Canopy needs a key' }),
      h('p', { class: 'muted' }, 'Enter a key made with ', h('code', { text: 'canopy keys create --org NAME' }),
        '. It is kept in this browser and sent as ', h('code', { text: 'Authorization: Bearer …' }), ' to /api.'),
      message ? h('p', { class: 'alert', role: 'alert', text: message }) : null,
      input,
      h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'primary', dataset: { test: 'key-submit' } }, 'Use key')));
    const dialog = h('dialog', { class: 'key-dialog', 'aria-label': 'Canopy key', dataset: { test: 'key-dialog' } }, form);
    // The dialog cannot be dismissed without a key: nothing can be shown without one.
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    form.addEventListener('submit', (event) => {
      const key = input.value.trim();
      if (!key) {
        event.preventDefault();
        return;
      }
      dialog.close();
      dialog.remove();
      resolve(key);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
