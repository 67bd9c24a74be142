/**
 * Headless Debian Chromium (/usr/bin/chromium) for the browser e2e suites:
 * openPage() starts one process group per page with a fresh profile;
 * launchChromium() drives it through playwright-core (no browser download),
 * which gives each launch a fresh profile of its own and removes it on close.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser as PlaywrightBrowser } from 'playwright-core';

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
export function launchChromium(): Promise<PlaywrightBrowser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000, args: CHROMIUM_FLAGS.filter((flag) => flag !== '--headless') });
}
