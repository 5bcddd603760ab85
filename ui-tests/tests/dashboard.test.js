// The dashboard against the demo's data, with keys off: the sessions list, a session's trace
// (its tree with each row's bar) driven by mouse and by keyboard, the call detail, feedback and
// tags, a replay, the metrics page, and the dark theme.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { demoStack, browser, screenshot, api, until, ROOT } from './harness.js';

let stack;
let b;
let page;
let ticket;
let other;

before(async () => {
  stack = await demoStack();
  [ticket, other] = stack.ids;
  b = await browser();
  page = b.page;
}, { timeout: 90_000 });

after(async () => {
  if (b) await b.close();
  if (stack) await stack.stop();
});

const text = (selector) => page.locator(selector).first().innerText();
const count = (selector) => page.locator(selector).count();

test('the sessions list shows both demo sessions with their figures', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/`);
  await page.locator(`tr[data-session-id="${ticket}"]`).waitFor();
  await page.locator(`tr[data-session-id="${other}"]`).waitFor();
  assert.equal(await text('[data-figure=sessions] .figure-value'), '2');
  assert.match(await text('[data-figure=total-cost] .figure-value'), /^\$0\.00\d+$/);
  assert.match(await text('[data-figure=avg-calls] .figure-value'), /^4\.0$/);
  const row = await page.locator(`tr[data-session-id="${ticket}"]`).innerText();
  assert.match(row, /Support Ticket/);
  assert.match(row, /customer-4521/);
  const cells = await page.locator(`tr[data-session-id="${ticket}"] td`).allInnerTexts();
  assert.equal(cells[4], '6', 'six calls');
  assert.equal(cells[5], '1', 'one error');
  assert.equal(await count('[data-test=key-dialog]'), 0, 'with keys off nothing asks for a key');
  await screenshot(page, 'sessions');

  // Search by id, a filter on calls, and a property filter each narrow the list.
  await page.fill('[data-test=search]', other);
  await page.locator(`tr[data-session-id="${ticket}"]`).waitFor({ state: 'detached' });
  assert.equal(await count('tr[data-session-id]'), 1);
  await page.fill('[data-test=search]', '');
  await page.locator(`tr[data-session-id="${ticket}"]`).waitFor();
  await page.fill('[data-test=min-calls]', '5');
  await page.locator(`tr[data-session-id="${other}"]`).waitFor({ state: 'detached' });
  assert.equal(await count('tr[data-session-id]'), 1);
  assert.match(page.url(), /minCalls=5/);
  await page.fill('[data-test=min-calls]', '');
  // Keys are matched regardless of case (they are stored lower-case).
  await page.fill('input[aria-label="Property key"]', 'Ticket');
  await page.fill('input[aria-label="Property value"]', '4521');
  await page.locator(`tr[data-session-id="${other}"]`).waitFor({ state: 'detached' });
  assert.equal(await count('tr[data-session-id]'), 1);
  // The property and user boxes suggest what the calls carry.
  const datalist = (input) => page.locator(input).evaluate((el) => [...(el.list ? el.list.options : [])].map((o) => o.value));
  const keys = await api(`${stack.url}/api/v1/suggest?field=property_key`, 'GET');
  assert.ok(keys.some((k) => k.value === 'ticket'), JSON.stringify(keys));
  await page.fill('[data-test=prop-key]', '');
  await page.focus('[data-test=prop-key]');
  await until(async () => (await datalist('[data-test=prop-key]')).includes('ticket'), { what: 'property keys suggested' });
  await page.fill('[data-test=prop-key]', 'Ticket');
  await page.focus('[data-test=prop-value]');
  await until(async () => (await datalist('[data-test=prop-value]')).length > 0, { what: 'the key\'s values suggested' });
  await page.fill('[data-test=prop-key]', '');
  await page.focus('[data-test=user-filter]');
  await until(async () => (await datalist('[data-test=user-filter]')).includes('customer-4521'), { what: 'user ids suggested' });
  await page.fill('[data-test=user-filter]', 'customer-4521');
  await page.waitForURL(/user=customer-4521/);
  await page.fill('[data-test=user-filter]', '');
  // A column heading sorts the list by its figure, largest first, then flips.
  await page.fill('input[aria-label="Property key"]', '');
  await page.fill('input[aria-label="Property value"]', '');
  await page.locator(`tr[data-session-id="${other}"]`).waitFor();
  const byCost = await api(`${stack.url}/api/v1/session/query`, 'POST', { sortBy: { key: 'total_cost', direction: 'desc' } });
  const order = () => page.locator('tr[data-session-id]').evaluateAll((rows) => rows.map((r) => r.dataset.sessionId));
  await page.click('th [data-sort=total_cost]');
  await page.waitForURL(/sort=total_cost/);
  await until(async () => JSON.stringify(await order()) === JSON.stringify(byCost.map((r) => r.session_id)), { what: 'the most expensive first' });
  assert.equal(await page.locator('th:has([data-sort=total_cost])').getAttribute('aria-sort'), 'descending');
  await page.click('th [data-sort=total_cost]');
  await page.waitForURL(/dir=asc/);
  await until(async () => JSON.stringify(await order()) === JSON.stringify(byCost.map((r) => r.session_id).reverse()), { what: 'the cheapest first' });
  assert.equal(await page.locator('th:has([data-sort=total_cost])').getAttribute('aria-sort'), 'ascending');
  await page.click('th [data-sort=total_requests]');
  await page.waitForURL(/sort=total_requests/);
  assert.equal(await page.locator('th:has([data-sort=total_requests])').getAttribute('aria-sort'), 'descending');
  await until(async () => (await order())[0] === ticket, { what: 'the six-call session first' });
  // The name picker lists the demo's name.
  assert.match(await page.locator('[data-test=name-picker]').innerText(), /Support Ticket · 2/);
});

test('a session shows its figures and its trace: the tree with one bar per call', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/`);
  await page.locator(`tr[data-session-id="${ticket}"] a.session-link`).click();
  await page.waitForURL(`**/ui/sessions/${ticket}`);
  await page.locator('[data-test=timeline-bar]').first().waitFor();
  const detail = await api(`${stack.url}/api/v1/session/${ticket}`, 'GET');
  assert.equal(await count('[data-test=timeline-bar]'), detail.timeline.length);
  assert.equal(detail.timeline.length, 6);
  assert.equal(await text('[data-figure=calls] .figure-value'), '6');
  assert.equal(await text('[data-figure=tokens] .figure-value'), '1,351');
  assert.equal(await text('[data-figure=cost] .figure-value'), '$0.000939');
  for (const p of ['/triage', '/triage/classify', '/triage/lookup', '/respond', '/respond/draft', '/respond/send']) {
    assert.equal(await count(`[data-row=tree][data-kind=node][data-path="${p}"]`), 1, p);
  }
  assert.equal(await count('[data-row=tree][data-kind=call]'), 6);
  // A node whose only call is an unpriced tool step has no cost, as the step itself.
  assert.equal(await page.locator('[data-row=tree][data-path="/triage/lookup"] .tr-num').first().innerText(), '—');
  // Hovering a bar shows its details.
  const classify = detail.timeline.find((t) => t.path === '/triage/classify').request_id;
  await page.locator(`[data-test=timeline-bar][data-request-id="${classify}"]`).hover();
  await page.locator('[data-test=tooltip]').waitFor({ state: 'visible' });
  assert.match(await text('[data-test=tooltip]'), /\/triage\/classify[\s\S]*claude-haiku-4-5/);
});

