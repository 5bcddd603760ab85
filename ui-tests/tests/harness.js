// Shared by the browser tests: starting Canopy (its mock provider, the demo, `canopy serve`)
// on free ports with a fresh store, and Debian's Chromium through Playwright.
//
// Everything listens on 127.0.0.1, every wait is bounded, and every process started here is
// stopped by its own handle.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository's root. */
export const ROOT = path.resolve(here, '..', '..');

/** The canopy binary under test: `CANOPY_BIN`, else the debug build in the target directory. */
export const BIN = process.env.CANOPY_BIN
  || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'debug', 'canopy');

/** Where screenshots go (git-ignored). */
export const SCREENSHOTS = path.join(ROOT, 'ui-tests', 'screenshots');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A fresh temporary directory, removed by `cleanup()`. */
export function tempDir(prefix = 'canopy-ui-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** The environment for Canopy's processes: this one, less any `CANOPY_*` that could steer it. */
function canopyEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CANOPY_')) env[k] = v;
  return { ...env, CANOPY_LOG: 'warn', ...extra };
}

/** Runs `canopy ...args` to its end (at most `timeoutMs`); resolves to its stdout. */
export function run(args, { cwd, env, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { cwd, env: canopyEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`canopy ${args.join(' ')} took over ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`canopy ${args.join(' ')} exited with ${code}\n${out}\n${err}`));
    });
  });
}

/**
 * Starts `canopy ...args` and waits (at most `timeoutMs`) for a stdout line matching `pattern`,
 * whose first group is the URL it listens on. Resolves to `{url, stop}`.
 */
export function start(args, { cwd, env, pattern, timeoutMs = 30_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { cwd, env: canopyEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let done = false;
    const stop = () => new Promise((res) => {
      if (child.exitCode !== null || child.signalCode !== null) return res();
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('close', () => { clearTimeout(kill); res(); });
      child.kill('SIGTERM');
    });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`canopy ${args.join(' ')} did not start in ${timeoutMs} ms\n${out}\n${err}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve({ url: m[1], stop, output: () => out + err });
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => { if (!done) { done = true; clearTimeout(timer); reject(e); } });
    child.on('close', (code) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`canopy ${args.join(' ')} exited with ${code}\n${out}\n${err}`));
      }
    });
  });
}

const SERVE_PATTERN = /canopy listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** Starts `canopy serve` on a free port of 127.0.0.1 with `store`. */
export function serve({ dir, store, env }) {
  return start(['serve', '--listen', '127.0.0.1:0', '--store', store], { cwd: dir, env, pattern: SERVE_PATTERN });
}

/**
 * The demo's stack: the mock provider, the demo's two sessions in a fresh store, and `canopy
 * serve` on that store with OpenAI and Anthropic pointed at the mock (so replays work).
 */
export async function demoStack() {
  const dir = tempDir();
  const store = `sqlite://${path.join(dir, 'canopy.db')}`;
  const mock = await start(['mock-provider', '--listen', '127.0.0.1:0'], {
    cwd: dir, pattern: /mock provider listening on (http:\/\/127\.0\.0\.1:\d+)/,
  });
  const out = await run(['demo', '--store', store], { cwd: dir });
  const last = out.trim().split('\n').filter((l) => l.startsWith('demo sessions: ')).pop() || '';
  const ids = last.replace('demo sessions: ', '').trim().split(/\s+/).filter(Boolean);
  if (ids.length !== 2) throw new Error(`the demo printed no session ids:\n${out}`);
  const server = await serve({
    dir, store,
    env: { CANOPY_PROVIDERS__OPENAI__BASE_URL: mock.url, CANOPY_PROVIDERS__ANTHROPIC__BASE_URL: mock.url },
  });
  return {
    dir, store, ids, url: server.url,
    async stop() {
      await server.stop();
      await mock.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A phone's screen, as the dashboard is checked at: 390×844 with touch. */
export const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 };

/**
 * Debian's Chromium with a fresh profile, and a page (1280×800 unless `viewport` says otherwise)
 * that fails on any console error.
 */
export async function browser({ colorScheme = 'light', viewport = { width: 1280, height: 800 }, hasTouch = false, isMobile = false, deviceScaleFactor = 1 } = {}) {
  const profile = tempDir('canopy-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    hasTouch,
    isMobile,
    deviceScaleFactor,
    colorScheme,
    timeout: 30_000,
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    context, page, problems, requests,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot of `page` as `screenshots/<name>.png`; returns the path. */
export async function screenshot(page, name) {
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** How far the page at hand scrolls sideways, in CSS pixels (0 when nothing overflows). */
export function overflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/** Polls `check` (async, truthy when done) every 200 ms for at most `timeoutMs`. */
export async function until(check, { timeoutMs = 30_000, what = 'the condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
}

/** `fetch` with a JSON body and an optional key, bounded by `timeoutMs`. */
export async function api(url, method, body, { key, timeoutMs = 30_000 } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const payload = await response.json();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(payload)}`);
  return payload.data;
}
