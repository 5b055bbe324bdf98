/** A loopback HTTP receiver for push deliveries: records every request and answers as the test says. */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { ConfigInput } from '../../src/config/schema.js';
import { configSchema } from '../../src/config/schema.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import type { PresenceEventJson } from '../../src/domain.js';
import type { PushTuning } from '../../src/push/push-dispatcher.js';
import { TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
  events: PresenceEventJson[];
  at: number;
}

/** What to answer the n-th request (0-based): a status (possibly later), or `hang` to never answer. */
export type Responder = (n: number, d: Delivery) => number | 'hang' | Promise<number>;

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Seqs of every event received, in arrival order (retries and replays included). */
  seqs: () => number[];
  respond: Responder;
  close: () => Promise<void>;
}

export async function startReceiver(respond: Responder = () => 200): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const hung: (() => void)[] = [];
  const receiver: Receiver = {
    url: '',
    deliveries,
    seqs: () => deliveries.flatMap((d) => d.events.map((e) => e.seq)),
    respond,
    close: async () => {
      for (const h of hung) h();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const delivery: Delivery = { headers: req.headers, body, events: (JSON.parse(body) as { events: PresenceEventJson[] }).events, at: Date.now() };
      const answer = receiver.respond(deliveries.length, delivery);
      deliveries.push(delivery);
      if (answer === 'hang') {
        hung.push(() => res.destroy());
        return;
      }
      void Promise.resolve(answer).then((status) => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/presence`;
  return receiver;
}

export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** A daemon (loopback, port 0, polling off) with push subscribers and push timing for tests. */
export async function startPushDaemon(
  subscribers: NonNullable<ConfigInput['subscribers']>,
  push: PushTuning = { baseDelayMs: 20, maxDelayMs: 200, idleCheckMs: 200 },
  storePath?: string,
  apiPort = 0,
): Promise<Daemon & { dir: string; cleanupDir: () => void }> {
  const dir = tempDir('opr-push-');
  const config = configSchema.parse({
    openim: { secret: 'openIM123' },
    webhook: { host: '127.0.0.1', port: 0, pathSecret: TEST_PATH_SECRET },
    api: { host: '127.0.0.1', port: apiPort },
    store: { path: storePath ?? `${dir.path}/presence.db` },
    reconcile: { settleMs: 200, graceMs: 500, confirmDelayMs: 300 },
    poll: { enabled: false },
    subscribers,
  });
  const daemon = await startDaemon(config, { logger: pino({ level: 'silent' }), push });
  return Object.assign(daemon, { dir: dir.path, cleanupDir: dir.cleanup });
}