test('tree nodes collapse and expand, by mouse and by keyboard', { timeout: 60_000 }, async () => {
  const respond = page.locator('[data-row=tree][data-path="/respond"]');
  assert.equal(await respond.getAttribute('aria-expanded'), 'true');
  await respond.click();
  assert.equal(await respond.getAttribute('aria-expanded'), 'false');
  assert.equal(await count('[data-row=tree][data-kind=call]'), 3, 'the three calls under /respond are hidden');
  assert.equal(await count('[data-row=tree][data-path="/respond/draft"]'), 0);
  await respond.focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('[data-row=tree][data-path="/respond"]').getAttribute('aria-expanded'), 'true');
  assert.equal(await count('[data-row=tree][data-kind=call]'), 6);
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), '/respond/draft');
  await page.click('[data-test=collapse-all]');
  assert.equal(await count('[data-row=tree][data-kind=call]'), 0);
  assert.equal(await count('[data-row=tree][data-kind=node]'), 3, 'the session and its two top nodes');
  await page.click('[data-test=expand-all]');
  assert.equal(await count('[data-row=tree][data-kind=call]'), 6);
});

test('the trace is one Tab stop, driven by the arrow keys, Enter and Esc', { timeout: 60_000 }, async () => {
  const detail = await api(`${stack.url}/api/v1/session/${ticket}`, 'GET');
  await page.goto(`${stack.url}/ui/sessions/${ticket}`);
  const tree = page.locator('[role=tree]');
  await tree.locator('[role=treeitem]').first().waitFor();
  assert.equal(await tree.getAttribute('aria-label'), 'Session trace');
  // Levels and expanded state: the session is level 1, its paths below it, calls below those.
  const level = (sel) => page.locator(sel).getAttribute('aria-level');
  assert.equal(await level('[data-row=tree][data-path="/"]'), '1');
  assert.equal(await level('[data-row=tree][data-path="/triage"]'), '2');
  assert.equal(await level('[data-row=tree][data-path="/triage/classify"]'), '3');
  const classify = detail.timeline.find((t) => t.path === '/triage/classify').request_id;
  assert.equal(await level(`[data-row=tree][data-request-id="${classify}"]`), '4');
  assert.equal(await page.locator('[data-row=tree][data-path="/triage"]').getAttribute('aria-expanded'), 'true');
  assert.equal(await page.locator(`[data-row=tree][data-request-id="${classify}"]`).getAttribute('aria-expanded'), null);

  // From the search box, Tab passes the toolbar and then enters the tree once, on its first row.
  await page.focus('[data-test=trace-search]');
  const inTree = () => page.evaluate(() => document.activeElement.getAttribute('role') === 'treeitem');
  let tabs = 0;
  while (!(await inTree()) && tabs < 12) {
    await page.keyboard.press('Tab');
    tabs += 1;
  }
  assert.ok(await inTree(), 'Tab reaches the tree');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), '/');
  assert.equal(await page.locator('[role=tree] [tabindex="0"]').count(), 1, 'one row holds the Tab stop');
  await page.keyboard.press('Tab');
  assert.equal(await inTree(), false, 'one more Tab leaves the tree');
  await page.keyboard.press('Shift+Tab');
  assert.ok(await inTree());

  // Down to /triage/classify's call, Enter opens it, Esc closes it and the focus stays there.
  const focusedId = () => page.evaluate(() => document.activeElement.dataset.requestId || document.activeElement.dataset.path);
  await page.keyboard.press('ArrowDown');
  assert.equal(await focusedId(), '/triage');
  for (let i = 0; i < 4 && (await focusedId()) !== '/triage/classify'; i++) await page.keyboard.press('ArrowDown');
  assert.equal(await focusedId(), '/triage/classify');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.locator('[data-row=tree][data-path="/triage/classify"]').getAttribute('aria-expanded'), 'false');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('[data-row=tree][data-path="/triage/classify"]').getAttribute('aria-expanded'), 'true');
  await page.keyboard.press('ArrowRight');
  assert.equal(await focusedId(), classify);
  await page.keyboard.press('Enter');
  await page.locator(`[data-test=call-detail][data-request-id="${classify}"] [data-test=conversation]`).waitFor();
  assert.equal(await page.locator('[role=tree] [tabindex="0"]').count(), 1);
  await page.keyboard.press('Escape');
  await page.locator('[data-test=call-detail]').waitFor({ state: 'detached' });
  assert.equal(await focusedId(), classify, 'the focus returns to the call');
  assert.doesNotMatch(page.url(), /call=[0-9a-f]/);
  await page.keyboard.press('End');
  await page.keyboard.press('Home');
  assert.equal(await focusedId(), '/');
});

