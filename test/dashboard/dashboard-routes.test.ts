import { readdirSync } from 'node:fs';
import Fastify from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { registerDashboardRoutes } from '../../src/dashboard/dashboard-routes.js';
import { startTestDaemon } from '../helpers/daemon-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';

const MODULES_DIR = new URL('../../src/dashboard/assets/js/', import.meta.url);

/**
 * The page's script as served: the entry module and every module it imports (followed through their `import … from`
 * statements), by URL path, with their text and response headers.
 */
async function scriptModules(base: string): Promise<Map<string, { headers: Headers; code: string }>> {
  const found = new Map<string, { headers: Headers; code: string }>();
  const queue = ['/dashboard/dashboard.js'];
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    if (found.has(path)) continue;
    const res = await fetch(`${base}${path}`);
    expect(res.status, path).toBe(200);
    const code = await res.text();
    found.set(path, { headers: res.headers, code });
    for (const m of code.matchAll(/^\s*(?:import|export)\s[^'"]*?\sfrom\s+'([^']+)';$/gm)) queue.push(new URL(m[1]!, `http://x${path}`).pathname);
  }
  return found;
}

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
    // The script is the entry module and the modules it imports from /dashboard/js/, each served like it.
    const modules = await scriptModules(d.apiUrl);
    expect(modules.size).toBeGreaterThan(10);
    for (const [path, { headers }] of modules) {
      expect(headers.get('content-type'), path).toBe('text/javascript; charset=utf-8');
      expect(headers.get('cache-control'), path).toBe('public, max-age=60, must-revalidate');
      expect(headers.get('x-content-type-options'), path).toBe('nosniff');
    }
    const code = [...modules.values()].map((m) => m.code).join('\n');
    expect(code).toContain('/v1/health');
    expect(code).not.toContain('innerHTML');
    // The only absolute URL is the SVG namespace name, which is never fetched.
    expect(new Set(code.match(/https?:\/\/[^'"\s]*/g))).toEqual(new Set(['http://www.w3.org/2000/svg']));
  });

  it('serves every module of the script, and the page loads each one it needs from this origin', async () => {
    const loaded = [...(await scriptModules(d.apiUrl)).keys()].sort();
    // types.js only declares types (JSDoc) for the type check: no module imports it at run time.
    const files = readdirSync(MODULES_DIR).filter((f) => f.endsWith('.js'));
    expect(loaded).toEqual(['/dashboard/dashboard.js', ...files.filter((f) => f !== 'types.js').map((f) => `/dashboard/js/${f}`)].sort());
    for (const f of files) {
      const res = await fetch(`${d.apiUrl}/dashboard/js/${f}`);
      expect(res.status, f).toBe(200);
      expect(res.headers.get('content-type'), f).toBe('text/javascript; charset=utf-8');
    }
    // Each starts with `// @ts-check`: tsconfig.dashboard.json type-checks them all, and an editor shows the same.
    for (const [path, { code }] of await scriptModules(d.apiUrl)) expect(code.startsWith('// @ts-check\n'), path).toBe(true);
  });

  it('answers a revalidation with the same ETag by 304', async () => {
    const first = await fetch(`${d.apiUrl}/dashboard/dashboard.js`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${d.apiUrl}/dashboard/dashboard.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const module = await fetch(`${d.apiUrl}/dashboard/js/api.js`);
    const moduleEtag = module.headers.get('etag');
    expect(moduleEtag).toMatch(/^".+"$/);
    expect(moduleEtag).not.toBe(etag);
    const moduleAgain = await fetch(`${d.apiUrl}/dashboard/js/api.js`, { headers: { 'if-none-match': moduleEtag! } });
    expect(moduleAgain.status).toBe(304);
  });

  it('serves nothing else: unknown names and paths out of the directory are 404', async () => {
    for (const path of [
      '/dashboard/nope.js',
      '/dashboard/..%2fdashboard-routes.ts',
      '/dashboard/%2e%2e%2f%2e%2e%2fpackage.json',
      '/dashboard/../../package.json',
      '/dashboard/js/nope.js',
      '/dashboard/js/..%2f..%2fdashboard-routes.ts',
      '/dashboard/js/%2e%2e%2fdashboard.css',
      '/dashboard/js',
      '/dashboard/css/dashboard.css',
    ]) {
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
