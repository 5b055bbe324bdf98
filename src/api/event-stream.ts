/**
 * `GET /v1/events` as Server-Sent Events.
 *
 * Wire format (UTF-8, `Content-Type: text/event-stream`):
 *
 * ```text
 * retry: 1000                                   once, first: the reconnection delay suggested to the client
 *
 * event: heartbeat                              first, then every api.sseHeartbeatSeconds
 * id: 41                                        the position this stream has delivered through (see below)
 * data: {"head":57,"cursor":41,"intervalSeconds":15}   head = last seq committed; cursor = id; the heartbeat period
 *
 * id: 42                                        one message per event: id = the event's seq,
 * data: {"seq":42,"type":"presence.online",…}   data = the event JSON (the same object as in the JSON pages)
 * ```
 *
 * Events are sent without an `event:` field, so a browser `EventSource` delivers them to `onmessage` (the `message`
 * type); the event type is inside the JSON. Heartbeats are the `heartbeat` type. A heartbeat's `id` is the cursor
 * through which every matching event has been written, so a filtered subscriber that reconnects resumes past the
 * events it did not want instead of scanning them again. Reconnecting with `Last-Event-ID` (or `?after=`) resumes
 * with no gap and no duplicate.
 *
 * Ordering and the history/live seam: every connection keeps one cursor. It reads history from the store page by
 * page; when a read reaches the head in the same tick, the connection goes live and appends the events of each
 * `events:committed` notification whose first seq follows its cursor. Anything else (a notification while catching
 * up, a batch that does not follow on) makes it read from the store by cursor again. The engine commits
 * synchronously and emits after the commit, so no event can fall between a read and going live.
 *
 * Flow control: while catching up, a connection writes history only while the socket accepts it (up to its
 * high-water mark) and then waits for it to drain, so history is never buffered in memory; a client that accepts
 * nothing for four heartbeat intervals meanwhile is cut (`stalled`). When live, events are written once durable, at
 * most every `coalesceMs` (4 ms): commits made meanwhile go out in one write per subscriber, each event serialized
 * once for all of them. A client still holding more than `api.sseMaxBufferedBytes` unsent bytes
 * when the next commit or heartbeat comes is cut (`slow`). Cuts are logged and counted in
 * `opr_sse_disconnects_total{reason}`; the client reconnects and resumes from its cursor.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import type { PresenceEvent } from '../domain.js';
import { eventToJson } from '../domain.js';
import type { EventBus } from '../engine/event-bus.js';
import { ApiError } from '../errors.js';
import type { EventFilter } from '../store/store.js';
import type { ApiStore } from './api-context.js';

export const DISCONNECT_REASONS = ['slow', 'stalled', 'expired', 'shutdown'] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

export interface EventStreamOptions {
  store: ApiStore;
  bus: EventBus;
  log: Logger;
  /** Milliseconds between heartbeats (`api.sseHeartbeatSeconds` × 1000). */
  heartbeatMs: number;
  /** Concurrent streams allowed; one more is refused with 503 (`api.maxSseConnections`). */
  maxConnections: number;
  /** Unsent bytes above which a live subscriber is cut (`api.sseMaxBufferedBytes`). */
  maxBufferedBytes: number;
  /** Events read from the store per step while catching up. Default 500. */
  pageSize?: number;
  /** Reconnection delay suggested to clients with `retry:`, in milliseconds. Default 1000. */
  retryMs?: number;
  /**
   * Shortest time between two live writes to the subscribers, in milliseconds. Events committed meanwhile go out
   * together, one write per subscriber, so a burst of small commits does not cost a socket write per commit per
   * subscriber. The first commit after a quiet spell goes out at once. Default 4.
   */
  coalesceMs?: number;
  /** The `opr_sse_connections` gauge. */
  gauge?: { inc(): void; dec(): void };
  /** Where `opr_sse_disconnects_total` is registered. */
  registry?: Registry;
}

/** Where a stream starts and which events it carries. */
export interface StreamStart {
  /** Events with seq greater than this are sent. */
  cursor: number;
  filter: EventFilter;
}

/** Whether an Accept header asks for an event stream. */
export function wantsEventStream(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((part) => part.trim().toLowerCase().startsWith('text/event-stream'));
}

export function eventFrame(e: PresenceEvent): string {
  return `id: ${e.seq}\ndata: ${JSON.stringify(eventToJson(e))}\n\n`;
}

export function heartbeatFrame(head: number, cursor: number, intervalSeconds: number): string {
  return `event: heartbeat\nid: ${cursor}\ndata: {"head":${head},"cursor":${cursor},"intervalSeconds":${intervalSeconds}}\n\n`;
}

/** One commit's events as the hub hands them to each connection; frames are built on first use and shared. */
interface CommittedBatch {
  evs: readonly PresenceEvent[];
  frameAt: (i: number) => string;
  /** Every frame of the batch, UTF-8 encoded once for all the unfiltered connections. */
  allFrames: () => Buffer;
}

