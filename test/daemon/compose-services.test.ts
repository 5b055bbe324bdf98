import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { Mock } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { configSchema } from '../../src/config/schema.js';
import type { Config } from '../../src/config/schema.js';
import { closeServices, composeServices } from '../../src/daemon/compose-services.js';
import { ConfigError } from '../../src/errors.js';
import type { OpenImApi } from '../../src/openim/types.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const logger = pino({ level: 'silent' });

function configOf(input: ConfigInput = {}): Config {
  return configSchema.parse({ ...input, openim: { secret: 'openIM123' }, store: { path: ':memory:' } });
}

/** An OpenIM client that is never asked anything here; records whether it was closed. */
function idleOpenIm(): OpenImApi & { close: Mock<() => void> } {
  const never = (): never => {
    throw new Error('not expected in this test');
  };
  return { getUsersOnlineStatus: never, getUsersStatus: never, allUserIDs: never, probe: never, close: vi.fn<() => void>() };
}

describe('composeServices', () => {
  it('builds the poll side only when polling is enabled, and starts nothing', async () => {
    const off = composeServices(configOf({ poll: { enabled: false } }), { logger, store: new SqliteStore({ path: ':memory:' }) });
    expect(off.polling).toBeUndefined();
    await closeServices(off, logger);

    const openim = idleOpenIm();
    const on = composeServices(configOf({ poll: { enabled: true, intervalSeconds: 10 } }), { logger, store: new SqliteStore({ path: ':memory:' }), openim });
    expect(on.polling?.openim).toBe(openim);
    expect(on.polling?.scheduler.status()).toMatchObject({ running: false });
    expect(on.settle.periodMs).toBe(100);
    await closeServices(on, logger);
    expect(openim.close).toHaveBeenCalledOnce();
  });

  it('closes the store and the OpenIM client it was given when a part cannot be built', () => {
    const valid = configOf({ poll: { enabled: true }, subscribers: [{ name: 'billing', url: 'http://127.0.0.1:9/presence' }] });
    const bad: Config = { ...valid, subscribers: valid.subscribers.map((s) => ({ ...s, secret: 'whsec_c2hvcnQ=' })) };
    const store = new SqliteStore({ path: ':memory:' });
    const storeClose = vi.spyOn(store, 'close');
    const openim = idleOpenIm();

    expect(() => composeServices(bad, { logger, store, openim })).toThrow(ConfigError);
    expect(storeClose).toHaveBeenCalledOnce();
    expect(openim.close).toHaveBeenCalledOnce();
  });

  it('closeServices stops what was started, in order, and closes the database last', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const s = composeServices(configOf({ poll: { enabled: false } }), { logger, store });
    const order: string[] = [];
    vi.spyOn(s.push, 'close').mockImplementation(() => {
      order.push('push');
      return Promise.resolve();
    });
    vi.spyOn(s.committer, 'close').mockImplementation(() => void order.push('committer'));
    vi.spyOn(s.incidents, 'close').mockImplementation(() => void order.push('incidents'));
    vi.spyOn(s.settle, 'stop').mockImplementation(() => void order.push('settle'));
    vi.spyOn(s.retention, 'stop').mockImplementation(() => {
      order.push('retention');
      return Promise.resolve();
    });
    vi.spyOn(store, 'close').mockImplementation(() => void order.push('store'));
    s.settle.start();
    s.retention.start();
    await closeServices(s, logger);
    expect(order).toEqual(['push', 'committer', 'incidents', 'settle', 'retention', 'store']);
    vi.restoreAllMocks();
    s.settle.stop();
    await s.retention.stop();
    s.incidents.close();
    store.close();
  });
});
