/**
 * The overview at a glance: one status line that escalates to the worst webhook state with its cause once, a compact
 * table per platform × command, the guard banner while the mass-disagreement guard holds, charts above the fold, and
 * a mismatch table that does not move rows under the pointer while live updates arrive.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import type { SimPair } from '../helpers/sim-pair.js';
import { daemonOnlineKeys, eventually, startSimPair } from '../helpers/sim-pair.js';
import type { BrowserSession } from './browser.js';
import { HAS_CHROMIUM, SKIP_REASON, screenshot, startBrowser } from './browser.js';
import { correction, online, sendWebhook } from './scenario.js';

const WAIT = { timeout: 15_000 };
const VIEWPORT_HEIGHT = 1000;

type TestDaemon = Daemon & { cleanupDir: () => void };

if (!HAS_CHROMIUM) console.warn(`dashboard glance browser tests${SKIP_REASON}`);

async function statusState(page: Page): Promise<string | null> {
  return page.locator('#status').getAttribute('data-state');
}

/** The ids of the mismatch rows, top to bottom. */
async function rowIDs(page: Page): Promise<string[]> {
  // Read in one go: rows re-rendered between per-row reads would leave a read waiting for a row that is gone.
  const read = (els: readonly { getAttribute(attr: string): string | null }[]): string[] => els.map((e) => e.getAttribute('data-mismatch-id') ?? '');
  return page.locator('#mismatch-rows tr.mismatch-row').evaluateAll<string[], undefined>(read as (els: unknown[]) => string[], undefined);
}

/** The mismatch id of the row at a point of the page (what is under the pointer). */
async function rowAt(page: Page, x: number, y: number): Promise<string | null> {
  // A string, evaluated in the page: this project's TypeScript has no DOM types.
  return page.evaluate<string | null>(`document.elementFromPoint(${x}, ${y})?.closest('tr.mismatch-row')?.getAttribute('data-mismatch-id') ?? null`);
}

/** Both charts are drawn and fully inside the first screen. */
async function chartsAboveTheFold(page: Page): Promise<boolean> {
  await page.evaluate('window.scrollTo(0, 0)');
  for (const id of ['#chart-transitions svg', '#chart-mismatches svg']) {
    const box = await page.locator(id).boundingBox();
    if (box === null || box.y + box.height > VIEWPORT_HEIGHT) return false;
  }
  return true;
}