test('the trace searches by path or model, shows errors only, and jumps to the next error', { timeout: 60_000 }, async () => {
  const detail = await api(`${stack.url}/api/v1/session/${ticket}`, 'GET');
  const calls = () => page.locator('[data-row=tree][data-kind=call]');
  await page.fill('[data-test=trace-search]', 'haiku');
  await until(async () => (await calls().count()) === detail.requests.filter((r) => /haiku/.test(r.model || '')).length, { what: 'haiku calls only' });
  assert.ok(await calls().count() >= 1);
  await page.fill('[data-test=trace-search]', '/respond/');
  await until(async () => (await calls().count()) === detail.timeline.filter((t) => t.path.startsWith('/respond/')).length, { what: '/respond/ calls only' });
  assert.equal(await count('[data-row=tree][data-path="/triage"]'), 0);
  await page.fill('[data-test=trace-search]', '');
  await page.check('[data-test=errors-only]');
  const failed = detail.timeline.filter((t) => t.status >= 400);
  assert.equal(failed.length, 1);
  await until(async () => (await calls().count()) === 1, { what: 'the failed call only' });
  assert.equal(await calls().first().getAttribute('data-request-id'), failed[0].request_id);
  await page.uncheck('[data-test=errors-only]');
  await until(async () => (await calls().count()) === 6, { what: 'every call again' });

  await page.click('[data-test=next-error]');
  await page.locator(`[data-test=call-detail][data-request-id="${failed[0].request_id}"]`).waitFor();
  const row = page.locator(`[data-row=tree][data-request-id="${failed[0].request_id}"]`);
  assert.equal(await row.getAttribute('aria-selected'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.requestId), failed[0].request_id);

  // The open call's style wins over hover.
  const plain = await page.evaluate(() => getComputedStyle(document.body).getPropertyValue('--select'));
  await row.hover();
  const hovered = await row.evaluate((el) => getComputedStyle(el).backgroundColor);
  const expected = await page.evaluate((c) => { const d = document.createElement('div'); d.style.background = c; document.body.append(d); const v = getComputedStyle(d).backgroundColor; d.remove(); return v; }, plain.trim());
  assert.equal(hovered, expected);

  // Every bar reaches 3:1 against the card behind it.
  const ratios = await page.evaluate(() => {
    const lum = (rgb) => {
      const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map((v) => Number(v) / 255)
        .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const card = lum(getComputedStyle(document.querySelector('.trace-card')).backgroundColor);
    return [...document.querySelectorAll('.tr-bar')].map((el) => {
      const l = lum(getComputedStyle(el).backgroundColor);
      return (Math.max(l, card) + 0.05) / (Math.min(l, card) + 0.05);
    });
  });
  assert.ok(ratios.length >= 6);
  for (const r of ratios) assert.ok(r >= 3, `a bar's contrast is ${r.toFixed(2)}`);
  await page.keyboard.press('Escape');
  await page.locator('[data-test=call-detail]').waitFor({ state: 'detached' });
});

test('a call opens with its messages, tokens and cost, and its raw JSON on demand', { timeout: 60_000 }, async () => {
  const detail = await api(`${stack.url}/api/v1/session/${ticket}`, 'GET');
  const classify = detail.timeline.find((t) => t.path === '/triage/classify').request_id;
  await page.locator(`[data-row=tree][data-request-id="${classify}"]`).click();
  const panel = page.locator(`[data-test=call-detail][data-request-id="${classify}"]`);
  await panel.locator('[data-test=conversation]').waitFor();
  assert.equal(await panel.locator('[data-test=message][data-role=system]').count(), 1);
  assert.match(await panel.locator('[data-test=message][data-role=user]').innerText(), /cracked screen/);
  assert.match(await panel.locator('[data-test=message].output').innerText(), /claude-haiku-4-5 reply/);
  assert.equal(await panel.locator('[data-figure=prompt-tokens] .figure-value').innerText(), '1,072');
  assert.equal(await panel.locator('[data-figure=completion-tokens] .figure-value').innerText(), '14');
  assert.equal(await panel.locator('[data-figure=call-cost] .figure-value').innerText(), '$0.000220');
  assert.match(page.url(), new RegExp(`call=${classify}`));
  // The trace marks the call as the open one.
  assert.equal(await count(`[data-row=tree].selected[aria-selected=true][data-request-id="${classify}"]`), 1);
  assert.equal(await count('[data-row=tree][aria-selected=true]'), 1);
  await page.evaluate(() => window.scrollTo(0, 0));
  const file = await screenshot(page, 'session');
  assert.ok(statSync(file).size < 400_000, 'the README screenshot stays small');
  // The README's picture is refreshed only when asked, so a test run leaves the tree clean.
  if (process.env.CANOPY_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(path.join(ROOT, 'docs', 'images'), { recursive: true });
    copyFileSync(file, path.join(ROOT, 'docs', 'images', 'session.png'));
  }

  await panel.locator('[data-tab="Request JSON"]').click();
  assert.match(await panel.locator('[data-test=raw-json]').innerText(), /"messages": \[/);
  await panel.locator('[data-tab="Response JSON"]').click();
  assert.match(await panel.locator('[data-test=raw-json]').innerText(), /"cache_read_input_tokens": 1024/);
  await panel.locator('[data-tab=Details]').click();
  const tokens = await panel.locator('[data-test=tokens-table]').innerText();
  assert.match(tokens, /cache reads\s+1,024/);
  assert.match(tokens, /Cost\s+\$0\.000220/);
  // Stored headers are shown; the credential reads as redacted.
  const details = await panel.innerText();
  assert.match(details, /anthropic-version/);
  assert.doesNotMatch(details, /sk-ant|sk-demo/);

  // A streamed call reads as one assistant message, rebuilt from its events.
  const stream = detail.requests.find((r) => r.is_stream).request_id;
  await page.locator(`[data-test=timeline-bar][data-request-id="${stream}"]`).click();
  const streamed = page.locator(`[data-test=call-detail][data-request-id="${stream}"]`);
  assert.match(await streamed.locator('[data-test=message].output').innerText(), /gpt-4o reply [0-9a-f]+: Write a reply/);
  // The failed call says why.
  const failed = detail.timeline.find((t) => t.status === 500).request_id;
  await page.locator(`[data-row=tree][data-request-id="${failed}"]`).click();
  await page.locator(`[data-test=call-detail][data-request-id="${failed}"] .alert`, { hasText: 'error 500 requested' }).first().waitFor();
});

test('the whole conversation reads as one thread, each message once', { timeout: 60_000 }, async () => {
  const detail = await api(`${stack.url}/api/v1/session/${ticket}`, 'GET');
  await page.goto(`${stack.url}/ui/sessions/${ticket}`);
  await page.locator('[data-test=thread-card] summary').click();
  const groups = page.locator('[data-test=thread-call]');
  await groups.first().waitFor();
  assert.equal(await groups.count(), detail.requests.length);
  // In start order.
  const order = [...detail.requests].sort((a, b) => (a.request_created_at < b.request_created_at ? -1 : 1)).map((r) => r.request_id);
  assert.deepEqual(await groups.evaluateAll((els) => els.map((e) => e.dataset.requestId)), order);
  // The customer's message is shown once, however many calls sent it again.
  const cracked = page.locator('[data-test=thread] [data-test=message][data-role=user]', { hasText: 'cracked screen' });
  assert.equal(await cracked.count(), 1);
  assert.ok(await page.locator('[data-test=thread]').getByText(/earlier messages? sent again/).count() >= 1);
  // A call opens from the thread.
  const last = order[order.length - 1];
  await page.locator(`[data-test=thread-call][data-request-id="${last}"] button`, { hasText: 'Open call' }).click();
  await page.locator(`[data-test=call-detail][data-request-id="${last}"]`).waitFor();
  await page.keyboard.press('Escape');
});

test('a session page fetches its data once, early and without bodies; the thread fetches bodies when opened', { timeout: 60_000 }, async () => {
  const sessionRequests = () => b.requests.filter((u) => u.includes(`/api/v1/session/${ticket}`));
  const before = sessionRequests().length;
  await page.goto(`${stack.url}/ui/sessions/${ticket}`);
  await page.locator('[data-test=session-figures]').waitFor();
  const asked = sessionRequests().slice(before);
  assert.deepEqual(asked.map((u) => new URL(u).search), [''], `one request, no bodies: ${asked}`);
  await page.locator('[data-test=thread-card] summary').click();
  await page.locator('[data-test=thread-call]').first().waitFor();
  const later = sessionRequests().slice(before + 1);
  assert.deepEqual(later.map((u) => new URL(u).search), ['?include_bodies=true'], `${later}`);
});

test('feedback and a tag are saved on the session', { timeout: 60_000 }, async () => {
  await page.click('[data-test=feedback] [data-feedback=true]');
  await page.locator('[data-test=feedback] [data-feedback=true][aria-pressed=true]').waitFor();
  await page.fill('[data-test=tag-input]', 'needs-review');
  await page.click('[data-test=tag-add]');
  await page.locator('[data-test=tags] .chip', { hasText: 'needs-review' }).waitFor();
  await page.reload();
  await page.locator('[data-test=tags] .chip', { hasText: 'needs-review' }).waitFor();
  assert.equal(await page.locator('[data-test=feedback] [data-feedback=true]').getAttribute('aria-pressed'), 'true');
  const detail = await api(`${stack.url}/api/v1/session/${ticket}`, 'GET');
  assert.deepEqual(detail.session.tags, ['needs-review']);
  assert.equal(detail.session.feedback, true);
});

test('a replay with another model is compared side by side, step by step', { timeout: 120_000 }, async () => {
  await page.click('[data-test=replay-open]');
  await page.locator('[data-test=replay-dialog]').waitFor();
  await page.fill('[data-test=replay-model]', 'gpt-4o');
  await page.selectOption('[data-test=replay-mode]', 'append');
  await page.fill('[data-test=replay-system]', 'Answer as a senior agent.');
  await page.click('[data-test=replay-submit]');
  await page.locator('[data-test=replay-result]').waitFor({ timeout: 90_000 });
  assert.equal(await count('[data-test=replay-step]'), 6);
  const replayed = page.locator('[data-test=replay-step] [data-side=replay]');
  assert.equal(await replayed.count(), 5, 'every LLM call is replayed; the tool step is not');
  assert.match(await replayed.first().innerText(), /gpt-4o/);
  assert.match(await page.locator('[data-test=replay-step]', { hasText: 'tool' }).innerText(), /not replayed|Not replayed/);
  const totals = await text('[data-test=replay-totals]');
  assert.match(totals, /Cost[\s\S]*Completion tokens/);
  // The totals and the cards count the same steps, and say which are which.
  assert.match(totals, /Model calls\s+5\s+5/);
  assert.equal(await text('[data-test=replay-counts]'), '6 steps: 5 model calls replayed, 1 tool or data step counted but not re-run. The totals compare the 5 replayed calls.');
  assert.match(totals, /Wall time[\s\S]*Latency \(sum\)/);
  await screenshot(page, 'replay');
  // The replay is a session of its own, one click away.
  await page.click('[data-test=replay-link]');
  await page.waitForURL(/\/ui\/sessions\/(?!demo-ticket)/);
  await page.locator('[data-test=timeline-bar]').first().waitFor();
  assert.match(await text('h1'), /Replay of Support Ticket/);
  // The replay links back to the session it replays.
  assert.equal(await page.locator('[data-test=replay-of-link]').innerText(), ticket);
});

test('replays are marked in the list and can be left out of its figures', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/?range=all`);
  const replay = page.locator('tr[data-session-id]', { hasText: 'Replay of Support Ticket' });
  await replay.locator('[data-test=replay-badge]').waitFor();
  assert.equal(await count(`tr[data-session-id="${ticket}"] [data-test=replay-badge]`), 0);
  assert.equal(await text('[data-figure=sessions] .figure-value'), '3');
  await page.check('[data-test=no-replays]');
  await page.waitForURL(/noReplays=1/);
  await replay.waitFor({ state: 'detached' });
  await until(async () => (await text('[data-figure=sessions] .figure-value')) === '2', { what: 'the figures without the replay' });
  assert.match(await text('[data-figure=avg-calls] .figure-value'), /^4\.0$/);
  await page.uncheck('[data-test=no-replays]');
  await replay.waitFor();
});

test('a user shows their sessions, cost and turns by day', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/`);
  await page.locator(`tr[data-session-id="${ticket}"] [data-test=user-link]`, { hasText: 'customer-4521' }).click();
  await page.waitForURL('**/ui/users/customer-4521');
  await page.locator('[data-test=user-session-table] tbody tr').first().waitFor();
  const sessions = await api(`${stack.url}/api/v1/analytics/sessions?entity_type=user&entity_id=customer-4521`, 'GET');
  assert.ok(sessions.length >= 1);
  assert.equal(await text('[data-figure=user-sessions] .figure-value'), String(sessions.length));
  assert.equal(await count('[data-test=user-session-table] tbody tr'), sessions.length);
  const turns = sessions.reduce((sum, s) => sum + s.turn_count, 0) / sessions.length;
  assert.equal(await text('[data-figure=user-turns] .figure-value'), turns.toFixed(1));
  const days = new Set(sessions.map((s) => s.first_request_at.slice(0, 10)));
  assert.equal(await count('[data-test=user-days] tbody tr'), days.size);
  assert.equal(await page.locator('nav a[data-nav=sessions]').getAttribute('aria-current'), 'page');
  await page.locator(`[data-test=user-session-table] tr[data-session-id="${ticket}"] a.session-link`).click();
  await page.waitForURL(`**/ui/sessions/${ticket}`);
  await page.locator('[data-test=user-link]', { hasText: 'customer-4521' }).waitFor();
});

