/**
 * Headless Debian Chromium (/usr/bin/chromium) for the browser e2e suites:
 * openPage() starts one process group per page with a fresh profile;
 * launchChromium() drives it through playwright-core (no browser download; suiteChromium()
 * shares one launch across a test file),
 * which gives each launch a fresh profile of its own and removes it on close.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { chromium, type Browser as PlaywrightBrowser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

export interface Browser {
  readonly child: ChildProcess;
  /** SIGKILL the whole group (renderer and zygote too), wait for the exit, remove the profile. */
  close(): Promise<void>;
}

/** Headless Chromium as this machine runs it (no network of its own), without the back/forward cache. */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // With the back/forward cache a page left with an open socket may be
  // kept alive instead of unloaded; the navigation tests want the unload.
  '--disable-features=BackForwardCache',
];

/** Open `url` in a new headless Chromium. */
export function openPage(url: string): Browser {
  const profile = mkdtempSync(join(tmpdir(), 'ws-close-agent-chromium-'));
  const child = spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, url], { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    async close() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

/** Headless Chromium under playwright-core, with the same flags. */
function launchChromium(): Promise<PlaywrightBrowser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000, args: CHROMIUM_FLAGS.filter((flag) => flag !== '--headless') });
}

/** A page with everything it requested and every console error or warning, page error and dialog it raised. */
export interface WatchedPage {
  readonly page: Page;
  readonly requests: string[];
  readonly problems: string[];
  /** Closes the page's browser context. */
  close(): Promise<void>;
}

/** A page of its own browser context (`options`: credentials and the like) that records what it requests and every problem. */
async function watchedPage(browser: PlaywrightBrowser, options: Parameters<PlaywrightBrowser['newContext']>[0] = {}): Promise<WatchedPage> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { page, requests, problems, close: () => context.close() };
}

/** The live page's table rows as arrays of cell texts. */
export function tableRows(page: Page): Promise<string[][]> {
  return page.$$eval('#closes tbody tr', (trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((td) => td.textContent ?? '')));
}

/** One Chromium for a test file, launched before its tests and closed after them; each watchedPage() gets a browser context of its own. */
export function suiteChromium(): { watchedPage(options?: Parameters<PlaywrightBrowser['newContext']>[0]): Promise<WatchedPage> } {
  let browser: PlaywrightBrowser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
  });
  return {
    watchedPage: (options) => {
      if (browser === undefined) throw new Error('Chromium is not running (suiteChromium() before the tests)');
      return watchedPage(browser, options);
    },
  };
}
