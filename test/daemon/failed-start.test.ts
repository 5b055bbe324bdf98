/**
 * A start that fails part-way closes what it had opened (docs/architecture.md, the data path): no handle on the
 * database is left behind, and the same data folder can be used by the next start.
 */
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { configSchema } from '../../src/config/schema.js';
import type { Config } from '../../src/config/schema.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { ConfigError } from '../../src/errors.js';
import { TEST_PATH_SECRET } from '../helpers/daemon-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';

const PROC_FDS = '/proc/self/fd';

/** Paths under `dir` this process holds open (Linux: /proc/self/fd, worker threads included). */
function openFilesUnder(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync(PROC_FDS)) {
    try {
      const target = readlinkSync(join(PROC_FDS, fd));
      if (target.startsWith(dir)) open.push(target);
    } catch {
      // The descriptor closed while the list was read.
    }
  }
  return open;
}

function configIn(dir: string, input: ConfigInput = {}): Config {
  return configSchema.parse({
    ...input,
    openim: { secret: 'openIM123' },
    webhook: { host: '127.0.0.1', port: 0, pathSecret: TEST_PATH_SECRET, ...input.webhook },
    api: { host: '127.0.0.1', port: 0, ...input.api },
    store: { path: join(dir, 'presence.db') },
    poll: { enabled: false },
  });
}

const logger = pino({ level: 'silent' });

async function occupyPort(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe.skipIf(!existsSync(PROC_FDS))('a daemon whose start fails', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  /** A fresh data folder, removed after the test. */
  function dataDir(): string {
    const dir = tempDir('opr-failed-start-');
    cleanups.push(dir.cleanup);
    return dir.path;
  }

  /** Starts on `config` and closes the daemon after the test. */
  async function start(config: Config): Promise<Daemon> {
    const daemon = await startDaemon(config, { logger });
    cleanups.push(() => daemon.close());
    return daemon;
  }

  it('closes the database when a subscriber secret is not a whsec_ secret, and the folder can be used again', async () => {
    const dir = dataDir();
    const valid = configIn(dir, { subscribers: [{ name: 'billing', url: 'http://127.0.0.1:9/presence' }] });
    // The schema refuses such a secret; a configuration built in code reaches the push dispatcher with it.
    const bad: Config = { ...valid, subscribers: valid.subscribers.map((s) => ({ ...s, secret: 'whsec_c2hvcnQ=' })) };

    const failed = startDaemon(bad, { logger });
    await expect(failed).rejects.toBeInstanceOf(ConfigError);
    await expect(failed).rejects.toMatchObject({ code: 'OPR_ERR_CONFIG_INVALID', issues: [{ path: 'subscribers.0.secret' }] });
    expect(existsSync(join(dir, 'presence.db'))).toBe(true);
    await expect.poll(() => openFilesUnder(dir), { timeout: 2000 }).toEqual([]);

    const daemon = await start(valid);
    expect((await fetch(`${daemon.apiUrl}/healthz`)).status).toBe(200);
  });

  it('answers a port in use with a ConfigError naming the key, after closing the database', async () => {
    const dir = dataDir();
    const taken = await occupyPort();
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as AddressInfo).port;

    // The API listens first (on a free port); the webhook listener then finds its port taken.
    const failed = startDaemon(configIn(dir, { webhook: { port } }), { logger });
    await expect(failed).rejects.toBeInstanceOf(ConfigError);
    await expect(failed).rejects.toMatchObject({ code: 'OPR_ERR_CONFIG_INVALID', issues: [{ path: 'webhook.port', value: port }] });
    await expect(failed).rejects.toThrow(/EADDRINUSE/);
    await expect.poll(() => openFilesUnder(dir), { timeout: 2000 }).toEqual([]);

    const daemon = await start(configIn(dir));
    expect((await fetch(`${daemon.apiUrl}/healthz`)).status).toBe(200);
  });
});
