/**
 * The operator dashboard: static files served by the daemon itself (no CDN, no external fonts, works offline).
 * `/` is the page, `/dashboard/<file>` its stylesheet and entry script, `/dashboard/js/<file>` the script's modules.
 * The files are read once, at start, from the `assets` directory next to this module (src/ under tsx, dist/ once
 * built), and served with an ETag.
 * The page itself holds no data: it reads everything from the /v1 API with the operator's bearer token.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** Content types of the file kinds the dashboard ships; any other file in the directory is not served. */
export const ASSET_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Only this origin's own files and API; no inline script, so injected markup could not run even if some text
 * were ever rendered as HTML.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export interface DashboardRoutesOptions {
  /** Directory of the static files; by default `./assets/` next to this module. */
  assetsDir?: URL | string;
}

/** The one subdirectory whose files are served too, as `/dashboard/js/<file>`: the ES modules of the page's script. */
const MODULES_DIR = 'js';

/** The files of `dir` (and of its `js/` subdirectory, keyed `js/<name>`) of the kinds in ASSET_TYPES. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const modulesDir = join(dir, MODULES_DIR);
  const folders: [string, string][] = [[dir, '']];
  if (existsSync(modulesDir) && statSync(modulesDir).isDirectory()) folders.push([modulesDir, `${MODULES_DIR}/`]);
  for (const [folder, prefix] of folders) {
    for (const name of readdirSync(folder)) {
      const type = ASSET_TYPES[extname(name).toLowerCase()];
      const path = join(folder, name);
      if (type === undefined || !statSync(path).isFile()) continue;
      const body = readFileSync(path);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      assets.set(`${prefix}${name}`, { body, type, etag });
    }
  }
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset, cacheControl: string): FastifyReply {
  void reply
    .header('content-type', asset.type)
    .header('etag', asset.etag)
    .header('cache-control', cacheControl)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  if (asset.type.startsWith('text/html')) {
    void reply.header('content-security-policy', DASHBOARD_CSP).header('x-frame-options', 'DENY');
  }
  const inm = req.headers['if-none-match'];
  if (typeof inm === 'string' && inm.split(',').some((t) => t.trim() === asset.etag)) return reply.code(304).send();
  return reply.send(asset.body);
}

/** Serves `/` (the page), `/dashboard/<file>` (its assets) and `/dashboard/js/<file>` (its script's modules). */
export function registerDashboardRoutes(app: FastifyInstance, ctx: { log: Logger }, options: DashboardRoutesOptions = {}): void {
  const dirOption = options.assetsDir ?? new URL('./assets/', import.meta.url);
  const dir = typeof dirOption === 'string' ? dirOption : fileURLToPath(dirOption);
  let assets: Map<string, Asset>;
  try {
    assets = loadAssets(dir);
  } catch (err) {
    ctx.log.warn({ err, dir }, 'dashboard assets not found: the dashboard is not served (run the build, which copies them)');
    assets = new Map();
  }

  const page = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const index = assets.get('index.html');
    if (!index) {
      return reply.code(503).type('text/plain; charset=utf-8').send('the dashboard files are missing from this installation (src/dashboard/assets)\n');
    }
    // The page is small and must pick up a new daemon's script: always revalidate (cheap with the ETag).
    return send(req, reply, index, 'no-cache');
  };
  app.get('/', page);
  app.get('/dashboard', page);

  const file = (name: string, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const asset = assets.get(name);
    if (!asset) return reply.code(404).send({ error: { code: 'OPR_ERR_NOT_FOUND', message: 'no such dashboard file' } });
    // Not fingerprinted: a short freshness window, then revalidation by ETag.
    return send(req, reply, asset, 'public, max-age=60, must-revalidate');
  };
  app.get<{ Params: { file: string } }>('/dashboard/:file', (req, reply) => file(req.params.file, req, reply));
  app.get<{ Params: { file: string } }>(`/dashboard/${MODULES_DIR}/:file`, (req, reply) => file(`${MODULES_DIR}/${req.params.file}`, req, reply));
}
