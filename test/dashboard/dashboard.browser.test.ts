import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { NewMismatch } from '../../src/domain.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import type { BrowserSession } from './browser.js';
import { HAS_CHROMIUM, SKIP_REASON, screenshot, startBrowser } from './browser.js';
import { correction, online } from './scenario.js';

const HOSTILE_USER = '<img src=x onerror=alert(1)>';
const HOSTILE_DETAIL = '<b>bold</b><img src=y onerror=alert(2)> read offline';
const HOSTILE_NOTE = '<script>alert(3)</script>';
const WAIT = { timeout: 15_000 };

if (!HAS_CHROMIUM) console.warn(`dashboard browser tests${SKIP_REASON}`);

type TestDaemon = Daemon & { cleanupDir: () => void };

/** One attribute of every element the locator matches, in document order. */
/** One attribute of every element the locator matches, read in one go (rows re-rendered between reads cannot hang it). */
async function attrs(locator: Locator, name: string): Promise<string[]> {
  const read = (els: readonly { getAttribute(attr: string): string | null }[], attr: string): string[] => els.map((e) => e.getAttribute(attr) ?? '');
  return locator.evaluateAll<string[], string>(read as (els: unknown[], attr: string) => string[], name);
}

async function rowKinds(page: Page): Promise<string[]> {
  return attrs(page.locator('#mismatch-rows tr.mismatch-row'), 'data-kind');
}

async function rowUsers(page: Page): Promise<string[]> {
  return page.locator('#mismatch-rows tr.mismatch-row a.user-link').allTextContents();
}

function mismatch(over: Partial<NewMismatch> & { userID: string }): NewMismatch {
  const now = Date.now();
  return {
    kind: 'transient',
    platformID: 5,
    platform: 'Web',
    detectedAt: now,
    occurredAfter: null,
    occurredBefore: null,
    eventSeq: null,
    lateByMs: null,
    lateAt: null,
    status: 'open',
    shadow: false,
    evidence: [{ at: now - 3000, what: 'poll', ref: 9, detail: 'poll read offline, confirm poll read online again' }],
    note: '',
    updatedAt: now,
    ...over,
  };
}