function isUnfiltered(filter: EventFilter): boolean {
  return (filter.users === undefined || filter.users.length === 0) && (filter.types === undefined || filter.types.length === 0);
}

function matcher(filter: EventFilter): (e: PresenceEvent) => boolean {
  const users = filter.users && filter.users.length > 0 ? new Set(filter.users) : undefined;
  const types = filter.types && filter.types.length > 0 ? new Set<string>(filter.types) : undefined;
  if (!users && !types) return () => true;
  return (e) => (!users || users.has(e.userID)) && (!types || types.has(e.type));
}

/** Tracks every open stream: the connection cap, fan-out of committed events, and ending them all on shutdown. */
export class EventStreamHub {
  private readonly conns = new Set<SseConnection>();
  private offBus: (() => void) | undefined;
  private closed = false;
  private readonly disconnects: Counter<'reason'> | undefined;
  /** Committed events not yet written to the live subscribers (consecutive commits, in seq order). */
  private pending: PresenceEvent[] = [];
  private flushScheduled = false;
  private lastFlush = 0;

  constructor(readonly opts: EventStreamOptions) {
    if (opts.registry) {
      this.disconnects = new Counter({
        name: 'opr_sse_disconnects_total',
        help: 'Event stream subscribers disconnected by the daemon, by reason: slow (too many unsent bytes), stalled (accepted nothing while catching up), expired (cursor passed by retention), shutdown.',
        labelNames: ['reason'] as const,
        registers: [opts.registry],
      });
      for (const reason of DISCONNECT_REASONS) this.disconnects.inc({ reason }, 0);
    }
  }

  /** Open streams. */
  get size(): number {
    return this.conns.size;
  }

  /** Hijacks the reply and streams from `start`; throws a 503 ApiError at the connection cap. */
  open(req: FastifyRequest, reply: FastifyReply, start: StreamStart): void {
    if (this.closed || this.conns.size >= this.opts.maxConnections) {
      void reply.header('retry-after', '5');
      throw new ApiError(
        'OPR_ERR_TOO_MANY_CONNECTIONS',
        503,
        this.closed
          ? 'the daemon is shutting down; reconnect to its successor'
          : `too many event stream connections (api.maxSseConnections = ${this.opts.maxConnections}); retry later or use the JSON pages (GET /v1/events without Accept: text/event-stream)`,
      );
    }
    this.offBus ??= this.opts.bus.on('events:committed', (evs) => this.committed(evs));
    reply.hijack();
    const conn = new SseConnection(this, reply.raw, start, req.ip);
    this.conns.add(conn);
    this.opts.gauge?.inc();
    conn.begin();
  }

  /** Ends every stream (clients reconnect to the next daemon and resume). Safe to call twice. */
  closeAll(): void {
    this.closed = true;
    this.pending = [];
    this.offBus?.();
    this.offBus = undefined;
    for (const c of [...this.conns]) c.end('shutdown');
  }

  /** Called by a connection once, when it is gone. */
  released(conn: SseConnection, reason: DisconnectReason | undefined): void {
    if (!this.conns.delete(conn)) return;
    this.opts.gauge?.dec();
    if (reason !== undefined) this.disconnects?.inc({ reason });
  }

  /** Queues committed events and schedules their write: now after a quiet spell, else `coalesceMs` after the last. */
  private committed(evs: readonly PresenceEvent[]): void {
    if (evs.length === 0 || this.conns.size === 0) return;
    for (const e of evs) this.pending.push(e);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const wait = this.lastFlush + (this.opts.coalesceMs ?? 4) - performance.now();
    if (wait <= 0) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.flushScheduled = false;
    this.lastFlush = performance.now();
    const evs = this.pending;
    this.pending = [];
    if (!this.closed) this.fanOut(evs);
  }

  private fanOut(evs: PresenceEvent[]): void {
    if (evs.length === 0 || this.conns.size === 0) return;
    // Each event is serialized once, and each connection gets one write per commit: the frames it wants, joined.
    // Unfiltered connections (the usual case) share one joined buffer, encoded once.
    const frames: (string | undefined)[] = new Array<string | undefined>(evs.length);
    const frameAt = (i: number): string => (frames[i] ??= eventFrame(evs[i]!));
    let all: Buffer | undefined;
    const allFrames = (): Buffer => {
      if (all === undefined) {
        for (let i = 0; i < evs.length; i++) frameAt(i);
        all = Buffer.from(frames.join(''), 'utf8');
      }
      return all;
    };
    const batch: CommittedBatch = { evs, frameAt, allFrames };
    for (const c of this.conns) {
      try {
        c.onCommitted(batch);
      } catch (err) {
        // A broken socket must not disturb the commit path that emitted the events.
        this.opts.log.warn({ err }, 'event stream write failed');
        c.end(undefined);
      }
    }
  }
}

class SseConnection {
  private cursor: number;
  private readonly matches: (e: PresenceEvent) => boolean;
  private readonly unfiltered: boolean;
  private live = false;
  private pumping = false;
  private closed = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly opts: EventStreamOptions;

