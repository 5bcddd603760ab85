// With keys required, the dashboard asks for a key once, keeps it, and shows the data; a
// refused key is asked for again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { serve, run, tempDir, browser, screenshot, api, until } from './harness.js';

let dir;
let server;
let key;
let b;

before(async () => {
  dir = tempDir();
  const store = `sqlite://${path.join(dir, 'canopy.db')}`;
  const out = await run(['keys', 'create', '--org', 'x', '--store', store], { cwd: dir });
  key = (out.match(/sk-canopy-[0-9a-f]+/) || [])[0];
  assert.ok(key, `no key printed:\n${out}`);
  server = await serve({ dir, store });
  // One session in the key's organisation, so there is data to see.
  const response = await fetch(`${server.url}/api/custom/v1/log`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'Helicone-Session-Id': 'keyed-session', 'Helicone-Session-Name': 'Keyed' },
    body: JSON.stringify({
      providerRequest: { url: 'x', json: { _type: 'tool', toolName: 'lookup' }, meta: { 'Helicone-Session-Path': '/lookup' } },
      providerResponse: { json: { found: true }, status: 200 },
      timing: { startTime: { seconds: Math.floor(Date.now() / 1000) - 60, milliseconds: 0 }, endTime: { seconds: Math.floor(Date.now() / 1000) - 60, milliseconds: 40 } },
    }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(response.status, 200, await response.text());
  await until(async () => (await api(`${server.url}/api/v1/session/query`, 'POST', {}, { key })).length === 1,
    { timeoutMs: 20_000, what: 'the session to be written' });
  b = await browser();
}, { timeout: 90_000 });

after(async () => {
  if (b) await b.close();
  if (server) await server.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the API refuses the dashboard without a key', async () => {
  const response = await fetch(`${server.url}/api/v1/session/query`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(response.status, 401);
  // The page itself is served without a key: it holds no data.
  assert.equal((await fetch(`${server.url}/`)).status, 200);
});

test('a key is asked for once, a wrong one again, and the data shows', { timeout: 60_000 }, async () => {
  const { page } = b;
  await page.goto(`${server.url}/`);
  const dialog = page.locator('[data-test=key-dialog]');
  await dialog.waitFor();
  await screenshot(page, 'auth-prompt');
  await page.fill('[data-test=key-input]', 'sk-canopy-wrong');
  await page.click('[data-test=key-submit]');
  await dialog.locator('.alert', { hasText: 'refused' }).waitFor();
  await page.fill('[data-test=key-input]', key);
  await page.click('[data-test=key-submit]');
  await page.locator('tr[data-session-id="keyed-session"]').waitFor();
  assert.equal(await page.locator('[data-figure=sessions] .figure-value').innerText(), '1');
  assert.equal(await dialog.count(), 0);
  // Only one prompt at a time, even though the list and its figures were asked for together.
  assert.equal(await page.locator('dialog').count(), 0);

  // The key is kept: a reload and a session page ask nothing.
  await page.reload();
  await page.locator('tr[data-session-id="keyed-session"]').waitFor();
  await page.locator('tr[data-session-id="keyed-session"] a').click();
  await page.locator('[data-test=timeline-bar]').first().waitFor();
  assert.equal(await dialog.count(), 0);
  assert.equal(await page.evaluate(() => localStorage.getItem('canopy.apiKey')), key);

  // Forgetting the key asks again.
  await page.click('[data-test=forget-key]');
  await dialog.waitFor();
  assert.deepEqual(b.problems.filter((p) => !p.includes('401')), []);
});
