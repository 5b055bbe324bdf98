import { z } from 'zod';
import { OprError, isOprError } from '../errors.js';
import { invalidOptionsError } from './options.js';
import type { SimulatorCore } from './simulator-core.js';

/**
 * The control endpoint, under `/control/` on the simulator's port: plain JSON, ordinary HTTP statuses (400 with
 * `{"error":{code,message}}` for a bad request, 404 for an unknown route). It is how tests and the demo change the
 * simulated world at run time and read its ground truth.
 */
export interface ControlReply {
  status: number;
  body: unknown;
}

export const CONTROL_ROUTES = [
  'GET  /control                          this list and the simulator settings',
  'GET  /control/clock                    simulated time {now, iso, elapsedMs, speed, startTime}',
  'GET  /control/faults                   current fault knobs',
  'POST /control/faults                   change fault knobs (partial JSON, e.g. {"loss":0.2,"slowGateways":[1]})',
  'GET  /control/truth[?userID=]          true presence per (user, platform)',
  'GET  /control/counters                 webhook, state, presence, API and token counters',
  'GET  /control/users/:id                truth, live view and Redis view of one user',
  'POST /control/users/:id/connect        {"platformID":5,"gateway":0?} opens one connection',
  'POST /control/users/:id/disconnect     {"platformID":5,"gateway":0?} closes one connection',
  'POST /control/users/:id/disconnect-all closes every connection of the user',
  'POST /control/users/:id/background     {"platformID":5,"background":true} (no webhook, as in OpenIM)',
  'POST /control/gateways/:n/crash        crash gateway n',
  'POST /control/gateways/:n/restart      restart gateway n',
  'POST /control/gateways/:n/slow         {"slow":true|false}',
  'POST /control/workload/pause           stop churn (pending workload events are cancelled)',
  'POST /control/workload/resume          resume churn',
  'POST /control/tokens/expire            expire every issued token now (next calls get 1501)',
  'POST /control/quiesce                  {"timeoutMs":10000?} wait until every state is flushed and every webhook settled',
] as const;

const connectBody = z.strictObject({
  platformID: z.number().int('must be an integer').min(0),
  gateway: z.number().int('must be an integer').min(0).optional(),
});
const backgroundBody = z.strictObject({ platformID: z.number().int().min(0), background: z.boolean() });
const slowBody = z.strictObject({ slow: z.boolean() });
const quiesceBody = z.strictObject({ timeoutMs: z.number().int().min(1).max(600_000).optional() });

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw invalidOptionsError(what, body, r.error.issues);
  return r.data;
}

function gatewayIndex(s: string): number {
  if (!/^\d+$/.test(s)) throw new OprError('OPR_ERR_SIMULATOR', `gateway must be a number, got ${JSON.stringify(s)}`);
  return Number(s);
}

export async function handleControl(
  core: SimulatorCore,
  method: string,
  path: string,
  query: URLSearchParams,
  body: unknown,
  info: () => Record<string, unknown>,
): Promise<ControlReply> {
  try {
    return await route(core, method, path, query, body, info);
  } catch (e) {
    if (isOprError(e)) return { status: 400, body: { error: { code: e.code, message: e.message } } };
    throw e;
  }
}

async function route(
  core: SimulatorCore,
  method: string,
  path: string,
  query: URLSearchParams,
  body: unknown,
  info: () => Record<string, unknown>,
): Promise<ControlReply> {
  const parts = path.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  const [head, id, action] = parts.slice(1);
  const key = `${method} ${head ?? ''}${action === undefined ? (id === undefined ? '' : ' :id') : ` :id ${action}`}`;
  switch (key) {
    case 'GET ':
      return { status: 200, body: { ...info(), routes: CONTROL_ROUTES } };
    case 'GET clock': {
      const now = core.clock.now();
      return {
        status: 200,
        body: { now, iso: new Date(now).toISOString(), elapsedMs: core.clock.elapsed(), speed: core.clock.speed, startTime: core.clock.startTime },
      };
    }
    case 'GET faults':
      return { status: 200, body: core.faults() };
    case 'POST faults':
      return { status: 200, body: core.setFaults(body ?? {}) };
    case 'GET truth': {
      const userID = query.get('userID');
      const presence = userID === null ? core.truth() : core.truthOf(userID);
      return { status: 200, body: { now: core.clock.now(), presence } };
    }
    case 'GET counters':
      return { status: 200, body: { now: core.clock.now(), ...core.counterSnapshot() } };
    case 'GET users :id':
      return { status: 200, body: core.view(id!) };
    case 'POST users :id connect': {
      const b = parse(connectBody, body, 'connect request');
      return { status: 200, body: core.connect(id!, b.platformID, b.gateway) };
    }
    case 'POST users :id disconnect': {
      const b = parse(connectBody, body, 'disconnect request');
      return { status: 200, body: { disconnected: core.disconnect(id!, b.platformID, b.gateway) } };
    }
    case 'POST users :id disconnect-all':
      return { status: 200, body: { disconnected: core.disconnectAll(id!) } };
    case 'POST users :id background': {
      const b = parse(backgroundBody, body, 'background request');
      return { status: 200, body: { changed: core.setBackground(id!, b.platformID, b.background) } };
    }
    case 'POST gateways :id crash':
      core.crashGateway(gatewayIndex(id!));
      return { status: 200, body: core.faults() };
    case 'POST gateways :id restart':
      core.restartGateway(gatewayIndex(id!));
      return { status: 200, body: core.faults() };
    case 'POST gateways :id slow':
      core.setGatewaySlow(gatewayIndex(id!), parse(slowBody, body, 'slow request').slow);
      return { status: 200, body: core.faults() };
    case 'POST workload :id':
      if (core.workload === undefined) throw new OprError('OPR_ERR_SIMULATOR', 'this simulator runs without a workload');
      if (id === 'pause') core.workload.pause();
      else if (id === 'resume') core.workload.resume();
      else break;
      return { status: 200, body: { paused: core.workload.isPaused } };
    case 'POST tokens :id':
      if (id !== 'expire') break;
      return { status: 200, body: { expired: core.expireTokens() } };
    case 'POST quiesce': {
      const b = parse(quiesceBody, body, 'quiesce request');
      await core.quiesce(b.timeoutMs);
      return { status: 200, body: { now: core.clock.now(), ...core.counterSnapshot() } };
    }
    default:
      break;
  }
  return {
    status: 404,
    body: { error: { code: 'OPR_ERR_SIMULATOR', message: `no control route ${method} ${path}; GET /control lists them` } },
  };
}
