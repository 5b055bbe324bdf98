import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisServer, HAS_REDIS, REDIS_SKIP_REASON } from './redis-server.js';
import type { TestRedisServer } from './redis-server.js';

/** The server's own process id, as it reports it. */
async function serverPid(client: Redis): Promise<number> {
  const info = await client.info('server');
  const match = /^process_id:(\d+)/m.exec(info);
  if (!match?.[1]) throw new Error(`no process_id in INFO server:\n${info}`);
  return Number(match[1]);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Whether anything accepts a TCP connection on 127.0.0.1:port. */
function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe.skipIf(!HAS_REDIS)(`startRedisServer${REDIS_SKIP_REASON}`, () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('runs an AOF-only server with appendfsync always on loopback', async () => {
    const client = server.client();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await client.ping()).toBe('PONG');
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await client.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    expect(await client.config('GET', 'dir')).toEqual(['dir', server.dir]);
    client.disconnect();
  });

  it('keeps a key written with appendfsync always across kill() and restart()', async () => {
    const before = server.client();
    await before.set('survivor', 'written-before-the-crash');
    await before.rpush('survivor-list', 'a', 'b', 'c');
    const pid = await serverPid(before);

    await server.kill();
    expect(processExists(pid)).toBe(false);
    expect(await portAccepts(server.port)).toBe(false);

    await server.restart();
    const after = server.client();
    expect(await serverPid(after)).not.toBe(pid);
    expect(await after.get('survivor')).toBe('written-before-the-crash');
    expect(await after.lrange('survivor-list', 0, -1)).toEqual(['a', 'b', 'c']);
    // A client from before the crash reconnects by itself.
    expect(await before.get('survivor')).toBe('written-before-the-crash');
  });

  it('restart() of a running server stops it gracefully first and keeps the data', async () => {
    const client = server.client();
    await client.set('graceful', 'yes');
    const pid = await serverPid(client);
    await server.restart();
    expect(processExists(pid)).toBe(false);
    const fresh = server.client();
    expect(await fresh.get('graceful')).toBe('yes');
  });
});

describe.skipIf(!HAS_REDIS)(`TestRedisServer.stop${REDIS_SKIP_REASON}`, () => {
  it('leaves no process, closes the clients, frees the port and removes the directory', async () => {
    const server = await startRedisServer({ appendfsync: 'everysec' });
    const client = server.client();
    expect(await client.config('GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);
    const pid = await serverPid(client);
    expect(processExists(pid)).toBe(true);

    await server.stop();
    expect(processExists(pid)).toBe(false);
    expect(await portAccepts(server.port)).toBe(false);
    expect(client.status).toBe('end');
    expect(existsSync(server.dir)).toBe(false);
    await expect(server.restart()).rejects.toThrow(/after stop/);
    await server.stop(); // a second stop does nothing
  });

  it('after kill() still leaves no process', async () => {
    const server = await startRedisServer();
    const pid = await serverPid(server.client());
    await server.kill();
    await server.stop();
    expect(processExists(pid)).toBe(false);
    expect(existsSync(server.dir)).toBe(false);
  });
});

describe.skipIf(!HAS_REDIS)(`startRedisServer with requirePass${REDIS_SKIP_REASON}`, () => {
  it('puts the password in the url and refuses clients without it', async () => {
    const server = await startRedisServer({ requirePass: 'test-redis-pass-01' });
    try {
      expect(server.url).toBe(`redis://:test-redis-pass-01@127.0.0.1:${server.port}`);
      expect(await server.client().ping()).toBe('PONG');
      const anonymous = new Redis({ host: '127.0.0.1', port: server.port, enableReadyCheck: false });
      anonymous.on('error', () => {});
      try {
        await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
      } finally {
        anonymous.disconnect();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('startRedisServer without redis-server', () => {
  it("says to install Debian's redis-server", async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent-opr-bin';
    try {
      await expect(startRedisServer()).rejects.toThrow(/install Debian's redis-server/);
    } finally {
      process.env.PATH = path;
    }
  });
});
