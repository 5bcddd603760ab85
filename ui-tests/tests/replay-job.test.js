// Replay as a job, in the browser: the dialog shows progress ("n of N") and a Cancel button
// while the calls run, then what was done; the comparison is saved, so it is reached later from
// both sessions and survives a reload.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { demoStack, browser, screenshot, api, until } from './harness.js';

const SESSION = 'slow-agent';
const CALLS = 4;

let stack;
let b;
let page;
let replayId;

before(async () => {
  stack = await demoStack();
  // A session of four calls, one after another.
  for (let i = 0; i < CALLS; i++) {
    const response = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'Helicone-Session-Id': SESSION,
        'Helicone-Session-Name': 'Slow Agent',
        'Helicone-Session-Path': `/step/${i}`,
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `step ${i}` }] }),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  }
  await until(async () => (await api(`${stack.url}/api/v1/session/${SESSION}`, 'GET')).session.total_requests === CALLS,
    { what: 'the session recorded' });
  b = await browser();
  page = b.page;
}, { timeout: 90_000 });

after(async () => {
  if (b) await b.close();
  if (stack) await stack.stop();
});

const text = (selector) => page.locator(selector).first().innerText();

test('a replay shows its progress, and Cancel stops it with what was done', { timeout: 90_000 }, async () => {
  await page.goto(`${stack.url}/ui/sessions/${SESSION}`);
  await page.click('[data-test=replay-open]');
  await page.locator('[data-test=replay-dialog]').waitFor();
  // Each replayed call takes the mock provider a second: the header goes with the replay only.
  await page.click('[data-test=replay-dialog] details summary');
  await page.fill('input[aria-label="Header name"]', 'x-mock-latency-ms');
  await page.fill('input[aria-label="Header value"]', '1000');
  await page.click('[data-test=replay-submit]');
  await page.locator('[data-test=replay-progress]').waitFor();
  assert.match(await text('[data-test=replay-progress-text]'), new RegExp(`^[0-3] of ${CALLS}$`));
  assert.equal(await page.locator('[data-test=replay-dialog] progress').getAttribute('max'), String(CALLS));
  await screenshot(page, 'replay-progress');
  // The bar moves while the job runs.
  await until(async () => (await text('[data-test=replay-progress-text]')) === `1 of ${CALLS}`, { what: 'one call finished' });
  await page.click('[data-test=replay-cancel]');
  await page.locator('[data-test=replay-result]').waitFor({ timeout: 30_000 });
  assert.match(await text('[data-test=replay-cancelled]'), new RegExp(`^Cancelled after [12] of ${CALLS} model calls`));
  const counts = await text('[data-test=replay-counts]');
  assert.match(counts, new RegExp(`^${CALLS} steps: [12] of ${CALLS} model calls replayed\\.`));
  assert.match(await text('[data-test=replay-totals]'), /Wall time[\s\S]*Latency \(sum\)/);
  assert.equal(await page.locator('[data-test=replay-step] [data-side=replay]').count() < CALLS, true);
  const href = await page.locator('[data-test=replay-comparison-link]').getAttribute('href');
  replayId = decodeURIComponent(href.match(/^\/ui\/sessions\/([^/?]+)\?comparison=1$/)[1]);
  // Only what was sent is recorded.
  const replay = await api(`${stack.url}/api/v1/session/${encodeURIComponent(replayId)}`, 'GET');
  assert.ok(replay.session.total_requests < CALLS, JSON.stringify(replay.session));
  await screenshot(page, 'replay-cancelled');
});

test('the comparison is saved and reached from both sessions, also after a reload', { timeout: 60_000 }, async () => {
  assert.ok(replayId, 'the previous test made a replay');
  await page.goto(`${stack.url}/ui/sessions/${SESSION}`);
  const row = page.locator('[data-test=replays] [data-test=replay-row]');
  await row.first().waitFor();
  assert.equal(await row.count(), 1);
  await row.locator('[data-test=replay-comparison-link]').click();
  await page.waitForURL(`**/ui/sessions/${encodeURIComponent(replayId)}?comparison=1`);
  await page.locator('[data-test=replay-result]').waitFor();
  assert.match(await text('[data-test=replay-counts]'), new RegExp(`^${CALLS} steps: [12] of ${CALLS} model calls replayed\\.`));
  await page.reload();
  await page.locator('[data-test=replay-result]').waitFor();
  await page.click('[data-test=replay-dialog] button[aria-label=Close]');
  // The replay links to the session it replays and to its comparison.
  assert.equal(await text('[data-test=replay-of-link]'), SESSION);
  await page.click('[data-test=comparison-open]');
  await page.locator('[data-test=replay-result]').waitFor();
  await page.click('[data-test=replay-original-link]');
  await page.waitForURL(`**/ui/sessions/${SESSION}`);
  await page.locator('[data-test=replays] [data-test=replay-row]').first().waitFor();
  assert.deepEqual(b.problems, []);
});
