import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RetentionService } from '../../src/store/retention-service.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { event, receipt } from './store-contract.js';

const DAY = 86_400_000;
const NOW = 1_732_530_000_000;

describe('the retention service', () => {
  let store: SqliteStore;
  const log = pino({ level: 'silent' });

  beforeEach(() => {
    store = new SqliteStore({ path: ':memory:' });
    store.transaction(() => {
      for (let i = 0; i < 25; i++) {
        store.appendEvent(event({ recordedAt: NOW - 10 * DAY + i }));
        store.insertReceipt(receipt({ seq: i, receivedAt: NOW - 10 * DAY + i }));
      }
      store.appendEvent(event({ recordedAt: NOW }));
    });
  });
  afterEach(() => store.close());

  it('prunes a backlog in steps of its row limit, with the event loop free between steps, down to the same end as one prune', async () => {
    const service = new RetentionService(store, 7 * DAY, log, () => NOW, 10);
    const order: string[] = [];
    const step = store.pruneStep;
    vi.spyOn(store, 'pruneStep').mockImplementation((olderThan, maxRows) => {
      order.push('step');
      // Runs at the next turn of the event loop: before the next step only if the run yields between steps.
      setImmediate(() => order.push('loop'));
      return step(olderThan, maxRows);
    });
    await service.run();
    vi.restoreAllMocks();
    expect(order.filter((o) => o === 'step')).toHaveLength(3);
    expect(order.slice(0, 4)).toEqual(['step', 'loop', 'step', 'loop']);
    expect(store.readEvents(0, 100).map((e) => e.recordedAt)).toEqual([NOW]);
    expect(store.countReceipts()).toBe(0);
    expect(store.prunedThroughSeq()).toBe(25);
  });

  it('ends a run in progress after its current step when stopped', async () => {
    const service = new RetentionService(store, 7 * DAY, log, () => NOW, 5);
    const run = service.run();
    await service.stop();
    await run;
    // The first step ran synchronously; the stop came before the second.
    expect(store.readEvents(0, 100)).toHaveLength(21);
    expect(store.prunedThroughSeq()).toBe(5);
  });

  it('runs once at a time: a run asked for while one goes is the same run', async () => {
    const service = new RetentionService(store, 7 * DAY, log, () => NOW, 5);
    const a = service.run();
    const b = service.run();
    expect(b).toBe(a);
    await a;
    expect(store.readEvents(0, 100)).toHaveLength(1);
  });
});