describe.skipIf(!HAS_CHROMIUM)(`the dashboard in a browser${SKIP_REASON}`, () => {
  let browser: BrowserSession;
  beforeAll(async () => {
    browser = await startBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  describe('when offline webhooks go silent', () => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startTestDaemon();
      for (let i = 1; i <= 6; i++) await online(d, `android-${i}`, 2);
      await online(d, 'web-1', 5);
    });
    afterAll(async () => {
      await d?.close();
      d?.cleanupDir();
    });

    it('turns the status line from healthy to silent and shows the cause', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      await page.locator('#status-state', { hasText: 'healthy' }).waitFor(WAIT);
      await expect.poll(() => page.locator('#webhook-rows td[data-field="state"][data-state="healthy"]').count(), WAIT).toBeGreaterThan(0);
      expect(await page.locator('#status').getAttribute('class')).toContain('status-healthy');
      expect(await page.locator('#health-facts').innerText()).toMatch(/polling disabled/);

      // The poller learns every disconnect on Android; no offline webhook ever came.
      d.engine.correct([1, 2, 3, 4, 5, 6].map((i) => correction(`android-${i}`, 2, false)));

      await page.locator('#status-state', { hasText: 'silent' }).waitFor(WAIT);
      expect(await page.locator('#status').getAttribute('class')).toContain('status-silent');
      expect(await page.locator('#status-cause').innerText()).toContain('no offline webhook at all while users disconnect');
      expect(await page.locator('#status-cause code').allTextContents()).toContain('afterUserOffline.enable');
      expect(await page.locator('#status-affected').innerText()).toBe('silent offline on Android');
      const cell = page.locator('#webhook-rows tr.health-row[data-platform-id="2"] td[data-command="offline"][data-field="state"]');
      expect(await cell.getAttribute('data-state')).toBe('silent');
      // The charts follow the corrections the live feed reported.
      await page.locator('#chart-mismatches-summary', { hasText: '6 mismatches' }).waitFor(WAIT);
      await screenshot(page, 'health-silent', false);
      expect(errors).toEqual([]);
      await page.close();
    });
  });

  describe('with webhooks, corrections and mismatches recorded', () => {
    let d: TestDaemon;
    let daveMismatch: number;
    beforeAll(async () => {
      d = await startTestDaemon();
      await online(d, 'alice', 5);
      await online(d, 'bob', 1);
      await online(d, HOSTILE_USER, 5);
      for (let i = 1; i <= 3; i++) await online(d, `android-${i}`, 2);
      await online(d, HOSTILE_USER, 1);
      d.engine.correct([1, 2, 3].map((i) => correction(`android-${i}`, 2, false)));
      daveMismatch = d.engine.correct([correction('dave', 5, true)]).mismatchIDs[0]!;
      d.engine.correct([correction(HOSTILE_USER, 1, false, HOSTILE_DETAIL)]);
      d.engine.recordMismatch(mismatch({ userID: 'alice', note: HOSTILE_NOTE }));
    });
    afterAll(async () => {
      await d?.close();
      d?.cleanupDir();
    });

    it('draws the transitions and mismatch charts from the timeseries', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      await page.locator('#chart-transitions svg rect.bar').first().waitFor(WAIT);
      // Bars in both colours: webhook transitions and corrections.
      const fills = new Set(await attrs(page.locator('#chart-transitions rect.bar'), 'fill'));
      expect([...fills].sort()).toEqual(['#2f6fe4', '#ea6c12']);
      expect(await page.locator('#chart-transitions-summary').innerText()).toMatch(/^12 transitions · 42% by correction · 7 webhooks received$/);
      await page.locator('#chart-mismatches svg rect.bar').first().waitFor(WAIT);
      expect(await page.locator('#legend-mismatches').innerText()).toContain('missed offline (4)');
      // Another range asks the server again.
      await page.locator('#range-buttons button[data-range="24h"]').click();
      await expect.poll(() => page.locator('#range-buttons button.active').innerText()).toBe('24 h');
      await page.locator('#chart-transitions svg rect.bar').first().waitFor(WAIT);
      await screenshot(page, 'overview');
      expect(errors).toEqual([]);
      await page.close();
    });

    it('filters the mismatch table by kind, platform and user', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      await expect.poll(() => rowKinds(page), WAIT).toHaveLength(6);

      await page.locator('#filter-kind').selectOption('missed_online');
      await expect.poll(() => rowKinds(page), WAIT).toEqual(['missed_online']);
      expect(await rowUsers(page)).toEqual(['dave']);

      await page.locator('#filter-kind').selectOption('');
      await page.locator('#filter-platform').selectOption('Android');
      await expect.poll(() => rowUsers(page), WAIT).toEqual(['android-3', 'android-2', 'android-1']);

      await page.locator('#filter-platform').selectOption('');
      await page.locator('#filter-user').fill('alice');
      await expect.poll(() => rowKinds(page), WAIT).toEqual(['transient']);

      await page.locator('#filter-user').fill('nobody');
      await page.locator('#mismatch-empty').waitFor({ state: 'visible', ...WAIT });

      await page.locator('#mismatch-filters button[type="reset"]').click();
      await expect.poll(() => rowKinds(page), WAIT).toHaveLength(6);

      await page.locator('#filter-since').selectOption('15m');
      await expect.poll(() => rowKinds(page), WAIT).toHaveLength(6);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('opens the timeline of a user from the table', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      const link = page.locator('#mismatch-rows a.user-link', { hasText: 'dave' });
      await link.waitFor(WAIT);
      await link.click();
      await page.locator('#timeline-view').waitFor({ state: 'visible', ...WAIT });
      expect(page.url()).toMatch(/#\/user\/dave$/);
      expect(await page.locator('#timeline-user').innerText()).toBe('dave');
      await expect.poll(() => attrs(page.locator('#timeline-list > li'), 'data-kind'), WAIT).toEqual([
        'mismatch',
        'event',
      ]);
      expect(await page.locator('#timeline-list').innerText()).toContain('correction for mismatch');
      // Marks on the time axis, and the correction window drawn under them: the legend names the bar it draws.
      expect(await page.locator('#timeline-chart svg .mark').count()).toBe(2);
      expect(await page.locator('#timeline-chart svg rect.correction-window').count()).toBe(1);
      const bar = await page.locator('#timeline-chart svg rect.correction-window').boundingBox();
      expect(bar!.width).toBeGreaterThanOrEqual(6);
      expect(await page.locator('#timeline-legend').innerText()).toContain('correction window: when a corrected change really happened (1)');
      expect(await page.locator('#timeline-presence').innerText()).toMatch(/Web\s*online/);
      // Clicking a mark highlights its line in the list.
      await page.locator('#timeline-chart svg .mark').first().click();
      expect(await page.locator('#timeline-list > li.highlight').count()).toBe(1);
      await screenshot(page, 'timeline');
      // Back to the overview.
      await page.locator('#timeline-view a.back').click();
      await page.locator('#overview-view').waitFor({ state: 'visible', ...WAIT });
      expect(errors).toEqual([]);
      await page.close();
    });

    it('names no correction window in the legend of a user whose changes all came by webhook', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(`${d.apiUrl}/#/user/bob`);
      await expect.poll(() => attrs(page.locator('#timeline-list > li'), 'data-kind'), WAIT).toEqual(['webhook', 'event']);
      expect(await page.locator('#timeline-chart svg rect.correction-window').count()).toBe(0);
      const legend = await page.locator('#timeline-legend').innerText();
      expect(legend).toContain('filled = online, hollow = offline');
      expect(legend).not.toMatch(/shaded|correction window/);
      expect(legend).not.toContain('null');
      expect(errors).toEqual([]);
      await page.close();
    });

    it('draws an open correction window, from the left edge, for a correction with nothing known before it', async () => {
      d.engine.correct([{ ...correction('first-seen', 5, true), occurredAfter: null }]);
      const { page, errors } = await browser.newPage();
      await page.goto(`${d.apiUrl}/#/user/first-seen`);
      await page.locator('#timeline-chart svg rect.correction-window.open').waitFor(WAIT);
      expect(await page.locator('#timeline-legend').innerText()).toContain('correction window');
      expect(await page.locator('#timeline-chart svg rect.correction-window title').textContent()).toMatch(/^correction: happened before \S+ \(nothing earlier was known\)$/);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('shows an event posted while the page is open in the live feed', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      // The backlog of recent events is shown first.
      await page.locator('#live-feed li[data-user-id="alice"]').waitFor(WAIT);
      await expect.poll(() => page.locator('#live-status').getAttribute('class'), WAIT).toMatch(/^live-status (live|polling)$/);
      await online(d, 'eve-live', 7);
      const item = page.locator('#live-feed li[data-user-id="eve-live"]');
      await item.waitFor(WAIT);
      const text = await item.innerText();
      expect(text).toContain('online');
      expect(text).toContain('Linux');
      expect(text).toContain('webhook');
      // Newest first.
      expect(await page.locator('#live-feed li').first().getAttribute('data-user-id')).toBe('eve-live');
      expect(errors).toEqual([]);
      await page.close();
    });

    it('follows the stream over server-sent events when the daemon offers them', async () => {
      const { page, errors } = await browser.newPage();
      const event = {
        seq: 900_001,
        type: 'presence.offline',
        userID: 'sse-user',
        platformID: 5,
        platform: 'Web',
        userOnline: false,
        userVersion: 4,
        source: 'poll',
        occurredAfter: new Date(Date.now() - 30_000).toISOString(),
        occurredBefore: new Date(Date.now() - 5_000).toISOString(),
        recordedAt: new Date().toISOString(),
        mismatchID: 77,
      };
      const streamUrls: string[] = [];
      // An event stream as `GET /v1/events` with `Accept: text/event-stream` sends it: `id: <seq>`, `data: <event JSON>`.
      await page.route('**/v1/events?**', async (route) => {
        if (!(route.request().headers().accept ?? '').includes('text/event-stream')) return route.continue();
        streamUrls.push(route.request().url());
        return route.fulfill({
          status: 200,
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
          body: `retry: 60000\n\n: comment line\n\nevent: heartbeat\ndata: {"head":${event.seq}}\n\nid: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`,
        });
      });
      await page.goto(d.apiUrl);
      const item = page.locator('#live-feed li[data-user-id="sse-user"]');
      await item.waitFor(WAIT);
      const text = await item.innerText();
      expect(text).toContain('correction · mismatch #77');
      expect(text).toMatch(/happened between \S+ and \S+/);
      // It resumed after the backlog it had already shown.
      expect(new URL(streamUrls[0]!).searchParams.get('after')).toMatch(/^\d+$/);
      expect(await page.locator('#live-feed li[data-user-id="sse-user"]').count()).toBe(1);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('renders hostile userIDs, evidence and notes as text', async () => {
      const { page, dialogs, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      const cell = page.locator('#mismatch-rows a.user-link', { hasText: HOSTILE_USER });
      await cell.first().waitFor(WAIT);
      expect(await cell.first().textContent()).toBe(HOSTILE_USER);
      await page.locator('#live-feed a.user-link', { hasText: HOSTILE_USER }).first().waitFor(WAIT);

      // Open the evidence of the hostile user's mismatch and the note of alice's.
      await page
        .locator('#mismatch-rows tr.mismatch-row', { has: page.locator('a.user-link', { hasText: HOSTILE_USER }) })
        .locator('td')
        .first()
        .click();
      await page.getByText(HOSTILE_DETAIL).waitFor(WAIT);
      await page.locator('#mismatch-rows tr.mismatch-row[data-kind="transient"] td').first().click();
      await page.getByText(HOSTILE_NOTE).waitFor(WAIT);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('#mismatch-rows script, #mismatch-rows b').count()).toBe(0);

      // The timeline of that user, reached through its encoded link.
      await cell.first().click();
      await page.locator('#timeline-view').waitFor({ state: 'visible', ...WAIT });
      expect(await page.locator('#timeline-user').textContent()).toBe(HOSTILE_USER);
      await page.locator('#timeline-list > li').first().waitFor(WAIT);
      await page.locator('#timeline-list details').first().click();
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('[onerror]').count()).toBe(0);
      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('acknowledges and resolves a mismatch from the table', async () => {
      const { page, errors } = await browser.newPage();
      await page.goto(d.apiUrl);
      const row = page.locator(`#mismatch-rows tr.mismatch-row[data-mismatch-id="${daveMismatch}"]`);
      await row.waitFor(WAIT);
      expect(await row.getAttribute('data-status')).toBe('open');
      await row.locator('button[data-action="ack"]').click();
      await expect.poll(() => row.getAttribute('data-status'), WAIT).toBe('acknowledged');
      expect(await row.locator('button[data-action="ack"]').count()).toBe(0);
      const stored = (await (await fetch(`${d.apiUrl}/v1/mismatches/${daveMismatch}`)).json()) as { status: string };
      expect(stored.status).toBe('acknowledged');

      // Resolve with a note from the evidence panel.
      await row.locator('td').first().click();
      const detail = page.locator(`#mismatch-rows tr[data-detail-for="${daveMismatch}"]`);
      await detail.locator('input.note-input').fill('gateway 2 was restarted');
      await detail.locator('button[data-action="resolve"]').click();
      await expect.poll(() => row.getAttribute('data-status'), WAIT).toBe('resolved');
      const resolved = (await (await fetch(`${d.apiUrl}/v1/mismatches/${daveMismatch}`)).json()) as { status: string; note: string };
      expect(resolved).toMatchObject({ status: 'resolved', note: 'gateway 2 was restarted' });
      expect(await detail.innerText()).toContain('gateway 2 was restarted');
      expect(errors).toEqual([]);
      await page.close();
    });

    it('asks once for the bearer token when the API requires one and sends it on every request', async () => {
      const TOKEN = 'dashboard-test-token-0123456789';
      const { page, errors } = await browser.newPage();
      const seen: { path: string; authorized: boolean }[] = [];
      // Stand in for a daemon configured with api.tokens: /v1 answers 401 without the token.
      await page.route('**/v1/**', async (route) => {
        const req = route.request();
        const url = new URL(req.url());
        const authorized = req.headers().authorization === `Bearer ${TOKEN}` || url.searchParams.get('access_token') === TOKEN;
        seen.push({ path: url.pathname, authorized });
        if (!authorized) {
          await route.fulfill({
            status: 401,
            contentType: 'application/json',
            body: JSON.stringify({ error: { code: 'OPR_ERR_UNAUTHORIZED', message: 'a bearer token is required' } }),
          });
          return;
        }
        await route.continue();
      });
      await page.goto(d.apiUrl);
      await page.locator('#auth-panel').waitFor({ state: 'visible', ...WAIT });
      expect(await page.locator('#status-state').textContent()).toBe('loading…');

      // A wrong token is refused and the prompt says so.
      await page.locator('#auth-token').fill('wrong-token-wrong-token');
      await page.locator('#auth-form button[type="submit"]').click();
      await page.locator('#auth-error', { hasText: 'not accepted' }).waitFor(WAIT);

      await page.locator('#auth-token').fill(TOKEN);
      await page.locator('#auth-form button[type="submit"]').click();
      await page.locator('#auth-panel').waitFor({ state: 'hidden', ...WAIT });
      await expect.poll(() => page.locator('#status-state').textContent(), WAIT).not.toBe('loading…');
      await expect.poll(() => rowKinds(page), WAIT).not.toHaveLength(0);
      await expect.poll(() => page.locator('#live-status').getAttribute('class'), WAIT).toMatch(/^live-status (live|polling)$/);

      // Kept for the tab: a reload asks nothing and every request carries the token.
      const before = seen.length;
      await page.reload();
      await expect.poll(() => page.locator('#status-state').textContent(), WAIT).not.toBe('loading…');
      await expect.poll(() => page.locator('#live-status').getAttribute('class'), WAIT).toMatch(/^live-status (live|polling)$/);
      expect(await page.locator('#auth-panel').isVisible()).toBe(false);
      const after = seen.slice(before);
      expect(after.length).toBeGreaterThan(3);
      expect(after.filter((r) => !r.authorized)).toEqual([]);
      expect(new Set(after.map((r) => r.path))).toContain('/v1/events');
      expect(errors).toEqual([]);
      await page.close();
    });
  });
});
