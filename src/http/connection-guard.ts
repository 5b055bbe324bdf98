/**
 * Per-connection limits of an HTTP listener: the connection cap, how long a request head and body may take, how long
 * a kept-alive connection may idle, and what happens at the cap. One guard owns one `node:http` server (fastify gets
 * it through `serverFactory`).
 *
 * - **Timeouts.** A connection must deliver a complete request head within `headersTimeoutMs` of opening (on a
 *   kept-alive connection, of the next request's first byte; node's `headersTimeout`), and the body within
 *   `bodyTimeoutMs` of its head (checked here). Otherwise it is answered 408 and closed: idle sockets that never send
 *   a byte and sockets that trickle their head or body are gone within seconds. A kept-alive connection with nothing
 *   in flight closes after `keepAliveTimeoutMs`. A request whose body has arrived is never timed out: its answer
 *   takes as long as it takes (SSE streams, long polls, a commit waiting for the disk).
 * - **The cap.** At `maxConnections`, a new connection closes the oldest one with no request in flight, preferring
 *   one that never completed a request head (an idle or trickling socket), then a kept-alive idle one, then one still
 *   sending a body; so sockets that hold a slot without using it cannot lock a sender out. When every connection has
 *   a request in flight, up to `reserve` connections more are accepted and their requests answered 503 with
 *   `Retry-After` (unless a slot has freed by then; `alwaysServe` requests, the health probes, are served and the
 *   connection closed after). Beyond the reserve a new connection is closed at once.
 * - **Requests the parser rejects** are answered 400 (431 for a header block too large) with `Connection: close`,
 *   after the answers to the requests before them on the same connection: a pipelined request that was accepted gets
 *   its own answer first.
 */
import http from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Open connections served at once. */
  maxConnections: number;
  /** A request head must arrive within this long of the connection opening (or of its first byte when kept alive). */
  headersTimeoutMs: number;
  /** A request body must arrive within this long of its head. */
  bodyTimeoutMs: number;
  /** A kept-alive connection with nothing in flight is closed after this long. */
  keepAliveTimeoutMs: number;
}

export interface ConnectionGuardOptions extends ConnectionLimits {
  /** The 503 answer to a request over the cap. */
  overCapAnswer: (req: IncomingMessage) => { contentType: string; body: string };
  /** Requests served even on a connection over the cap (the liveness and readiness probes). */
  alwaysServe?: (req: IncomingMessage) => boolean;
  /** Seconds in the `Retry-After` of a 503 over the cap. Default 1. */
  retryAfterSeconds?: number;
  /** Connections accepted beyond the cap only to answer 503. Default: 5 % of the cap, at least 16. */
  reserve?: number;
  now?: () => number;
}

/** Why the guard ended a connection (or refused a request); each is a metric label. */
export const CONNECTION_CLOSE_REASONS = ['evicted', 'headers_timeout', 'body_timeout', 'over_cap', 'refused', 'bad_request'] as const;
export type ConnectionCloseReason = (typeof CONNECTION_CLOSE_REASONS)[number];

export interface ConnectionStats {
  /** Connections open now (served and reserve). */
  open: number;
  /** Connections open now beyond the cap (their requests are answered 503). */
  overCap: number;
  /** Connections ended or requests refused by the guard since it started, by reason. */
  closed: Record<ConnectionCloseReason, number>;
}

interface Conn {
  readonly socket: Socket;
  readonly openedAt: number;
  /** Accepted beyond the cap: its requests are answered 503. */
  overflow: boolean;
  /** Request heads received. */
  heads: number;
  /** Responses not finished yet. */
  readonly pending: Set<ServerResponse>;
  /** The request whose body is still arriving, and since when. */
  body: IncomingMessage | undefined;
  bodySince: number;
  /** The guard is ending this connection (an answer is on its way, further parser errors are ignored). */
  closing: boolean;
  /** An error answer waiting for the answers of the requests before it (pipelining). */
  afterPending: (() => void) | undefined;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 503: 'Service Unavailable' };

