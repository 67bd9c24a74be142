#!/usr/bin/env node
/**
 * `npm run screenshot`: a picture of the live page from a real run. Starts
 * the built agent (echo mode) on loopback, makes real closes through it with
 * `ws` clients for about 45 seconds (the page's rates are computed from
 * 10-second samples, so a few of them are needed for a line), opens the page
 * in headless Chromium (playwright-core on /usr/bin/chromium, which gives the launch a fresh profile and removes it) and writes
 * docs/live-page.png. Nothing is drawn by hand: every number comes from
 * closes the agent saw.
 */
/* global document -- the waitForFunction bodies below run in the page */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { startAgent } from '../harness/agent.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'docs', 'live-page.png');
const TRAFFIC_MS = Number(process.env.SCREENSHOT_TRAFFIC_MS ?? 45_000);
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** One connection through the agent, ended the way `how` says once open. */
function connection(url, how) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    ws.once('close', () => resolve());
    ws.once('open', () => {
      if (how.terminate) ws.terminate();
      else ws.close(how.code, how.reason);
    });
  });
}

// What a small chat service's clients might do: mostly normal closes, expired
// tokens, rate limits, page unloads and a few dropped connections.
const MIX = [
  { weight: 30, path: '/chat', code: 1000, reason: 'bye' },
  { weight: 12, path: '/chat', code: 1001, reason: 'page unload' },
  { weight: 8, path: '/chat', code: 4001, reason: 'token expired' },
  { weight: 4, path: '/feed/live', code: 4002, reason: 'slow consumer' },
  { weight: 3, path: '/feed/live', code: 4029, reason: 'rate limited: 20 msg/s' },
  { weight: 5, path: '/chat', terminate: true },
  { weight: 2, path: '/api/stream', code: 1011, reason: 'upstream timeout' },
];
const TOTAL = MIX.reduce((n, m) => n + m.weight, 0);

function pick(i) {
  // A fixed walk through the mix (no randomness: the same run gives the same picture, bar timings).
  let k = (i * 37) % TOTAL;
  for (const m of MIX) {
    if (k < m.weight) return m;
    k -= m.weight;
  }
  return MIX[0];
}

async function main() {
  const agent = await startAgent({ args: ['--codes', '4001=AUTH_EXPIRED,4002=SLOW_CONSUMER,4029=RATE_LIMITED'] });
  let browser;
  try {
    const base = `ws://${agent.listen}`;
    const started = Date.now();
    let i = 0;
    // Bounded in time and count; the rate rises and falls so the lines move.
    while (Date.now() - started < TRAFFIC_MS && i < 20_000) {
      const phase = Math.floor((Date.now() - started) / 10_000);
      const batch = [4, 10, 6, 14, 8][phase % 5];
      await Promise.all(Array.from({ length: batch }, () => pick(i++)).map((m) => connection(`${base}${m.path}?session=${i}`, m)));
      await new Promise((r) => setTimeout(r, 250));
    }
    // A few long-lived connections for the active count.
    const open = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise((resolve) => {
            const ws = new WebSocket(`${base}/chat`);
            ws.on('error', () => undefined);
            ws.once('open', () => resolve(ws));
          }),
      ),
    );

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 1100 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const foreign = [];
    context.on('request', (r) => {
      if (new URL(r.url()).host !== agent.metricsListen) foreign.push(r.url());
    });
    await page.goto(`http://${agent.metricsListen}/`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('#closes tbody tr').length > 10, undefined, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('#chart-codename .u-legend')?.textContent?.includes('CLOSE_NORMAL') === true, undefined, {
      timeout: 30_000,
    });
    if (foreign.length > 0) throw new Error(`the page asked other origins: ${foreign.join(', ')}`);
    mkdirSync(dirname(OUT), { recursive: true });
    // The window, not the whole page: the table below holds up to 1,000 rows.
    await page.screenshot({ path: OUT });
    process.stdout.write(`wrote ${OUT} (${i} closes made, ${open.length} open)\n`);
    for (const ws of open) ws.close(1000);
  } finally {
    await browser?.close();
    await agent.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`screenshot: ${err.stack ?? err}\n`);
  process.exit(1);
});
