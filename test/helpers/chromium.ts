/**
 * Headless Chromium for the browser tests: Debian's `chromium` (installed by .ci/run), driven by
 * playwright-core, which brings no browser of its own. A missing browser fails the test with what to install;
 * it never skips. Every console error and uncaught page error is collected, for the tests to assert none.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './cli.js';

/** `CHROMIUM_PATH` if set, else Debian's binary. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the browser tests write their screenshots (CI keeps no artifacts folder: the workspace's test-results/). */
export const SCREENSHOTS = join(ROOT, 'test-results');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium, as .ci/run does) or set CHROMIUM_PATH`);
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  // A container runs as root without user namespaces: Chromium's sandbox cannot start there.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Console messages of type `error` and uncaught exceptions, as text, in order. */
  errors: string[];
}

export async function openPage(browser: Browser): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 860 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => { errors.push(`pageerror: ${e.message}`); });
  return { context, page, errors };
}