function rawAnswer(status: number, contentType: string, body: string, extra = ''): string {
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: ${contentType}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n${extra}\r\n${body}`
  );
}

function clientErrorBody(status: number): string {
  return JSON.stringify({ error: STATUS_TEXT[status] ?? 'Error', message: 'Client Error', statusCode: status });
}

export class ConnectionGuard {
  /** Connections within the cap, oldest first. */
  private readonly served = new Map<Socket, Conn>();
  /** Connections beyond the cap (their requests are answered 503). */
  private readonly overflow = new Map<Socket, Conn>();
  /** Connections with a request body still arriving. */
  private readonly bodies = new Set<Conn>();
  private readonly closed: Record<ConnectionCloseReason, number> = { evicted: 0, headers_timeout: 0, body_timeout: 0, over_cap: 0, refused: 0, bad_request: 0 };
  private readonly now: () => number;
  private readonly reserve: number;
  /** How often body deadlines (and node's head deadlines) are checked. */
  readonly checkEveryMs: number;
  /** A connection over the cap must send its request head within this long. */
  private readonly overflowHeadMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ConnectionGuardOptions) {
    this.now = opts.now ?? Date.now;
    this.reserve = opts.reserve ?? Math.max(16, Math.ceil(opts.maxConnections / 20));
    this.checkEveryMs = Math.max(50, Math.min(500, Math.floor(Math.min(opts.headersTimeoutMs, opts.bodyTimeoutMs) / 10)));
    this.overflowHeadMs = Math.min(opts.headersTimeoutMs, 1000);
  }

  /** A `node:http` server that runs `handler` for the requests the guard admits (fastify's `serverFactory`). */
  createServer(handler: RequestListener): Server {
    const server = http.createServer({ connectionsCheckingInterval: this.checkEveryMs }, (req, res) => this.onRequest(req, res, handler));
    server.headersTimeout = this.opts.headersTimeoutMs;
    // A backstop only: the guard cuts a slow body at headersTimeoutMs + bodyTimeoutMs at the latest itself.
    server.requestTimeout = this.opts.headersTimeoutMs + this.opts.bodyTimeoutMs;
    server.keepAliveTimeout = this.opts.keepAliveTimeoutMs;
    // No inactivity timeout on the socket: a response may stream for hours (SSE).
    server.timeout = 0;
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('listening', () => {
      this.sweepTimer ??= setInterval(() => this.sweep(), this.checkEveryMs);
      this.sweepTimer.unref();
    });
    server.on('close', () => {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    });
    return server;
  }

  stats(): ConnectionStats {
    return { open: this.served.size + this.overflow.size, overCap: this.overflow.size, closed: { ...this.closed } };
  }

  /**
   * The server's `clientError` handler: a request the parser rejects, or node's head deadline, is answered and the
   * connection closed (after the answers to earlier requests on it when the parser rejected a later one).
   */
  readonly clientError = (err: Error & { code?: string }, socket: Socket): void => {
    const conn = this.connOf(socket);
    if (err.code === 'ECONNRESET' || socket.destroyed || conn?.closing === true) return;
    // The client closed its side in the middle of a request: nobody reads an answer to that one (the answers to
    // complete requests before it still go out).
    if (err.code === 'HPE_INVALID_EOF_STATE') {
      if (conn !== undefined && conn.pending.size > 0) {
        conn.closing = true;
        conn.afterPending = () => socket.destroy();
      } else {
        socket.destroy();
      }
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      this.timeOut(socket, conn, conn?.body !== undefined ? 'body_timeout' : 'headers_timeout');
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    this.closed.bad_request++;
    const answer = (): void => {
      if (socket.destroyed || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(rawAnswer(status, 'application/json', clientErrorBody(status)));
      // The client may never close its side: do not keep the socket for it.
      setTimeout(() => socket.destroy(), 2000).unref();
    };
    if (conn !== undefined) conn.closing = true;
    if (conn !== undefined && conn.pending.size > 0) {
      conn.afterPending = answer;
      // An earlier request that never gets its answer must not hold the connection forever.
      setTimeout(() => socket.destroy(), 60_000).unref();
      return;
    }
    answer();
  };

  private connOf(socket: Socket): Conn | undefined {
    return this.served.get(socket) ?? this.overflow.get(socket);
  }

  private onConnection(socket: Socket): void {
    const conn: Conn = {
      socket,
      openedAt: this.now(),
      overflow: false,
      heads: 0,
      pending: new Set(),
      body: undefined,
      bodySince: 0,
      closing: false,
      afterPending: undefined,
    };
    if (this.served.size >= this.opts.maxConnections) {
      const victim = this.victim();
      if (victim !== undefined) {
        this.closed.evicted++;
        this.forget(victim);
        victim.socket.destroy();
      } else if (this.overflow.size < this.reserve) {
        conn.overflow = true;
      } else {
        this.closed.refused++;
        socket.destroy();
        return;
      }
    }
    (conn.overflow ? this.overflow : this.served).set(socket, conn);
    socket.once('close', () => this.forget(conn));
  }

  /** The connection to close for a newcomer at the cap, or undefined when every one has a request in flight. */
  private victim(): Conn | undefined {
    let idle: Conn | undefined;
    let sendingBody: Conn | undefined;
    for (const c of this.served.values()) {
      if (c.closing && c.afterPending === undefined) return c;
      if (c.pending.size === 0) {
        if (c.heads === 0) return c;
        idle ??= c;
      } else if (c.body !== undefined && !c.body.complete) {
        sendingBody ??= c;
      }
    }
    return idle ?? sendingBody;
  }

  private forget(conn: Conn): void {
    this.bodies.delete(conn);
    if (this.served.get(conn.socket) === conn) this.served.delete(conn.socket);
    else if (this.overflow.get(conn.socket) === conn) this.overflow.delete(conn.socket);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, handler: RequestListener): void {
    const conn = this.connOf(req.socket);
    if (conn === undefined || conn.closing) {
      // Refused or being closed by the guard: nothing more is served on it.
      res.destroy();
      return;
    }
    conn.heads++;
    conn.pending.add(res);
    res.once('close', () => this.responseDone(conn, res));
    if (conn.overflow) {
      if (this.served.size < this.opts.maxConnections) {
        this.overflow.delete(conn.socket);
        conn.overflow = false;
        this.served.set(conn.socket, conn);
      } else if (this.opts.alwaysServe?.(req) === true) {
        res.shouldKeepAlive = false;
      } else {
        this.closed.over_cap++;
        const { contentType, body } = this.opts.overCapAnswer(req);
        res.shouldKeepAlive = false;
        res.writeHead(503, {
          'content-type': contentType,
          'content-length': Buffer.byteLength(body),
          'retry-after': String(this.opts.retryAfterSeconds ?? 1),
          'x-content-type-options': 'nosniff',
          connection: 'close',
        });
        res.end(body);
        return;
      }
    }
    if (!req.complete) {
      conn.body = req;
      conn.bodySince = this.now();
      this.bodies.add(conn);
    }
    handler(req, res);
  }

  private responseDone(conn: Conn, res: ServerResponse): void {
    conn.pending.delete(res);
    if (conn.body === res.req) {
      conn.body = undefined;
      this.bodies.delete(conn);
    }
    if (conn.pending.size === 0 && conn.afterPending !== undefined) {
      const answer = conn.afterPending;
      conn.afterPending = undefined;
      answer();
    }
  }

  /** Answers 408 (best effort) and closes at once: the request can no longer complete, so it cannot be acted on. */
  private timeOut(socket: Socket, conn: Conn | undefined, reason: 'headers_timeout' | 'body_timeout'): void {
    this.closed[reason]++;
    if (conn !== undefined) {
      conn.closing = true;
      this.forget(conn);
    }
    const started = [...(conn?.pending ?? [])].some((r) => r.headersSent);
    if (socket.writable && !started) socket.write(rawAnswer(408, 'application/json', clientErrorBody(408)));
    socket.destroy();
  }

  private sweep(): void {
    const t = this.now();
    for (const c of this.bodies) {
      if (c.body === undefined || c.body.complete) {
        c.body = undefined;
        this.bodies.delete(c);
      } else if (t - c.bodySince > this.opts.bodyTimeoutMs) {
        this.timeOut(c.socket, c, 'body_timeout');
      }
    }
    for (const c of this.overflow.values()) {
      if (c.heads === 0 && t - c.openedAt > this.overflowHeadMs) {
        this.closed.refused++;
        this.forget(c);
        c.socket.destroy();
      }
    }
  }
}
