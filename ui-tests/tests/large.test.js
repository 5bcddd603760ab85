// A session of 10,000 calls stays light: the trace renders only the rows in view, and
// scrolling or the keyboard brings the rest.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { serve, tempDir, browser, screenshot, api, until } from './harness.js';

const CALLS = 10_000;
const PATHS = 50;
const CONCURRENCY = 32;

let dir;
let server;
let b;

/** Records `CALLS` tool steps in session `big` through the custom log, `CONCURRENCY` at a time. */
async function fill(url) {
  const base = Math.floor(Date.now() / 1000) - 3 * 3600;
  let next = 0;
  const worker = async () => {
    while (next < CALLS) {
      const i = next++;
      const seconds = base + Math.floor(i / 4);
      const milliseconds = (i % 4) * 250;
      const response = await fetch(`${url}/api/custom/v1/log`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Helicone-Session-Id': 'big', 'Helicone-Session-Name': 'Big batch' },
        body: JSON.stringify({
          providerRequest: { url: 'x', json: { _type: 'tool', toolName: `t${i % 7}`, input: { i } }, meta: { 'Helicone-Session-Path': `/step/${i % PATHS}` } },
          providerResponse: { json: { ok: true, i }, status: i % 997 === 0 ? 500 : 200 },
          timing: { startTime: { seconds, milliseconds }, endTime: { seconds, milliseconds: milliseconds + 5 + (i % 40) } },
        }),
        signal: AbortSignal.timeout(30_000),
      });
      if (!response.ok) throw new Error(`log ${i}: ${response.status} ${await response.text()}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

before(async () => {
  dir = tempDir();
  server = await serve({ dir, store: `sqlite://${path.join(dir, 'canopy.db')}` });
  await fill(server.url);
  await until(async () => {
    const rows = await api(`${server.url}/api/v1/session/query`, 'POST', { search: 'big', limit: 1 });
    return rows.length === 1 && rows[0].total_requests === CALLS;
  }, { timeoutMs: 60_000, what: 'all 10,000 calls to be written' });
  b = await browser();
}, { timeout: 180_000 });

after(async () => {
  if (b) await b.close();
  if (server) await server.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const elements = () => b.page.evaluate(() => document.getElementsByTagName('*').length);
const rows = (kind) => b.page.locator(`[data-row=${kind}]`).count();

test('a 10,000-call session opens without 10,000 rows in the DOM', { timeout: 120_000 }, async (t) => {
  const { page } = b;
  const started = Date.now();
  await page.goto(`${server.url}/ui/sessions/big`);
  await page.locator('[data-test=timeline-bar]').first().waitFor({ timeout: 60_000 });
  t.diagnostic(`the page showed its first bar ${Date.now() - started} ms after navigation`);
  assert.equal(await page.locator('[data-figure=calls] .figure-value').innerText(), '10,000');
  const treeRows = await rows('tree');
  const total = await elements();
  t.diagnostic(`trace rows ${treeRows}, elements ${total}`);
  assert.ok(treeRows > 5 && treeRows < 100, `trace rows in the DOM: ${treeRows}`);
  assert.ok(total < 3000, `elements in the page: ${total}`);
  await screenshot(page, 'large-session');

  // Zooming into the first stretch of time keeps the rows windowed and can be undone.
  const axis = await page.locator('.tl-ticks').boundingBox();
  await page.mouse.move(axis.x + 2, axis.y + axis.height / 2);
  await page.mouse.down();
  await page.mouse.move(axis.x + axis.width / 20, axis.y + axis.height / 2, { steps: 4 });
  await page.mouse.up();
  await page.locator('[data-test=zoom-reset]').waitFor();
  assert.ok(await rows('tree') < 100);
  await page.click('[data-test=zoom-reset]');
  await page.locator('[data-test=zoom-reset]').waitFor({ state: 'hidden' });
});

test('the trace scrolls to its last row, and the keyboard walks it', { timeout: 120_000 }, async () => {
  const { page } = b;
  await page.click('[data-test=expand-all]');
  await page.locator('.tr-rows').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  // Every node is open: the session, /step, its 50 children and 10,000 calls.
  const last = page.locator(`[data-row=tree][data-index="${CALLS + PATHS + 1}"]`);
  await last.waitFor();
  assert.ok(await rows('tree') < 100, 'the expanded trace is still windowed');
  assert.ok(await elements() < 3000);
  await last.locator('[data-test=timeline-bar]').click();
  await page.locator('[data-test=call-detail] [data-test=conversation]').waitFor({ timeout: 30_000 });

  // The clicked row holds the Tab stop; Home goes to the top and End back to the last row.
  assert.equal(await page.locator('[role=tree] [tabindex="0"]').count(), 1);
  await last.focus();
  await page.keyboard.press('Home');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), '0');
  await page.keyboard.press('End');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), String(CALLS + PATHS + 1));
  await page.keyboard.press('PageUp');
  assert.ok(Number(await page.evaluate(() => document.activeElement.dataset.index)) < CALLS + PATHS + 1);
  assert.ok(await rows('tree') < 100);

  // Next error walks the failed calls in start order.
  await page.click('[data-test=next-error]');
  const first = await page.evaluate(() => document.activeElement.dataset.requestId);
  assert.ok(first);
  await page.locator(`[data-test=call-detail][data-request-id="${first}"]`).waitFor();
  await page.click('[data-test=next-error]');
  const second = await page.evaluate(() => document.activeElement.dataset.requestId);
  assert.notEqual(second, first);
  assert.equal(await page.locator(`[data-row=tree][data-request-id="${second}"]`).getAttribute('aria-selected'), 'true');
  assert.deepEqual(b.problems, []);
});
