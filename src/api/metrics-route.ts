import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './api-context.js';

/** `GET /metrics`: the Prometheus text exposition format (version 0.0.4). Stops the metrics when the server closes. */
export function registerMetricsRoute(app: FastifyInstance, ctx: Pick<ApiContext, 'metrics' | 'onClose'>): void {
  const { metrics } = ctx;
  ctx.onClose(() => metrics.close());
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.render();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
  });
}
