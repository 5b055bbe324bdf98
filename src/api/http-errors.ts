import type { FastifyInstance } from 'fastify';
import { ApiError, isOprError } from '../errors.js';

/** Renders ApiError (and fastify's own 4xx) as `{ error: { code, message } }`. */
export function installApiErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.status).send({ error: { code: err.code, message: err.message, ...err.details } });
    }
    // Redis backend: a write that reached a follower, or Redis out of reach; nothing was written, retry soon.
    if (isOprError(err) && (err.code === 'OPR_ERR_NOT_LEADER' || err.code === 'OPR_ERR_REDIS_UNAVAILABLE')) {
      return reply.code(503).header('retry-after', '1').send({ error: { code: err.code, message: err.message } });
    }
    const status = err.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({ error: { code: 'OPR_ERR_BAD_REQUEST', message: err.message } });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: { code: 'OPR_ERR_INTERNAL', message: 'internal error' } });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: { code: 'OPR_ERR_NOT_FOUND', message: 'not found' } }));
}

/** Parses an integer query parameter, with bounds, or throws a 400 naming it. */
export function intParam(value: unknown, name: string, def: number, min: number, max: number): number {
  if (value === undefined || value === '') return def;
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ApiError('OPR_ERR_BAD_REQUEST', 400, `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value).slice(0, 40)}`);
  }
  return n;
}