test('the metrics page shows three histograms and the names compared', { timeout: 60_000 }, async () => {
  await page.click('nav a[data-nav=metrics]');
  await page.waitForURL('**/ui/metrics');
  await page.locator('[data-test=histogram-bar]').first().waitFor();
  for (const name of ['histogram-calls', 'histogram-duration', 'histogram-cost']) {
    assert.equal(await count(`[data-test=${name}]`), 1, name);
    assert.ok(await page.locator(`[data-test=${name}] rect.bar:not(.none)`).count() >= 1, name);
    assert.match(await text(`[data-test=${name}] figcaption`), /average/);
  }
  const names = await text('[data-test=names-table]');
  assert.match(names, /Support Ticket/);
  assert.match(names, /Replay of Support Ticket/);
  await page.check('[data-test=no-replays]');
  await page.waitForURL(/noReplays=1/);
  await until(async () => !/Replay of/.test(await text('[data-test=names-table]')), { what: 'the names without the replay' });
  await page.uncheck('[data-test=no-replays]');
  await until(async () => /Replay of/.test(await text('[data-test=names-table]')), { what: 'the replay back' });
  await page.check('text=Interquartile cut');
  await page.waitForURL(/iqr=1/);
  await page.locator('[data-test=histogram-bar]').first().waitFor();
  await screenshot(page, 'metrics');
  // One name's paths: how often each runs, how long and how costly, over its sessions.
  assert.equal(await count('[data-test=paths-card]:visible'), 0);
  await page.selectOption('[data-test=metrics-name]', 'Support Ticket');
  const draft = page.locator('[data-test=paths-table] tr[data-path="/respond/draft"]');
  await draft.waitFor();
  const perPath = await api(`${stack.url}/api/v1/session/paths/query`, 'POST', { nameEquals: 'Support Ticket' });
  const expected = perPath.find((p) => p.path === '/respond/draft');
  assert.ok(expected.sessions >= 1 && expected.calls >= expected.sessions);
  const cells = await draft.locator('th, td').allInnerTexts();
  assert.equal(cells[1], String(expected.sessions));
  assert.equal(cells[2], expected.calls_per_session.toFixed(1));
  assert.match(await text('[data-test=paths-card] h2'), /Paths of Support Ticket/);
});

test('the session page reads in dark mode too', { timeout: 60_000 }, async () => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${stack.url}/ui/sessions/${ticket}`);
  await page.locator('[data-test=timeline-bar]').first().waitFor();
  await page.locator('[data-row=tree][data-kind=call]').nth(1).click();
  await page.locator('[data-test=conversation]').waitFor();
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, bl] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + bl < 120, `a dark background, got ${background}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'session-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('the page loaded nothing from elsewhere and logged no error', () => {
  const foreign = b.requests.filter((u) => !u.startsWith(stack.url) && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
  assert.deepEqual(b.problems, []);
});
