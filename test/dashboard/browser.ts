/** Drives Debian's chromium through playwright-core for the dashboard tests (no downloaded browsers). */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { tempDir } from '../helpers/temp-dir.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM_PATH);
/** Appended to the describe title when the browser tests are skipped. */
export const SKIP_REASON = HAS_CHROMIUM ? '' : ` (skipped: no chromium at ${CHROMIUM_PATH}; install it with \`apt-get install -y chromium\`)`;

/** Screenshots for a person to look at, outside the repository: SCREENSHOT_DIR, else a folder under the temp dir. */
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? join(tmpdir(), 'openim-presence-screenshots');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserSession {
  context: BrowserContext;
  /** Opens a page that records dialogs and page errors. */
  newPage(): Promise<{ page: Page; dialogs: string[]; errors: string[] }>;
  close(): Promise<void>;
}

/** A chromium with a fresh profile directory, removed on close. */
export async function startBrowser(): Promise<BrowserSession> {
  const profile = tempDir('opr-chromium-');
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 1000 },
  });
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      const dialogs: string[] = [];
      const errors: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on('pageerror', (e) => errors.push(e.message));
      return { page, dialogs, errors };
    },
    async close() {
      await context.close();
      profile.cleanup();
    },
  };
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