describe.skipIf(!HAS_CHROMIUM)(`the overview at a glance${SKIP_REASON}`, () => {
  let browser: BrowserSession;
  beforeAll(async () => {
    browser = await startBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  describe('as webhooks get lost, then stop', () => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startTestDaemon();
      // Web: online and offline webhooks arrive.
      for (let i = 1; i <= 6; i++) await online(d, `web-${i}`, 5);
      for (let i = 1; i <= 3; i++) await sendWebhook(d, 'callbackAfterUserOfflineCommand', `web-${i}`, 5);
      // Android and iOS users connect with their webhooks.
      for (let i = 1; i <= 10; i++) await online(d, `android-${i}`, 2);
      for (let i = 1; i <= 6; i++) await online(d, `ios-${i}`, 1);
      await eventually(() => d.health.webhookCounts(0).some((c) => c.command === 'offline' && c.platformID === 5 && c.byWebhook === 3), 5000);
    });
    afterAll(async () => {
      await d?.close();
      d?.cleanupDir();
    });

    it('escalates the one status line to the worst state, healthy then degraded then silent, with the cause once', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      await expect.poll(() => statusState(page), WAIT).toBe('healthy');
      expect(await page.locator('#status-headline').innerText()).toBe('Webhooks arrive');
      expect(await page.locator('#status-affected').isVisible()).toBe(false);

      // Android: half of its disconnects come by webhook, half are learned by correction.
      for (let i = 1; i <= 5; i++) await sendWebhook(d, 'callbackAfterUserOfflineCommand', `android-${i}`, 2);
      await eventually(() => d.health.webhookCounts(0).some((c) => c.command === 'offline' && c.platformID === 2 && c.byWebhook === 5), 5000);
      d.engine.correct([6, 7, 8, 9, 10].map((i) => correction(`android-${i}`, 2, false)));
      await expect.poll(() => statusState(page), WAIT).toBe('degraded');
      expect(await page.locator('#status-state').innerText()).toMatch(/^degraded$/i);
      expect(await page.locator('#status-cause').innerText()).toMatch(/^50 % of Android offline transitions were learned by correction: webhooks are being lost/);
      expect(await page.locator('#status-affected').innerText()).toBe('degraded offline on Android');

      // iOS: no offline webhook at all; every disconnect is learned by correction.
      d.engine.correct([1, 2, 3, 4, 5, 6].map((i) => correction(`ios-${i}`, 1, false)));
      await expect.poll(() => statusState(page), WAIT).toBe('silent');
      expect(await page.locator('#status-headline').innerText()).toBe('Webhooks are silent');
      expect(await page.locator('#status-affected').innerText()).toBe('silent offline on IOS · degraded offline on Android');
      // The cause is said once on the page, the setting names as code, never with literal backticks.
      const overview = await page.locator('#status').innerText() + (await page.locator('#webhook-health').innerText());
      expect(overview.match(/v3\.8\.0\/v3\.8\.1/g)).toHaveLength(1);
      expect(overview).not.toContain('`');
      expect(await page.locator('#status-cause code').allTextContents()).toEqual(['afterUserOffline.enable', 'url', 'openim-presence doctor']);
      expect(await chartsAboveTheFold(page)).toBe(true);
      await screenshot(page, 'glance-silent', false);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('shows one compact row per platform with state, by webhook, by correction and share per command, expanding for detail', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      const rows = page.locator('#webhook-rows tr.health-row');
      await expect.poll(() => rows.count(), WAIT).toBe(3);
      // Worst first: iOS (silent), Android (degraded), Web (healthy).
      expect(await Promise.all((await rows.all()).map((r) => r.getAttribute('data-platform-id')))).toEqual(['1', '2', '5']);
      const android = page.locator('#webhook-rows tr.health-row[data-platform-id="2"]');
      const cell = (command: string, field: string) => android.locator(`td[data-command="${command}"][data-field="${field}"]`).innerText();
      expect([await cell('offline', 'state'), await cell('offline', 'byWebhook'), await cell('offline', 'byCorrection'), await cell('offline', 'share')]).toEqual([
        'degraded',
        '5',
        '5',
        '50 %',
      ]);
      expect([await cell('online', 'state'), await cell('online', 'byWebhook'), await cell('online', 'byCorrection'), await cell('online', 'share')]).toEqual([
        'healthy',
        '10',
        '0',
        '0 %',
      ]);
      // No paragraph per entry until asked for.
      expect(await page.locator('#webhook-rows tr.detail-row').count()).toBe(0);
      await page.locator('#webhook-rows tr.health-row[data-platform-id="1"] th').click();
      const detail = page.locator('#webhook-rows tr.detail-row[data-detail-for="1"]');
      await detail.waitFor(WAIT);
      const text = await detail.innerText();
      expect(text).toContain('no offline webhooks at all for IOS');
      expect(text).toMatch(/6 webhooks received \(transitions, renewals and duplicates\)/);
      expect(text).not.toContain('`');
      expect(await detail.locator('code').count()).toBeGreaterThan(0);
      expect(await page.locator('#webhook-rows tr.health-row[data-platform-id="1"]').getAttribute('aria-expanded')).toBe('true');
      // It stays open across refreshes, and closes again.
      await page.waitForTimeout(5500);
      expect(await detail.count()).toBe(1);
      await page.locator('#webhook-rows tr.health-row[data-platform-id="1"] th').click();
      await expect.poll(() => page.locator('#webhook-rows tr.detail-row').count(), WAIT).toBe(0);
      await screenshot(page, 'glance-table', false);
      expect(errors).toEqual([]);
      await page.close();
    });
  });

  describe('while mismatches keep coming', () => {
    let d: TestDaemon;
    let n = 0;
    const correctOne = (): number => d.engine.correct([correction(`user-${++n}`, 5, true)]).mismatchIDs[0]!;

    beforeAll(async () => {
      d = await startTestDaemon();
      for (let i = 0; i < 8; i++) correctOne();
    });
    afterAll(async () => {
      await d?.close();
      d?.cleanupDir();
    });

    it('keeps the rows still under the pointer, offering the new ones behind a button', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      await expect.poll(() => rowIDs(page), WAIT).toHaveLength(8);
      const before = await rowIDs(page);
      const target = page.locator('#mismatch-rows tr.mismatch-row').nth(3);
      await target.locator('td').nth(1).hover();
      const box = (await target.boundingBox())!;
      const px = box.x + 60;
      const py = box.y + box.height / 2;
      expect(await rowAt(page, px, py)).toBe(before[3]);

      // Two corrections arrive while the pointer rests on the table.
      correctOne();
      correctOne();
      const button = page.locator('#mismatch-new');
      await button.waitFor({ state: 'visible', ...WAIT });
      expect(await button.innerText()).toBe('2 new rows: show');
      expect(await page.locator('#mismatch-paused').isVisible()).toBe(true);
      // Nothing moved: the same rows in the same places, the same row under the pointer.
      expect(await rowIDs(page)).toEqual(before);
      expect(await rowAt(page, px, py)).toBe(before[3]);
      expect((await target.boundingBox())!.y).toBe(box.y);
      // A refresh while paused still adds nothing.
      correctOne();
      await expect.poll(() => button.innerText(), WAIT).toBe('3 new rows: show');
      expect(await rowIDs(page)).toEqual(before);

      // Asked for, the new rows come in on top.
      await button.click();
      await expect.poll(() => rowIDs(page), WAIT).toHaveLength(11);
      expect((await rowIDs(page)).slice(3)).toEqual(before);
      expect(await button.isVisible()).toBe(false);
      await screenshot(page, 'glance-mismatches', false);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('adds new rows at once while the pointer is elsewhere', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      await expect.poll(() => rowIDs(page), WAIT).toHaveLength(11);
      await page.mouse.move(5, 5);
      const id = correctOne();
      await expect.poll(async () => (await rowIDs(page))[0], WAIT).toBe(String(id));
      expect(await page.locator('#mismatch-new').isVisible()).toBe(false);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('holds new rows only while the pointer is on the table: the next update after it leaves shows them', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      await expect.poll(() => rowIDs(page), WAIT).toHaveLength(12);
      await page.locator('#mismatch-rows tr.mismatch-row').first().locator('td').nth(1).hover();
      const held = correctOne();
      await page.locator('#mismatch-new').waitFor({ state: 'visible', ...WAIT });
      expect((await rowIDs(page))[0]).not.toBe(String(held));
      await page.mouse.move(5, 5);
      const next = correctOne();
      await expect.poll(async () => (await rowIDs(page)).slice(0, 2), WAIT).toEqual([String(next), String(held)]);
      expect(await page.locator('#mismatch-new').isVisible()).toBe(false);
      expect(errors).toEqual([]);
      await page.close();
    });
  });

  describe('when a slow gateway raises the mass-disagreement guard', () => {
    let pair: SimPair;
    beforeAll(async () => {
      pair = await startSimPair({ users: 60, gateways: 2, seed: 11, workload: false }, { reconcile: { massGuardHoldMs: 120_000 } });
      const p = pair;
      for (let i = 1; i <= 40; i++) p.sim.connect(`u${i}`, 2, i % 2);
      await p.sim.quiesce({ timeoutMs: 10_000 });
      await eventually(() => daemonOnlineKeys(p.daemon).size === 40, 8000);
      await eventually(() => Array.from({ length: 40 }, (_, i) => p.daemon.engine.key(`u${i + 1}`, 2)).every((k) => k?.lastVerifiedAt != null), 8000);
    }, 60_000);
    afterAll(async () => {
      await pair?.close();
    });

    it('shows a banner with how many users and until when while it holds, and removes it when it clears', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(pair.daemon.apiUrl);
      await page.locator('#status-state').filter({ hasNotText: 'loading…' }).waitFor(WAIT);
      expect(await page.locator('#guard-banner').isVisible()).toBe(false);

      pair.sim.setGatewaySlow(0, true);
      const banner = page.locator('#guard-banner');
      await banner.waitFor({ state: 'visible', ...WAIT });
      const health = (await (await fetch(`${pair.daemon.apiUrl}/v1/health`)).json()) as {
        poll: { guard: { readOffline: number; believedOnline: number; holdUntil: string; mismatchID: number } | null };
      };
      const guard = health.poll.guard!;
      expect(guard).not.toBeNull();
      await expect.poll(() => banner.getAttribute('data-users'), WAIT).toBe(String(guard.readOffline));
      const text = await banner.innerText();
      const until = new Date(guard.holdUntil);
      const clock = [until.getHours(), until.getMinutes(), until.getSeconds()].map((v) => String(v).padStart(2, '0')).join(':');
      expect(text).toContain(`Mass-disagreement guard holding ${guard.readOffline} users until ${clock} (in `);
      expect(text).toContain(`${guard.readOffline} of ${guard.believedOnline} believed-online users read offline at once`);
      expect(text).toContain(`Mismatch #${guard.mismatchID}`);
      expect(await chartsAboveTheFold(page)).toBe(true);
      await screenshot(page, 'glance-guard', false);

      // The gateway answers again: the guard clears and the banner goes.
      pair.sim.setGatewaySlow(0, false);
      await banner.waitFor({ state: 'hidden', timeout: 20_000 });
      expect(errors).toEqual([]);
      await page.close();
    });
  });
});
