/**
 * Bearer-token authentication of the `/v1` API (JSON routes and the event stream).
 *
 * - Tokens come from `api.tokens` (or `api.tokensFile`). A presented token is hashed with SHA-256 and compared with
 *   the hash of every configured token using `timingSafeEqual`, always checking all of them, so neither the
 *   comparison nor the number of tokens tried reveals how much of a token was right.
 * - `api.requireAuth`: `always` requires a token, `never` requires none, `auto` (the default) requires one unless
 *   `api.host` is a loopback address (127.0.0.0/8, ::1, localhost): a daemon reachable only from its own machine is
 *   open, one listening on a network interface is not.
 * - A refusal is `401` with `WWW-Authenticate: Bearer` and
 *   `{"error":{"code":"OPR_ERR_UNAUTHORIZED","message":"missing or invalid bearer token"}}`, whatever was wrong.
 * - Clients that cannot set headers (a browser `EventSource`) may pass the token as `?access_token=` on
 *   `GET /v1/events` only; the header is preferred everywhere, because URLs end up in proxy and browser histories.
 * - Open without a token: `/healthz`, `/readyz` (orchestrator probes), `/metrics` (Prometheus scrapers; it carries
 *   counts, never secrets or user data), the webhook listener (protected by its path secret and allowlist) and the
 *   dashboard's static files (`/`, `/dashboard/*`), which hold no data: the page asks for the token and sends it to
 *   `/v1` itself.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import type { ApiContext } from './api-context.js';

/** The body of every 401: it says nothing about which part was wrong. */
export const UNAUTHORIZED_BODY = { error: { code: 'OPR_ERR_UNAUTHORIZED', message: 'missing or invalid bearer token' } } as const;

/** Paths that accept `?access_token=` in place of the Authorization header (event streams). */
const QUERY_TOKEN_PATHS: ReadonlySet<string> = new Set(['/v1/events']);

/** True for 127.0.0.0/8, ::1 (any spelling fastify accepts), IPv4-mapped loopback and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h.startsWith('::ffff:')) h = h.slice('::ffff:'.length);
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return h.split('.').every((o) => Number(o) <= 255);
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(h) || h === '::1';
}

/** Whether `/v1` requires a bearer token under this configuration. */
export function authRequired(api: Pick<Config['api'], 'requireAuth' | 'host'>): boolean {
  if (api.requireAuth === 'always') return true;
  if (api.requireAuth === 'never') return false;
  return !isLoopbackHost(api.host);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A matcher over the configured tokens: constant time in the presented token and in which token matched. */
export function tokenMatcher(tokens: readonly string[]): (presented: string) => boolean {
  const digests = tokens.filter((t) => t.length > 0).map(sha256);
  return (presented) => {
    const digest = sha256(presented);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(digest, d) || ok;
    return ok;
  };
}

/** The path part of a request URL, percent-decoded, with repeated slashes collapsed (the router ignores them too). */
export function requestPath(url: string): string {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  try {
    path = decodeURIComponent(path);
  } catch {
    // Malformed escapes: judged as written (the router answers 400 or 404 for them).
  }
  return path.replace(/\/{2,}/g, '/');
}

/** Whether a path is under the token-protected API. */
export function isProtectedPath(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/');
}

/** The token a request presents: the Authorization header, or `?access_token=` where that is allowed. */
export function presentedToken(req: Pick<FastifyRequest, 'headers' | 'query' | 'method'>, path: string): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    return m?.[1];
  }
  if ((req.method === 'GET' || req.method === 'HEAD') && QUERY_TOKEN_PATHS.has(path.replace(/\/$/, ''))) {
    const q = req.query as Record<string, unknown> | undefined;
    const t = q?.access_token;
    if (typeof t === 'string' && t.length > 0) return t;
  }
  return undefined;
}

export function sendUnauthorized(reply: FastifyReply): FastifyReply {
  return reply.code(401).header('www-authenticate', 'Bearer').header('cache-control', 'no-store').send(UNAUTHORIZED_BODY);
}

/**
 * Installs the `onRequest` hook that guards `/v1`. Register it before the routes. Does nothing when authentication
 * is not required (see {@link authRequired}).
 */
export function registerAuth(app: FastifyInstance, ctx: Pick<ApiContext, 'config' | 'log'>): void {
  const api = ctx.config.api;
  if (!authRequired(api)) {
    if (api.requireAuth === 'auto') ctx.log.info({ host: api.host }, 'the /v1 API is open without a token: api.host is a loopback address');
    return;
  }
  if (api.tokens.length === 0) {
    ctx.log.warn(
      { host: api.host, requireAuth: api.requireAuth },
      'the /v1 API requires a bearer token but api.tokens is empty: every /v1 request will be refused (set api.tokens or api.tokensFile)',
    );
  }
  const matches = tokenMatcher(api.tokens);
  app.addHook('onRequest', async (req, reply) => {
    // The matched route decides; the raw path covers requests that match no route (no 404 probing without a token).
    const route = req.routeOptions.url;
    const path = requestPath(req.url);
    if (!isProtectedPath(path) && !(route !== undefined && isProtectedPath(route))) return;
    const token = presentedToken(req, route ?? path);
    if (token !== undefined && matches(token)) return;
    return sendUnauthorized(reply);
  });
}
