/** Under `demo` the dashboard says which scripted episode runs (GET /v1/demo); otherwise it shows no such banner. */
import pino from 'pino';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import type { DemoPlan } from '../../src/demo/demo-script.js';
import { demoStatus } from '../../src/demo/demo-script.js';
import { startTestDaemon, TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { BrowserSession } from './browser.js';
import { HAS_CHROMIUM, SKIP_REASON, screenshot, startBrowser } from './browser.js';

const WAIT = { timeout: 15_000 };

if (!HAS_CHROMIUM) console.warn(`dashboard demo banner browser tests${SKIP_REASON}`);

describe.skipIf(!HAS_CHROMIUM)(`the demo banner${SKIP_REASON}`, () => {
  let browser: BrowserSession;
  let demo: Daemon;
  let plain: Daemon & { cleanupDir: () => void };
  const dir = tempDir('opr-demo-banner-');
  // Started 150 s ago: the gateway crash (episode 2) began 30 s ago.
  const plan: DemoPlan = {
    startedAt: Date.now() - 150_000,
    episodeMs: 120_000,
    users: 1000,
    loss: 0.2,
    crashedGateway: 'gw-0',
    guardHoldMs: 45_000,
    healthWindowMinutes: 1,
    commands: { doctor: 'npx openim-presence doctor --config x.yaml', report: 'npx openim-presence report --config x.yaml', tail: 'npx openim-presence tail --config x.yaml', incidents: 'npx openim-presence incidents list --config x.yaml' },
  };

  beforeAll(async () => {
    browser = await startBrowser();
    const config = configSchema.parse({
      openim: { secret: 'openIM123' },
      webhook: { host: '127.0.0.1', port: 0, pathSecret: TEST_PATH_SECRET },
      api: { host: '127.0.0.1', port: 0 },
      store: { path: join(dir.path, 'presence.db') },
      poll: { enabled: false },
    });
    demo = await startDaemon(config, { logger: pino({ level: 'silent' }), demo: () => demoStatus(plan, Date.now()) });
    plain = await startTestDaemon();
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
    await plain?.close();
    plain?.cleanupDir();
    dir.cleanup();
  });

  it('names the episode, what to watch, the next one and the CLI commands', async () => {
    const { page, errors } = await browser.newPage();
    await page.goto(demo.apiUrl);
    const banner = page.locator('#demo-banner');
    await expect.poll(() => banner.getAttribute('data-episode'), WAIT).toBe('2');
    const text = await banner.innerText();
    expect(text).toMatch(/^Demo · episode 2 of 3: gateway gw-0 crashed at /);
    expect(text).toContain('waiting for a poll to read its users offline');
    expect(text).toContain('Next: episode 3 (OpenIM behaves like v3.8.1: no presence webhooks)');
    expect(text).toContain('npx openim-presence incidents list --config x.yaml');
    expect(text).not.toContain('null');
    await screenshot(page, 'demo-banner', false);
    expect(errors).toEqual([]);
  });

  it('says the hold ended when the guard was raised in this episode and holds no more, even on a page opened after', async () => {
    plan.lastGuard = { at: Date.now() - 20_000, readOffline: 57 };
    const { page, errors } = await browser.newPage();
    await page.goto(demo.apiUrl);
    const banner = page.locator('#demo-banner');
    await expect.poll(() => banner.innerText(), WAIT).toContain('the guard held 57 users from');
    expect(await banner.innerText()).toContain('then the hold ended');
    expect(errors).toEqual([]);
  });

  it('shows no demo banner on a daemon that is not the demo', async () => {
    const { page, errors } = await browser.newPage();
    await page.goto(plain.apiUrl);
    await expect.poll(() => page.locator('#status').getAttribute('data-state'), WAIT).not.toBeNull();
    expect(await page.locator('#demo-banner').isVisible()).toBe(false);
    expect((await fetch(`${plain.apiUrl}/v1/demo`)).status).toBe(404);
    expect(errors).toEqual([]);
  });
});
