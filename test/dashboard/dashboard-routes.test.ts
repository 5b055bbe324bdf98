import Fastify from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { registerDashboardRoutes } from '../../src/dashboard/dashboard-routes.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('the dashboard files served by the daemon', () => {
  let d: Daemon & { cleanupDir: () => void };
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.close();
    d.cleanupDir();
  });

  it('serves the page at / as HTML that loads only its own stylesheet and script', async () => {
    const res = await fetch(`${d.apiUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('<link rel="stylesheet" href="/dashboard/dashboard.css">');
    expect(html).toContain('<script type="module" src="/dashboard/dashboard.js"></script>');
    // Works offline: nothing is fetched from another origin.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('serves the stylesheet and the script with their content types', async () => {
    const css = await fetch(`${d.apiUrl}/dashboard/dashboard.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toContain('.status-line');
    const js = await fetch(`${d.apiUrl}/dashboard/dashboard.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=60, must-revalidate');
    const code = await js.text();
    expect(code).toContain('/v1/health');
    expect(code).not.toContain('innerHTML');
    // The only absolute URL is the SVG namespace name, which is never fetched.
    expect(new Set(code.match(/https?:\/\/[^'"\s]*/g))).toEqual(new Set(['http://www.w3.org/2000/svg']));
  });

  it('answers a revalidation with the same ETag by 304', async () => {
    const first = await fetch(`${d.apiUrl}/dashboard/dashboard.js`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${d.apiUrl}/dashboard/dashboard.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('serves nothing else: unknown names and paths out of the directory are 404', async () => {
    for (const path of ['/dashboard/nope.js', '/dashboard/..%2fdashboard-routes.ts', '/dashboard/%2e%2e%2f%2e%2e%2fpackage.json', '/dashboard/../../package.json']) {
      const res = await fetch(`${d.apiUrl}${path}`);
      expect(res.status, path).toBe(404);
    }
  });

  it('says the files are missing, instead of failing to start, when the assets directory is absent', async () => {
    const dir = tempDir('opr-no-assets-');
    const app = Fastify();
    registerDashboardRoutes(app, { log: pino({ level: 'silent' }) }, { assetsDir: `${dir.path}/missing` });
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('dashboard files are missing');
    await app.close();
    dir.cleanup();
  });
});
