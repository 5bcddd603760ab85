// Feedback and tags on a session.

import { h, replace, errorBox } from '../dom.js';
import { rateSession, tagSession } from '../api.js';

/** Good / bad buttons showing the session's rating; clicking one rates the session. */
export function feedbackControl(session) {
  let rating = session.feedback;
  const status = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const button = (value, label) => h('button', {
    type: 'button', class: 'seg', 'aria-pressed': String(rating === value), dataset: { feedback: String(value) },
    onclick: async () => {
      try {
        await rateSession(session.session_id, value);
        rating = value;
        sync();
        status.textContent = 'Saved';
      } catch (error) {
        replace(status, errorBox(error));
      }
    },
  }, label);
  const good = button(true, '✓ Good');
  const bad = button(false, '✗ Bad');
  const sync = () => {
    good.setAttribute('aria-pressed', String(rating === true));
    bad.setAttribute('aria-pressed', String(rating === false));
  };
  return h('div', { class: 'row', role: 'group', 'aria-label': 'Session feedback', dataset: { test: 'feedback' } },
    h('span', { class: 'label', text: 'Feedback' }), h('div', { class: 'segmented' }, good, bad), status);
}

/** The session's tags as chips, and a field to add one. */
export function tagsControl(session) {
  const tags = [...(session.tags || [])];
  const chips = h('ul', { class: 'chips', 'aria-label': 'Tags', dataset: { test: 'tags' } });
  const status = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const input = h('input', { type: 'text', placeholder: 'Add a tag', maxlength: 128, 'aria-label': 'New tag', class: 'narrow', dataset: { test: 'tag-input' } });
  const draw = () => replace(chips, tags.length ? tags.map((t) => h('li', { class: 'chip', text: t })) : h('li', { class: 'muted small', text: 'No tags' }));
  const form = h('form', {
    class: 'row',
    onsubmit: async (event) => {
      event.preventDefault();
      const tag = input.value.trim();
      if (!tag) return;
      try {
        await tagSession(session.session_id, tag);
        if (!tags.includes(tag)) tags.push(tag);
        input.value = '';
        status.textContent = '';
        draw();
      } catch (error) {
        replace(status, errorBox(error));
      }
    },
  }, input, h('button', { type: 'submit', dataset: { test: 'tag-add' } }, 'Add'));
  draw();
  return h('div', { class: 'row wrap', role: 'group', 'aria-label': 'Session tags' }, h('span', { class: 'label', text: 'Tags' }), chips, form, status);
}
