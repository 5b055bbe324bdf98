import { BlockList, isIPv6 } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus } from '../engine/event-bus.js';
import type { IngestItem, IngestResult } from '../engine/presence-engine.js';
import { isOprError } from '../errors.js';
import { knownPlatformIDs, PLATFORM_IDS } from '../openim/platforms.js';
import { isWebhookCommand, parseWebhookFast, WEBHOOK_SCHEMAS, WEBHOOK_SUCCESS_BODY, webhookErrorBody } from '../openim/webhook-schemas.js';

export interface WebhookRoutesOptions {
  pathSecret: string;
  allowlist: readonly string[];
  /** The platformIDs accepted (OpenIM's and `webhook.extraPlatforms`); by default OpenIM's only. */
  platformIDs?: ReadonlySet<number>;
  /** Records the webhook durably; `accepted`: taken into the shared inbox (Redis backend), ingested by the writer. */
  submit: (item: IngestItem) => Promise<IngestResult | 'accepted'>;
  bus: EventBus;
  now?: () => number;
}

/** Why a webhook was refused; each becomes a metric label and an errMsg. */
export const REJECT_REASONS = [
  'malformed_json',
  'invalid_body',
  'command_mismatch',
  'unsupported_media_type',
  'body_too_large',
  'unknown_command',
  'overloaded',
  'shutting_down',
  'store_unavailable',
  'forbidden',
  'unknown_platform',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

function buildAllowlist(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr = '', bits] = c.split('/');
    const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

function allowed(list: BlockList, address: string): boolean {
  if (isIPv6(address)) {
    if (list.check(address, 'ipv6')) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    return mapped !== null && list.check(mapped[1]!, 'ipv4');
  }
  return list.check(address, 'ipv4');
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Compares digests, so neither the content nor the length of the secret shows in the time taken. */
function secretMatches(expected: Buffer, given: string): boolean {
  return timingSafeEqual(digest(given), expected);
}

/**
 * Mounts `POST /{pathSecret}/{command}` (and the `?command=` form) on a fastify instance. The instance must be
 * created with `ignoreDuplicateSlashes: true` (a trailing `/` on OpenIM's url gives `//`).
 */
export function registerWebhookRoutes(app: FastifyInstance, opts: WebhookRoutesOptions): void {
  const expected = digest(opts.pathSecret);
  const allowlist = buildAllowlist(opts.allowlist);
  const now = opts.now ?? Date.now;
  const platformIDs = opts.platformIDs ?? knownPlatformIDs();
  const extraIDs = [...platformIDs].filter((id) => !PLATFORM_IDS.includes(id)).sort((a, b) => a - b);
  const platformsAllowed = `OpenIM's platforms are 1-11${extraIDs.length > 0 ? `, plus ${extraIDs.join(', ')} from webhook.extraPlatforms` : ''}; a fork's own IDs go in webhook.extraPlatforms`;

  const reject = (reply: FastifyReply, command: string, reason: RejectReason, status: number, errMsg: string): FastifyReply => {
    opts.bus.emit('webhook:rejected', { command, reason, status });
    return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(webhookErrorBody(errMsg));
  };

  const handle = async (req: FastifyRequest, reply: FastifyReply, commandParam: string | undefined): Promise<FastifyReply> => {
    const started = performance.now();
    // The secret and the source address were checked before the body was read (the onRequest hook below).
    const command = commandParam ?? (req.query as Record<string, unknown>).command;
    if (typeof command !== 'string' || !isWebhookCommand(command)) {
      return reject(reply, typeof command === 'string' ? command.slice(0, 64) : '', 'unknown_command', 404, `unknown callback command ${JSON.stringify(command ?? null).slice(0, 80)}`);
    }
    const ctype = (req.headers['content-type'] ?? '').toLowerCase();
    if (!/^application\/json\s*(;|$)/.test(ctype)) {
      return reject(reply, command, 'unsupported_media_type', 415, `content-type must be application/json, got ${JSON.stringify(ctype.slice(0, 60))}`);
    }
    const raw = req.body;
    if (typeof raw !== 'string') return reject(reply, command, 'malformed_json', 400, 'empty body');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      return reject(reply, command, 'malformed_json', 400, `malformed JSON: ${(e as Error).message.slice(0, 120)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return reject(reply, command, 'invalid_body', 400, 'body must be a JSON object');
    }
    const bodyCommand = (parsed as Record<string, unknown>).callbackCommand;
    if (bodyCommand !== command) {
      return reject(reply, command, 'command_mismatch', 400, `callbackCommand ${JSON.stringify(bodyCommand ?? null).slice(0, 80)} does not match the URL command ${command}`);
    }
    // A plainly valid body takes the fast path; anything else is parsed by the schema, which refuses it with its message
    // (or accepts it just the same: the fast path's answer, when it gives one, is the schema's).
    let webhook = parseWebhookFast(command, parsed as Record<string, unknown>);
    if (webhook === undefined) {
      const result = WEBHOOK_SCHEMAS[command].safeParse(parsed);
      if (!result.success) {
        const first = result.error.issues[0];
        const where = first ? first.path.join('.') || '(body)' : '(body)';
        return reject(reply, command, 'invalid_body', 400, `invalid ${where}: ${first?.message ?? 'wrong shape'}`);
      }
      webhook = result.data;
    }
    if (!platformIDs.has(webhook.platformID)) {
      return reject(reply, command, 'unknown_platform', 400, `unknown platformID ${webhook.platformID}: ${platformsAllowed}`);
    }
    let outcome: IngestResult | 'accepted';
    try {
      outcome = await opts.submit({ webhook, body: raw, receivedAt: now(), remoteAddress: req.socket.remoteAddress ?? '' });
    } catch (e) {
      if (isOprError(e) && e.code === 'OPR_ERR_INGEST_OVERLOADED') return reject(reply, command, 'overloaded', 503, 'receiver overloaded, try later');
      if (isOprError(e) && e.code === 'OPR_ERR_INGEST_CLOSED') return reject(reply, command, 'shutting_down', 503, 'receiver shutting down');
      if (isOprError(e) && e.code === 'OPR_ERR_REDIS_UNAVAILABLE') return reject(reply, command, 'store_unavailable', 503, 'store unavailable, try later');
      throw e;
    }
    opts.bus.emit('webhook:accepted', { command, latencyMs: performance.now() - started, duplicate: outcome === 'duplicate' });
    return reply.code(200).header('content-type', 'application/json; charset=utf-8').send(WEBHOOK_SUCCESS_BODY);
  };

  app.register((scope, _o, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, next) => next(null, body));
    scope.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reject(reply, '', 'body_too_large', 413, 'body too large');
      if (err.statusCode !== undefined && err.statusCode < 500) return reject(reply, '', 'invalid_body', err.statusCode, err.message.slice(0, 120));
      app.log.error({ err }, 'webhook handler failed');
      return reply.code(500).header('content-type', 'application/json; charset=utf-8').send(webhookErrorBody('internal error', 500));
    });
    // Before the body is read: a wrong secret looks like any unknown path (even with an oversized or non-JSON body),
    // and a refused source address gets 403 without its body being parsed.
    scope.addHook('onRequest', async (req, reply) => {
      if (req.method !== 'POST') return;
      const { secret = '', command = '' } = req.params as { secret?: string; command?: string };
      if (!secretMatches(expected, secret)) {
        reply.callNotFound();
        return reply;
      }
      if (allowlist && !allowed(allowlist, req.socket.remoteAddress ?? '')) {
        return reject(reply, command.slice(0, 64), 'forbidden', 403, 'source address not allowed');
      }
    });
    scope.post<{ Params: { secret: string; command: string } }>('/:secret/:command', (req, reply) => handle(req, reply, req.params.command));
    scope.post<{ Params: { secret: string } }>('/:secret', (req, reply) => handle(req, reply, undefined));
    // `openim-presence doctor` checks that this listener answers at its public URL: records nothing, emits nothing.
    scope.get<{ Params: { secret: string } }>('/:secret/_doctor', (req, reply) => {
      if (!secretMatches(expected, req.params.secret)) {
        reply.callNotFound();
        return reply;
      }
      const json = reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store');
      if (allowlist && !allowed(allowlist, req.socket.remoteAddress ?? '')) {
        return json.code(403).send('{"ok":false,"reason":"source address not in webhook.allowlist"}');
      }
      return json.code(200).send('{"ok":true}');
    });
    done();
  });
}
