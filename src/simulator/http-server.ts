import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OprError } from '../errors.js';
import { handleControl } from './control-api.js';
import { handleOpenImRequest, isOpenImRoute } from './openim-api.js';
import type { SimulatorCore } from './simulator-core.js';

/** Largest request body accepted (a 500-user status request is ~5 KB). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface SimulatorServer {
  readonly port: number;
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One node:http server on 127.0.0.1 serving OpenIM's routes and, under `/control/`, the control endpoint. The API
 * fault knobs (5xx, hang, latency) apply to the OpenIM routes only.
 */
export async function startSimulatorServer(
  core: SimulatorCore,
  port: number,
  info: () => Record<string, unknown>,
): Promise<SimulatorServer> {
  const latencyTimers = new Set<NodeJS.Timeout>();

  const handleApi = async (req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> => {
    const body = await readBody(req);
    if (body === undefined) return send(res, 413, 'text/plain; charset=utf-8', 'request body too large');
    const api = core.counters.api;
    api.requests++;
    api.byRoute[path] = (api.byRoute[path] ?? 0) + 1;
    const faults = core.faults();
    if (faults.apiTimeoutRate > 0 && core.apiRng.chance(faults.apiTimeoutRate)) {
      api.injectedTimeouts++;
      return; // never answered: the client gives up; close() destroys the socket
    }
    const injectError = faults.apiErrorRate > 0 && core.apiRng.chance(faults.apiErrorRate);
    if (faults.apiLatencyMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          latencyTimers.delete(t);
          resolve();
        }, faults.apiLatencyMs);
        latencyTimers.add(t);
      });
    }
    if (injectError) {
      api.injectedErrors++;
      return send(res, 500, 'text/plain; charset=utf-8', 'Internal Server Error');
    }
    const reply = handleOpenImRequest(core, path, { operationID: header(req, 'operationid'), token: header(req, 'token') }, body);
    send(res, reply.status, reply.contentType, reply.body);
  };

  const handleControlRequest = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
    const raw = await readBody(req);
    if (raw === undefined) return sendJson(res, 413, { error: { code: 'OPR_ERR_SIMULATOR', message: 'request body too large' } });
    let body: unknown;
    if (raw.trim() !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        return sendJson(res, 400, { error: { code: 'OPR_ERR_SIMULATOR', message: 'the control request body is not valid JSON' } });
      }
    }
    const reply = await handleControl(core, req.method ?? 'GET', url.pathname, url.searchParams, body, info);
    sendJson(res, reply.status, reply.body);
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    let work: Promise<void>;
    if (path === '/control' || path.startsWith('/control/')) work = handleControlRequest(req, res, url);
    else if (req.method === 'POST' && isOpenImRoute(path)) work = handleApi(req, res, path);
    else {
      req.resume();
      send(res, 404, 'text/plain', '404 page not found');
      return;
    }
    work.catch((e: unknown) => {
      const message = e instanceof Error ? e.message : String(e);
      send(res, 500, 'text/plain; charset=utf-8', `simulator error: ${message}`);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new OprError('OPR_ERR_SIMULATOR', `cannot listen on 127.0.0.1:${port}: ${e.code ?? e.message}`, { port }, { cause: e }));
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });

  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const t of latencyTimers) clearTimeout(t);
        latencyTimers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
