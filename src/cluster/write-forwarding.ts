/**
 * Operators' writes (POST /v1/…: acknowledging and resolving mismatches and incidents, retrying and replaying
 * subscribers) on a replica that is not the writer, and reads of what only the writer knows (GET /v1/subscribers:
 * the push workers' live state), are forwarded to the writer's API, whose answer is returned as it is, so every
 * replica serves the API with the same contract. Without a writer (an election under way) or when it
 * cannot be reached, the answer is 503 OPR_ERR_NOT_LEADER with Retry-After, and nothing was written.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LeaseHolder } from './writer-lease.js';

export interface WriteForwardingOptions {
  /** True while this replica is the writer (its own routes answer). */
  isWriter: () => boolean;
  /** The writer now, from Redis. */
  writer: () => Promise<LeaseHolder | undefined>;
  /** This replica's name (it may hold the lease while still catching up). */
  replica: string;
  timeoutMs: number;
}

const FORWARDED_HEADERS = ['authorization', 'content-type', 'accept'];
/** Set on a forwarded request: the replica that forwarded it. */
const FORWARDED_BY = 'x-opr-forwarded-by';

function notLeader(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(503)
    .header('retry-after', '1')
    .send({ error: { code: 'OPR_ERR_NOT_LEADER', message } });
}

/** Requests only the writer can answer: writes under /v1/, and the push delivery state. */
function forwarded(req: FastifyRequest): boolean {
  if (!req.url.startsWith('/v1/')) return false;
  if (req.method === 'GET' || req.method === 'HEAD')
    return (
      req.url === '/v1/subscribers' || req.url.startsWith('/v1/subscribers/') || req.url.startsWith('/v1/subscribers?')
    );
  return req.method !== 'OPTIONS';
}

export function registerWriteForwarding(app: FastifyInstance, opts: WriteForwardingOptions): void {
  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!forwarded(req) || opts.isWriter()) return;
    // Forwarded once at most: a replica that believed itself the writer when the request was sent is not one now.
    if (req.headers[FORWARDED_BY] !== undefined)
      return notLeader(reply, 'the writer changed while this request was forwarded; retry in a moment');
    const writer = await opts.writer().catch(() => undefined);
    if (writer === undefined || writer.apiUrl === '')
      return notLeader(
        reply,
        'no replica holds the writer lease right now (an election is under way); retry in a moment',
      );
    if (writer.replica === opts.replica)
      return notLeader(
        reply,
        'this replica is becoming the writer (catching up with the shared log); retry in a moment',
      );
    const headers: Record<string, string> = { [FORWARDED_BY]: opts.replica };
    for (const h of FORWARDED_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const body =
      req.body === undefined || req.body === null
        ? undefined
        : typeof req.body === 'string'
          ? req.body
          : JSON.stringify(req.body);
    let res: Response;
    try {
      res = await fetch(`${writer.apiUrl}${req.url}`, {
        method: req.method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (e) {
      return notLeader(
        reply,
        `the writer (${writer.replica}) could not be reached: ${(e as Error).message}; retry in a moment`,
      );
    }
    const text = await res.text();
    const type = res.headers.get('content-type');
    if (type !== null) void reply.header('content-type', type);
    const retry = res.headers.get('retry-after');
    if (retry !== null) void reply.header('retry-after', retry);
    return reply.code(res.status).send(text);
  });
}
