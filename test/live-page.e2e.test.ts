/**
 * The live page in real headless Chromium, fed by real `ws` closes through
 * instrument(): a server 4001 with a reason, a client 1000, a TCP drop, and
 * hostile reasons (markup, quotes, control characters, invalid UTF-8) that
 * must show as text. Every request the page makes is recorded: all go to the
 * page's own origin. With a token, the page and the API answer 401 without it.
 */
import type { Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { INITIATOR_CLIENT } from '../src/codes/vocabulary.js';
import { suiteChromium, tableRows, type WatchedPage } from './helpers/chromium.js';
import { startLivePage, type Cleanup } from './helpers/live-fixture.js';
import { waitFor } from './helpers/wait.js';

const chromium = suiteChromium();
const cleanups: Cleanup[] = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A watched page whose context closes after the test. */
async function watchedPage(options: Parameters<Browser['newContext']>[0] = {}): Promise<WatchedPage> {
  const watched = await chromium.watchedPage(options);
  cleanups.push(() => watched.close());
  return watched;
}

const MARKUP = '</script><img src=x onerror="alert(1)">\'"';

describe('the live page in headless Chromium', () => {
  it('shows real closes (before and after it loads), escapes hostile reasons, filters, and asks only its own origin', async () => {
    const live = await startLivePage(cleanups);
    const origin = `http://127.0.0.1:${live.port}`;
    // Before the page loads: a 4001 the server sends with a reason.
    const a = await live.connect('/chat?token=secret');
    live.serverSockets.at(-1)!.close(4001, 'token expired');
    await live.closed(a);

    const { page, requests, problems } = await watchedPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 20_000 });

    // After: a client 1000, a TCP drop, markup in a reason, and raw bytes that are not UTF-8 (as the proxy reports them).
    const b = await live.connect('/ws');
    b.close(1000, 'bye');
    await live.closed(b);
    const c = await live.connect('/drop');
    c.terminate();
    const d = await live.connect('/x');
    d.close(4400, MARKUP);
    await live.closed(d);
    await waitFor(() => live.recorder.totals().closed === 4, 'four closes');
    live.recorder.recordOpen();
    live.recorder.recordClose(4401, INITIATOR_CLIENT, 0.25, { reason: Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x0a, 0x00]), path: '/raw' });

    await page.waitForFunction(() => document.querySelectorAll('#closes tbody tr').length === 5, undefined, { timeout: 20_000 });
    const rows = await tableRows(page);
    // code, codename, initiator, reason, path (time, category and duration checked apart)
    expect(rows.map((r) => [r[1], r[2], r[4], r[6], r[7]])).toEqual([
      ['4401', 'APPLICATION', 'client', 'bad\\xff\\xfe\\u000a\\u0000', '/raw'],
      ['4400', 'APPLICATION', 'client', MARKUP, '/x'],
      ['1006', 'CLOSE_ABNORMAL', 'client', '', '/drop'],
      ['1000', 'CLOSE_NORMAL', 'client', 'bye', '/ws'],
      ['4001', 'APPLICATION', 'server', 'token expired', '/chat'],
    ]);
    expect(rows[0]![3]).toBe('application');
    expect(rows[0]![5]).toBe('0.250 s');
    // The markup stayed text: no element was made from it, no handler ran.
    expect(await page.$$eval('#closes img, #closes script, #closes b', (els) => els.length)).toBe(0);

    // Filters: codename, then initiator, then code.
    await page.selectOption('#filter-codename', 'APPLICATION');
    await page.waitForFunction(() => document.querySelectorAll('#closes tbody tr').length === 3);
    await page.selectOption('#filter-initiator', 'server');
    expect((await tableRows(page)).map((r) => r[1])).toEqual(['4001']);
    await page.selectOption('#filter-codename', '');
    await page.selectOption('#filter-initiator', '');
    await page.fill('#filter-code', '1006');
    expect((await tableRows(page)).map((r) => r[1])).toEqual(['1006']);

    // The charts and tiles: uPlot drew, its legend names what closed, the tiles count.
    await page.waitForFunction(() => document.querySelector('#chart-codename .u-legend')?.textContent?.includes('CLOSE_NORMAL') === true, undefined, {
      timeout: 20_000,
    });
    expect(await page.$$eval('.chart canvas', (els) => els.length)).toBe(3);
    expect(await page.textContent('#active')).toBe('0');
    expect(await page.textContent('#closes-15m')).toBe('5');

    expect(requests.length).toBeGreaterThanOrEqual(5); // page, script, stylesheet, two API reads, the stream
    for (const url of requests) expect(new URL(url).origin, url).toBe(origin);
    expect(problems).toEqual([]);
  }, 90_000);

  it('with a token: the page and the API answer 401 without it; with it (Basic, as a browser sends it) the page goes live', async () => {
    const live = await startLivePage(cleanups, { token: 'let-me-in' });
    const origin = `http://127.0.0.1:${live.port}`;
    // Without credentials, every route answers 401. Chromium would ask a person
    // for the Basic credentials; under automation it gives up on the challenge.
    const anonymous = await watchedPage();
    for (const path of ['/', '/api/closes/recent', '/api/closes/summary', '/live/app.js']) {
      const page = await anonymous.page.context().newPage();
      const statuses = new Map<string, number>();
      page.on('response', (r) => statuses.set(new URL(r.url()).pathname, r.status()));
      await expect(page.goto(`${origin}${path}`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      expect(statuses.get(path), path).toBe(401);
      await page.close();
    }

    const ws = await live.connect('/secret-path');
    ws.close(1000);
    await live.closed(ws);
    const { page, requests, problems } = await watchedPage({ httpCredentials: { username: 'ops', password: 'let-me-in' } });
    const allowed = await page.goto(`${origin}/`);
    expect(allowed?.status()).toBe(200);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelectorAll('#closes tbody tr').length === 1, undefined, { timeout: 20_000 });
    expect((await tableRows(page))[0]![7]).toBe('/secret-path');
    for (const url of requests) expect(new URL(url).origin).toBe(origin);
    // Chromium logs the first, unauthenticated answer of a credentialed load; anything else is a problem.
    expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
  }, 90_000);
});
