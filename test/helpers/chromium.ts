/**
 * Headless Debian Chromium driven by playwright-core (no browser download:
 * the system's /usr/bin/chromium). Playwright gives each launch a fresh
 * profile directory of its own and removes it on close.
 */
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
