import http from 'node:http';
import https from 'node:https';
import type { SimClock, SimTimer } from './sim-clock.js';
import type { DropReason, SimulatorCounters } from './counters.js';
import type { PresenceCommand } from './go-json.js';

/** One built webhook waiting for, or being sent by, a gateway's queue. */
export interface WebhookTask {
  command: PresenceCommand;
  operationID: string;
  /** The exact request body (ends in `\n`). */
  body: string;
  /** The gateway incarnation that built it (a restart after a crash starts a new one). */
  generation: number;
}

/** OpenIM's webhook queue per gateway: 2 workers and 100 slots (docs/openim-contract.md, how the gateway produces them). */
export const WEBHOOK_QUEUE_WORKERS = 2;
export const WEBHOOK_QUEUE_SLOTS = 100;
/** How long a push that finds the queue full waits before the webhook is dropped. */
export const WEBHOOK_PUSH_WAIT_MS = 3000;

/** Where and how a gateway posts webhooks: `POST {url}/{command}` with Go's exact headers. */
export class WebhookTarget {
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly urls: Record<PresenceCommand, URL>;
  private readonly inFlight = new Set<http.ClientRequest>();

  constructor(webhookUrl: string) {
    const online = new URL(`${webhookUrl}/callbackAfterUserOnlineCommand`);
    const offline = new URL(`${webhookUrl}/callbackAfterUserOfflineCommand`);
    this.urls = { callbackAfterUserOnlineCommand: online, callbackAfterUserOfflineCommand: offline };
    this.transport = online.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: WEBHOOK_QUEUE_WORKERS });
  }

  /** Posts one webhook; resolves with the HTTP status, or an Error (network failure or timeout). */
  send(task: WebhookTask, clock: SimClock, timeoutMs: number): Promise<number | Error> {
    const url = this.urls[task.command];
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: number | Error): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        this.inFlight.delete(req);
        resolve(r);
      };
      const req = this.transport.request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port === '' ? undefined : Number(url.port),
          method: 'POST',
          path: `${url.pathname}${url.search}`,
          agent: this.agent,
          // Raw header list: names, casing and order as Go's net/http writes them.
          headers: [
            'Host',
            url.host,
            'User-Agent',
            'Go-http-client/1.1',
            'Content-Length',
            String(Buffer.byteLength(task.body)),
            'Content-Type',
            'application/json; charset=utf-8',
            'Operationid',
            task.operationID,
            'Accept-Encoding',
            'gzip',
          ],
        },
        (res) => {
          res.on('error', (e) => finish(e));
          res.on('end', () => finish(res.statusCode ?? 0));
          res.resume();
        },
      );
      this.inFlight.add(req);
      req.on('error', (e) => finish(e));
      const timer = clock.after(timeoutMs, () => req.destroy(new Error(`webhook timeout after ${timeoutMs} simulated ms`)));
      req.end(task.body);
    });
  }

  close(): void {
    for (const req of this.inFlight) req.destroy();
    this.inFlight.clear();
    this.agent.destroy();
  }
}

interface Waiter {
  task: WebhookTask;
  timer: SimTimer;
  done: () => void;
}

export interface WebhookQueueOptions {
  clock: SimClock;
  target: WebhookTarget;
  counters: SimulatorCounters;
  timeoutMs: () => number;
  drop: (reason: DropReason, n: number) => void;
  /** Called whenever the queue may have become idle. */
  onSettle: () => void;
}

/**
 * The in-memory queue of one gateway. A push succeeds at once while a slot is free; otherwise the pusher (the
 * gateway's presence loop) waits up to 3 s for a slot, and then the webhook is dropped. Nothing is retried.
 */
export class WebhookQueue {
  private readonly slots: WebhookTask[] = [];
  private readonly waiters: Waiter[] = [];
  private active = 0;
  private readonly o: WebhookQueueOptions;

  constructor(options: WebhookQueueOptions) {
    this.o = options;
  }

  /** Queues the task if a slot is free and nobody is waiting for one. */
  tryPush(task: WebhookTask): boolean {
    if (this.slots.length >= WEBHOOK_QUEUE_SLOTS || this.waiters.length > 0) return false;
    this.slots.push(task);
    this.pump();
    return true;
  }

  /** Waits (simulated 3 s at most) for a slot; `done` runs once the task is queued or dropped. */
  waitPush(task: WebhookTask, done: () => void): void {
    this.o.counters.webhooks.queueWaits++;
    const waiter: Waiter = {
      task,
      done,
      timer: this.o.clock.after(WEBHOOK_PUSH_WAIT_MS, () => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        this.o.drop('queueFull', 1);
        done();
        this.o.onSettle();
      }),
    };
    this.waiters.push(waiter);
  }

  /** Everything queued or waiting is lost with the process; requests already on the wire finish. */
  crash(): void {
    const lost = this.slots.length + this.waiters.length;
    this.slots.length = 0;
    for (const w of this.waiters.splice(0)) w.timer.cancel();
    if (lost > 0) this.o.drop('crash', lost);
  }

  idle(): boolean {
    return this.slots.length === 0 && this.waiters.length === 0 && this.active === 0;
  }

  /** Tasks queued, waiting for a slot, or being sent. */
  size(): number {
    return this.slots.length + this.waiters.length + this.active;
  }

  close(): void {
    this.slots.length = 0;
    for (const w of this.waiters.splice(0)) w.timer.cancel();
  }

  private pump(): void {
    const admitted: Waiter[] = [];
    while (this.active < WEBHOOK_QUEUE_WORKERS && this.slots.length > 0) {
      const task = this.slots.shift()!;
      this.active++;
      void this.work(task);
      const waiter = this.waiters.shift();
      if (waiter !== undefined) {
        waiter.timer.cancel();
        this.slots.push(waiter.task);
        admitted.push(waiter);
      }
    }
    // Resume the admitted pushers only once the queue's state is consistent: they may push again at once.
    for (const w of admitted) w.done();
  }

  private async work(task: WebhookTask): Promise<void> {
    const c = this.o.counters.webhooks;
    c.sent++;
    const r = await this.o.target.send(task, this.o.clock, this.o.timeoutMs());
    if (typeof r === 'number' && r >= 200 && r < 300) c.delivered++;
    else this.o.drop('receiverError', 1);
    this.active--;
    this.pump();
    this.o.onSettle();
  }
}
