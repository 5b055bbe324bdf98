/**
 * The dashboard leads with incidents: they come before the mismatch table, each opens into its mismatches, and
 * acknowledging one acknowledges them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentPage } from '../../src/api/incident-routes.js';
import type { MismatchPage } from '../../src/api/mismatch-json.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import type { BrowserSession } from './browser.js';
import { HAS_CHROMIUM, SKIP_REASON, screenshot, startBrowser } from './browser.js';
import { correction, online } from './scenario.js';

const WAIT = { timeout: 15_000 };

if (!HAS_CHROMIUM) console.warn(`dashboard incidents browser tests${SKIP_REASON}`);

describe.skipIf(!HAS_CHROMIUM)(`incidents on the dashboard${SKIP_REASON}`, () => {
  let browser: BrowserSession;
  let d: Daemon & { cleanupDir: () => void };

  beforeAll(async () => {
    browser = await startBrowser();
    d = await startTestDaemon();
    // Seven Android users went offline with their webhooks lost: one run, one incident.
    for (let i = 1; i <= 7; i++) await online(d, `android-${i}`, 2);
    d.engine.correct(Array.from({ length: 7 }, (_, i) => correction(`android-${i + 1}`, 2, false)));
    // Two iOS users came online with theirs lost: another.
    d.engine.correct([correction('ios-1', 1, true, 'confirm poll read the user online'), correction('ios-2', 1, true, 'confirm poll read the user online')]);
    d.incidents.flush();
  });

  afterAll(async () => {
    await browser?.close();
    await d?.close();
    d?.cleanupDir();
  });

  it('shows incidents before the mismatch table and opens one into its mismatches', async () => {
    const { page, errors } = await browser.newPage();
    await page.goto(d.apiUrl);
    const rows = page.locator('#incident-rows tr.incident-row');
    await expect.poll(() => rows.count(), WAIT).toBe(2);
    const incidentsBox = await page.locator('#incidents').boundingBox();
    const mismatchesBox = await page.locator('#mismatches').boundingBox();
    expect(incidentsBox!.y).toBeLessThan(mismatchesBox!.y);
    expect(await page.locator('#incident-count').innerText()).toBe('2 open · 0 acknowledged · 0 closed');

    const android = page.locator('#incident-rows tr.incident-row', { hasText: 'Android' });
    expect(await android.innerText()).toContain('lost offline webhooks on Android');
    expect(await page.locator('#incident-rows tr.incident-detail').count()).toBe(0);
    await android.click();
    const detail = page.locator('#incident-rows tr.incident-detail tr.incident-mismatch');
    await expect.poll(() => detail.count(), WAIT).toBe(7);
    expect(await page.locator('#incident-rows tr.incident-detail').innerText()).toContain('android-7');
    expect(await page.locator('#incident-rows tr.incident-detail').innerText()).not.toContain('ios-1');
    await screenshot(page, 'incidents-expanded', false);
    // A second click closes it.
    await android.click();
    await expect.poll(() => page.locator('#incident-rows tr.incident-detail').count(), WAIT).toBe(0);
    expect(errors).toEqual([]);
  });

  it('acknowledges an incident and its mismatches from its row', async () => {
    const { page, errors } = await browser.newPage();
    await page.goto(d.apiUrl);
    const ios = page.locator('#incident-rows tr.incident-row', { hasText: 'IOS' });
    await ios.locator('button[data-action="ack-incident"]').click();
    await expect.poll(() => ios.getAttribute('data-status'), WAIT).toBe('acknowledged');
    const page1 = (await (await fetch(`${d.apiUrl}/v1/incidents`)).json()) as IncidentPage;
    const id = page1.incidents.find((i) => i.platform === 'IOS')!.id;
    const ms = (await (await fetch(`${d.apiUrl}/v1/mismatches?incident=${id}`)).json()) as MismatchPage;
    expect(ms.mismatches.map((m) => m.status)).toEqual(['acknowledged', 'acknowledged']);
    expect(await page.locator('#incident-count').innerText()).toBe('1 open · 1 acknowledged · 0 closed');
    expect(errors).toEqual([]);
  });
});
