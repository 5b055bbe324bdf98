import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './api-context.js';
import { registerAuth } from './auth.js';
import { registerEventRoutes } from './events-routes.js';
import { healthToJson } from './health-json.js';
import { registerIncidentRoutes } from './incident-routes.js';
import { registerMetricsRoute } from './metrics-route.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerPresenceRoutes } from './presence-routes.js';
import { registerStatsRoutes } from './stats-routes.js';
import { registerSubscriberRoutes } from './subscriber-routes.js';
import { demoStatusToJson } from '../demo/demo-script.js';
import { ApiError } from '../errors.js';
import { registerDashboardRoutes } from '../dashboard/dashboard-routes.js';

/**
 * Mounts every /v1 route, the dashboard and the probes on the API server. One line per area. Every answer says
 * `X-Content-Type-Options: nosniff`, so no browser ever renders a JSON body (user strings included) as HTML.
 */
export function registerApiRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.addHook('onSend', (_req, reply, payload, done) => {
    void reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
  registerAuth(app, ctx);
  registerEventRoutes(app, ctx);
  registerPresenceRoutes(app, ctx);
  registerSubscriberRoutes(app, ctx);
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', (_req, reply) => {
    const own = ctx.health.ready();
    const cluster = ctx.cluster?.ready();
    const r = own.ready && cluster && !cluster.ready ? cluster : own;
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', reason: r.reason });
  });
  app.get('/v1/health', () => ({
    ...healthToJson(ctx.health.health(), {
      excludedUsers: ctx.store.countTrackedAmong(ctx.config.poll.excludeUsers),
      windowMinutes: ctx.config.reconcile.healthWindowMinutes,
      renewalMinutes: Math.round(ctx.config.reconcile.renewalSilenceMs / 60_000),
    }),
    ...(ctx.cluster ? { cluster: ctx.cluster.status() } : {}),
  }));
  app.get('/v1/demo', () => {
    if (!ctx.demo) throw new ApiError('OPR_ERR_NOT_FOUND', 404, 'not running the demo');
    return demoStatusToJson(ctx.demo());
  });
  registerOpsRoutes(app, ctx);
  registerIncidentRoutes(app, ctx);
  registerMetricsRoute(app, ctx);
  registerStatsRoutes(app, ctx);
  registerDashboardRoutes(app, ctx);
}
