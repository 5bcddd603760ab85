// Trace links in the session page: an agent's OTLP spans and a call it made through the proxy
// with W3C `traceparent` (and no session header) form one session, whose call panel shows each
// call's trace id, parent and children, and opens them by click and by keyboard; the tree marks
// the calls made under another. Checked on a desktop and on a phone (no sideways scroll).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { start, serve, tempDir, browser, screenshot, overflow, api, until, PHONE } from './harness.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const ROOT_SPAN = '00f067aa0ba90201';
const SESSION = 'links-demo';

let dir;
let mock;
let server;
let b;
let page;
let proxied;
let detail;

function attr(key, value) {
  return { key, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value } };
}

function span(spanId, parent, name, attrs, offsetMs) {
  const start = BigInt(Date.now() - 5_000 + offsetMs) * 1_000_000n;
  return {
    traceId: TRACE, spanId, name, kind: 1,
    ...(parent ? { parentSpanId: parent } : {}),
    startTimeUnixNano: String(start), endTimeUnixNano: String(start + 400_000_000n),
    attributes: attrs, status: { code: 0 },
  };
}

before(async () => {
  dir = tempDir();
  const store = `sqlite://${path.join(dir, 'canopy.db')}`;
  mock = await start(['mock-provider', '--listen', '127.0.0.1:0'], {
    cwd: dir, pattern: /mock provider listening on (http:\/\/127\.0\.0\.1:\d+)/,
  });
  server = await serve({ dir, store, env: { CANOPY_PROVIDERS__OPENAI__BASE_URL: mock.url } });
  // The agent's spans: its root names the session; a tool and a model call ran under it.
  const spans = [
    span('00f067aa0ba90203', ROOT_SPAN, 'lookup_order', [attr('gen_ai.operation.name', 'execute_tool'), attr('gen_ai.tool.name', 'lookup_order')], 100),
    span('00f067aa0ba90202', ROOT_SPAN, 'chat gpt-4o-mini', [
      attr('gen_ai.operation.name', 'chat'), attr('gen_ai.system', 'openai'), attr('gen_ai.request.model', 'gpt-4o-mini'),
      attr('gen_ai.usage.input_tokens', 120), attr('gen_ai.usage.output_tokens', 30)], 600),
    span(ROOT_SPAN, null, 'support-agent', [attr('session.id', SESSION)], 0),
  ];
  const otlp = await fetch(`${server.url}/api/otel/v1/traces`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [attr('service.name', 'agent')] }, scopeSpans: [{ scope: { name: 'test' }, spans }] }] }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(otlp.status, 200);
  // The root step also called a model through the proxy, passing its trace context on.
  const call = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${TRACE}-${ROOT_SPAN}-01` },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(call.status, 200);
  proxied = call.headers.get('helicone-id');
  await call.arrayBuffer();
  detail = await until(async () => {
    const d = await api(`${server.url}/api/v1/session/${SESSION}`, 'GET').catch(() => null);
    return d && d.requests.length === 4 ? d : null;
  }, { what: 'the session with the proxied call in it' });
  b = await browser();
  page = b.page;
}, { timeout: 90_000 });

after(async () => {
  if (b) await b.close();
  if (server) await server.stop();
  if (mock) await mock.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const idOf = (model) => detail.requests.find((r) => r.request_model === model).request_id;
const panel = (id) => page.locator(`[data-test=call-detail][data-request-id="${id}"] [data-test=trace-links]`);

test('the call panel shows the parent and children, and opens them by click', { timeout: 60_000 }, async () => {
  const root = idOf('support-agent');
  assert.equal(detail.requests.find((r) => r.request_id === proxied).parent_request_id, root);
  await page.goto(`${server.url}/ui/sessions/${SESSION}`);
  await page.locator('[data-row=tree][data-kind=call]').first().waitFor();
  await page.click('[data-test=expand-all]');
  // Every call made under the root step is marked in the tree, and says so to screen readers.
  const call = page.locator(`[data-row=tree][data-request-id="${proxied}"]`);
  assert.equal(await call.getAttribute('data-parent-id'), root);
  assert.equal(await call.locator('[data-test=parent-marker]').count(), 1);
  assert.match(await call.getAttribute('aria-label'), /made under data: support-agent/);
  assert.equal(await page.locator('[data-row=tree] [data-test=parent-marker]').count(), 3);
  assert.equal(await page.locator(`[data-row=tree][data-request-id="${root}"] [data-test=parent-marker]`).count(), 0);

  // The proxied call: its trace id and its parent, the root step.
  await call.click();
  await panel(proxied).waitFor();
  assert.equal(await panel(proxied).locator('[data-test=trace-id]').innerText(), TRACE);
  assert.equal(await panel(proxied).locator('[data-test=parent-link]').getAttribute('data-request-id'), root);
  assert.equal(await panel(proxied).locator('[data-test=child-link]').count(), 0);
  assert.equal(await page.locator(`[data-row=tree][data-request-id="${root}"]`).getAttribute('data-relation'), 'parent');
  await screenshot(page, 'links-call');

  // Clicking the parent opens the root step, whose children are the three calls made under it.
  await panel(proxied).locator('[data-test=parent-link]').click();
  await panel(root).waitFor();
  assert.match(page.url(), new RegExp(`call=${root}`));
  const kids = await panel(root).locator('[data-test=child-link]').evaluateAll((els) => els.map((e) => e.dataset.requestId).sort());
  assert.deepEqual(kids, [proxied, idOf('gpt-4o-mini'), idOf('lookup_order')].sort());
  assert.equal(await panel(root).locator('[data-test=parent-link]').count(), 0);
  assert.equal(await page.locator('[data-row=tree][data-relation=child]').count(), 3);
  assert.equal(await page.locator(`[data-row=tree][data-request-id="${root}"]`).getAttribute('aria-selected'), 'true');
  await screenshot(page, 'links-root');

  // Clicking a child opens it.
  await panel(root).locator(`[data-test=child-link][data-request-id="${proxied}"]`).click();
  await panel(proxied).waitFor();
  assert.equal(await call.getAttribute('aria-selected'), 'true');
});

test('parent and children are reached and opened with the keyboard alone', { timeout: 60_000 }, async () => {
  const root = idOf('support-agent');
  const llm = idOf('gpt-4o-mini');
  await page.goto(`${server.url}/ui/sessions/${SESSION}?call=${llm}`);
  await panel(llm).waitFor();
  // Tab from the panel's start to its parent link, and Enter follows it.
  const focused = () => page.evaluate(() => document.activeElement?.dataset?.test || '');
  await page.locator(`[data-test=call-detail][data-request-id="${llm}"]`).focus();
  for (let i = 0; i < 8 && (await focused()) !== 'parent-link'; i++) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'parent-link');
  await page.keyboard.press('Enter');
  await panel(root).waitFor();
  // The focus moved to the opened call's panel, so the next Tabs walk its links.
  assert.equal(await page.evaluate(() => document.activeElement.dataset.requestId), root);
  for (let i = 0; i < 8 && (await focused()) !== 'child-link'; i++) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'child-link');
  const target = await page.evaluate(() => document.activeElement.dataset.requestId);
  await page.keyboard.press('Enter');
  await panel(target).waitFor();
  // Esc closes the panel and the focus returns to that call's row in the tree.
  await page.keyboard.press('Escape');
  await page.locator('[data-test=call-detail]').waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.requestId), target);
  assert.equal(await page.locator('[role=tree] [tabindex="0"]').count(), 1, 'the tree is still one Tab stop');
});

test('the links fit a phone without sideways scroll', { timeout: 60_000 }, async () => {
  const phone = await browser(PHONE);
  try {
    const root = idOf('support-agent');
    await phone.page.goto(`${server.url}/ui/sessions/${SESSION}?call=${proxied}`);
    await phone.page.locator(`[data-test=call-detail][data-request-id="${proxied}"] [data-test=trace-links]`).waitFor();
    await screenshot(phone.page, 'phone-links-call');
    assert.equal(await overflow(phone.page), 0);
    await phone.page.locator('[data-test=parent-link]').click();
    await phone.page.locator(`[data-test=call-detail][data-request-id="${root}"] [data-test=child-link]`).first().waitFor();
    await screenshot(phone.page, 'phone-links-root');
    assert.equal(await overflow(phone.page), 0);
    const box = await phone.page.locator('[data-test=trace-links]').boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390, JSON.stringify(box));
    assert.deepEqual(phone.problems, []);
  } finally {
    await phone.close();
  }
});

test('the links pages logged no error', () => {
  assert.deepEqual(b.problems, []);
  const own = new URL(server.url).origin;
  assert.deepEqual(b.requests.filter((u) => !u.startsWith(own) && !u.startsWith('data:')), []);
});
