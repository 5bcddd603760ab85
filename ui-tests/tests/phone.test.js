// The dashboard on a phone (390×844): no page scrolls sideways, the trace's rows take two lines,
// and a call opens as a full-screen sheet that Esc or its ✕ closes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { demoStack, browser, screenshot, overflow, PHONE } from './harness.js';

let stack;
let b;
let page;
let ticket;

before(async () => {
  stack = await demoStack();
  [ticket] = stack.ids;
  b = await browser(PHONE);
  page = b.page;
}, { timeout: 90_000 });

after(async () => {
  if (b) await b.close();
  if (stack) await stack.stop();
});

/** Asserts that the page does not scroll sideways, and names the widest element when it does. */
async function assertNoOverflow(what) {
  await screenshot(page, `phone-${what.replace(/\W+/g, '-')}`);
  const extra = await overflow(page);
  if (extra > 0) {
    const culprit = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      // Content inside a box that scrolls or clips sideways does not widen the page.
      const clipped = (el) => {
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
          if (getComputedStyle(p).overflowX !== 'visible') return true;
        }
        return false;
      };
      const wide = [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !clipped(el));
      const el = wide[wide.length - 1];
      return el ? `${el.tagName.toLowerCase()}.${el.className} (right ${el.getBoundingClientRect().right})` : 'unknown';
    });
    assert.fail(`${what} scrolls sideways by ${extra}px; the widest element: ${culprit}`);
  }
}

test('the sessions list fits a phone', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/`);
  await page.locator(`[data-session-id="${ticket}"]`).first().waitFor();
  await assertNoOverflow('the sessions list');
});

test('a session fits a phone: two-line rows, and a call as a full-screen sheet', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/ui/sessions/${ticket}`);
  const call = page.locator('[data-row=tree][data-kind=call]').first();
  await call.waitFor();
  await assertNoOverflow('the session page');
  // The row's bar sits on a line below its name, across the row.
  const label = await call.locator('.tr-label').boundingBox();
  const track = await call.locator('.tr-track').boundingBox();
  assert.ok(track.y >= label.y + label.height - 1, 'the bar is below the name');
  assert.ok(track.width > 300, `the bar's track is ${track.width}px wide`);
  assert.ok(label.width > 180, `the name has ${label.width}px`);

  await call.click();
  const sheet = page.locator('.detail-slot.sheet');
  await sheet.locator('[data-test=conversation]').waitFor();
  const box = await sheet.boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 390, 844]);
  await assertNoOverflow('the call sheet');
  await page.keyboard.press('Escape');
  await page.locator('.detail-slot.sheet').waitFor({ state: 'detached' });
  await call.click();
  await page.locator('.detail-slot.sheet [data-test=conversation]').waitFor();
  await page.click('.detail-slot.sheet [aria-label="Close the call"]');
  await page.locator('.detail-slot.sheet').waitFor({ state: 'detached' });
  await assertNoOverflow('the session page after the sheet');
  await page.locator('[data-test=thread-card] summary').click();
  await page.locator('[data-test=thread-call]').first().waitFor();
  await page.locator('[data-test=thread-card]').scrollIntoViewIfNeeded();
  await assertNoOverflow('the conversation thread');
});

test('the metrics page fits a phone', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/ui/metrics?name=Support%20Ticket`);
  await page.locator('[data-test=histogram-bar]').first().waitFor();
  await page.locator('[data-test=paths-table] tbody tr').first().waitFor();
  await assertNoOverflow('the metrics page');
});

test('a user fits a phone', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/ui/users/customer-4521`);
  await page.locator('[data-test=user-session-table] tbody tr').first().waitFor();
  await assertNoOverflow('the user page');
});

test('the replay dialog fits a phone', { timeout: 60_000 }, async () => {
  await page.goto(`${stack.url}/ui/sessions/${ticket}`);
  await page.click('[data-test=replay-open]');
  await page.locator('[data-test=replay-dialog]').waitFor();
  await assertNoOverflow('the replay dialog');
  await page.keyboard.press('Escape');
});

test('the phone pages logged no error', () => {
  assert.deepEqual(b.problems, []);
});