  constructor(
    private readonly hub: EventStreamHub,
    private readonly raw: ServerResponse,
    private readonly start: StreamStart,
    private readonly remote: string,
  ) {
    this.opts = hub.opts;
    this.cursor = start.cursor;
    this.matches = matcher(start.filter);
    this.unfiltered = isUnfiltered(start.filter);
  }

  begin(): void {
    const socket = this.raw.req.socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    this.raw.on('close', () => this.release(undefined));
    this.raw.on('error', () => this.release(undefined));
    this.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    this.raw.write(`retry: ${this.opts.retryMs ?? 1000}\n\n`);
    this.sendHeartbeat();
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
    this.opts.log.debug({ remote: this.remote, cursor: this.cursor, filter: this.start.filter }, 'event stream opened');
    void this.pump();
  }

  /** Live path: called synchronously after each commit with the committed events in seq order. */
  onCommitted({ evs, frameAt, allFrames }: CommittedBatch): void {
    if (this.closed || !this.live) return;
    // Still holding more than the limit from before: the client does not keep up.
    if (!this.checkBuffer()) return;
    // The batch is consecutive seqs; skip what this connection already read from the store.
    const start = Math.max(0, this.cursor + 1 - evs[0]!.seq);
    if (start >= evs.length) return;
    if (evs[start]!.seq !== this.cursor + 1) {
      // Not the continuation of what was sent: read from the store by cursor instead.
      void this.pump();
      return;
    }
    if (this.unfiltered && start === 0) {
      this.raw.write(allFrames());
    } else {
      let out = '';
      for (let i = start; i < evs.length; i++) if (this.matches(evs[i]!)) out += frameAt(i);
      if (out.length > 0) this.raw.write(out);
    }
    this.cursor = evs[evs.length - 1]!.seq;
  }

  /** Reads from the store by cursor until it reaches the head, pacing itself by the socket's drain. */
  private async pump(): Promise<void> {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    this.live = false;
    const { store } = this.opts;
    const pageSize = this.opts.pageSize ?? 500;
    try {
      for (;;) {
        if (this.closed) return;
        const pruned = store.prunedThroughSeq();
        if (pruned > this.cursor) {
          // Retention passed this subscriber by: the reconnect gets 410 and re-snapshots.
          this.opts.log.warn({ remote: this.remote, cursor: this.cursor, prunedThroughSeq: pruned }, 'event stream subscriber fell behind retention');
          this.end('expired');
          return;
        }
        const from = this.cursor;
        const page = store.scanEvents(from, pageSize, this.start.filter);
        const head = store.headSeq();
        let paused = false;
        for (const e of page.events) {
          this.cursor = e.seq;
          if (!this.raw.write(eventFrame(e))) {
            paused = true;
            break;
          }
        }
        // No row after the cursor: nothing exists up to the head (read in this same tick).
        if (!paused) this.cursor = page.scannedTo > from ? page.scannedTo : Math.max(from, head);
        if (this.cursor >= head) {
          this.live = true;
          return;
        }
        if (this.raw.writableNeedDrain) {
          if (!(await this.drained())) return;
        } else {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Resolves true once the socket drained, false if the connection ended or the client stalled (then cut). */
  private drained(): Promise<boolean> {
    return new Promise((resolve) => {
      const stallMs = 4 * this.opts.heartbeatMs;
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.raw.off('drain', onDrain);
        this.raw.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => {
        done(false);
        this.cut('stalled');
      }, stallMs);
      this.raw.once('drain', onDrain);
      this.raw.once('close', onClose);
    });
  }

  private sendHeartbeat(): void {
    if (this.closed || !this.checkBuffer()) return;
    this.raw.write(heartbeatFrame(this.opts.store.headSeq(), this.cursor, this.opts.heartbeatMs / 1000));
  }

  /** Cuts the client when its unsent bytes exceed the limit (checked before each write); false when it did. */
  private checkBuffer(): boolean {
    if (this.closed) return false;
    if (this.raw.writableLength <= this.opts.maxBufferedBytes) return true;
    this.cut('slow');
    return false;
  }

  private cut(reason: 'slow' | 'stalled'): void {
    if (this.closed) return;
    this.opts.log.warn(
      { remote: this.remote, reason, cursor: this.cursor, bufferedBytes: this.raw.writableLength, limit: this.opts.maxBufferedBytes },
      reason === 'slow'
        ? 'event stream subscriber cut: it reads slower than events are produced (api.sseMaxBufferedBytes exceeded); it may resume from its cursor'
        : 'event stream subscriber cut: it accepted no data for four heartbeat intervals; it may resume from its cursor',
    );
    this.release(reason);
    this.raw.destroy();
  }

  /** Ends the response normally (shutdown, expired cursor, write failure). */
  end(reason: DisconnectReason | undefined): void {
    if (this.closed) return;
    this.release(reason);
    this.raw.end();
  }

  private release(reason: DisconnectReason | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.live = false;
    clearInterval(this.heartbeat);
    this.hub.released(this, reason);
  }
}
