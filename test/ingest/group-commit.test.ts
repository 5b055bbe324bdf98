import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GroupCommitter } from '../../src/ingest/group-commit.js';
import type { GroupCommitOptions } from '../../src/ingest/group-commit.js';

describe('the group committer', () => {
  let batches: number[][];
  let failNext: boolean;
  const make = (over: Partial<GroupCommitOptions<number, string>> = {}): GroupCommitter<number, string> =>
    new GroupCommitter<number, string>({
      commit: (items) => {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
        batches.push([...items]);
        return items.map((i) => `ok ${i}`);
      },
      maxDelayMs: 10,
      maxBatch: 3,
      queueLimit: 100,
      ...over,
    });

  beforeEach(() => {
    vi.useFakeTimers();
    batches = [];
    failNext = false;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('when items arrive one by one', () => {
    it('commits them together once the longest wait has passed, and settles each caller with its own result', async () => {
      const c = make();
      const a = c.submit(1);
      await vi.advanceTimersByTimeAsync(5);
      const b = c.submit(2);
      expect(batches).toEqual([]);
      expect(c.depth).toBe(2);
      await vi.advanceTimersByTimeAsync(5);
      expect(batches).toEqual([[1, 2]]);
      await expect(a).resolves.toBe('ok 1');
      await expect(b).resolves.toBe('ok 2');
      expect(c.depth).toBe(0);
    });

    it('commits on the next turn of the event loop when maxDelayMs is 0', async () => {
      const c = make({ maxDelayMs: 0 });
      const a = c.submit(1);
      await vi.advanceTimersByTimeAsync(0);
      await expect(a).resolves.toBe('ok 1');
    });
  });

  describe('when a batch fills up', () => {
    it('commits at once without waiting, in batches of at most maxBatch, in order', async () => {
      const c = make({ maxDelayMs: 1000 });
      const all = [1, 2, 3, 4, 5, 6, 7].map((i) => c.submit(i));
      await vi.advanceTimersByTimeAsync(0);
      expect(batches).toEqual([
        [1, 2, 3],
        [4, 5, 6],
        [7],
      ]);
      await expect(Promise.all(all)).resolves.toEqual(['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5', 'ok 6', 'ok 7']);
    });
  });

  describe('when the queue is full', () => {
    it('refuses at once with OPR_ERR_INGEST_OVERLOADED, and accepts again once it drained', async () => {
      const c = make({ queueLimit: 2, maxBatch: 10 });
      const kept = [c.submit(1), c.submit(2)];
      await expect(c.submit(3)).rejects.toMatchObject({ code: 'OPR_ERR_INGEST_OVERLOADED' });
      await vi.advanceTimersByTimeAsync(10);
      await expect(Promise.all(kept)).resolves.toEqual(['ok 1', 'ok 2']);
      expect(batches).toEqual([[1, 2]]);
      const again = c.submit(4);
      await vi.advanceTimersByTimeAsync(10);
      await expect(again).resolves.toBe('ok 4');
    });
  });

  describe('when a commit fails', () => {
    it('rejects every caller of that batch and still commits the next one', async () => {
      const c = make({ maxDelayMs: 1000 });
      const first = [1, 2, 3].map((i) => c.submit(i).then(String, (e: unknown) => `rejected: ${(e as Error).message}`));
      const second = c.submit(4);
      failNext = true;
      await vi.advanceTimersByTimeAsync(0);
      await expect(Promise.all(first)).resolves.toEqual(['rejected: disk full', 'rejected: disk full', 'rejected: disk full']);
      await vi.advanceTimersByTimeAsync(1000);
      await expect(second).resolves.toBe('ok 4');
    });
  });

  describe('when it is closed', () => {
    it('commits what is queued at once and refuses anything later with OPR_ERR_INGEST_CLOSED', async () => {
      const c = make({ maxDelayMs: 1000 });
      const queued = c.submit(1);
      c.close();
      expect(batches).toEqual([[1]]);
      await expect(queued).resolves.toBe('ok 1');
      await expect(c.submit(2)).rejects.toMatchObject({ code: 'OPR_ERR_INGEST_CLOSED' });
      expect(() => c.close()).not.toThrow();
      await vi.advanceTimersByTimeAsync(2000);
      expect(batches).toEqual([[1]]);
    });
  });

  describe('with afterCommit (answers once the commit is durable)', () => {
    it('answers callers only when afterCommit says so, committing the next batch meanwhile', async () => {
      const pending: (() => void)[] = [];
      const c = make({ maxDelayMs: 0, afterCommit: (ok) => pending.push(ok) });
      const settled: string[] = [];
      void c.submit(1).then((r) => settled.push(r));
      await vi.advanceTimersByTimeAsync(1);
      void c.submit(2).then((r) => settled.push(r));
      await vi.advanceTimersByTimeAsync(1);
      expect(batches).toEqual([[1], [2]]);
      expect(settled).toEqual([]);
      pending.shift()!();
      await vi.advanceTimersByTimeAsync(0);
      expect(settled).toEqual(['ok 1']);
      pending.shift()!();
      await vi.advanceTimersByTimeAsync(0);
      expect(settled).toEqual(['ok 1', 'ok 2']);
    });

    it('keeps at most two batches waiting for afterCommit: later items wait, and are committed as one batch as soon as the oldest is answered', async () => {
      const pending: (() => void)[] = [];
      const c = make({ maxDelayMs: 0, maxBatch: 10, afterCommit: (ok) => pending.push(ok) });
      const settled: string[] = [];
      const submit = (i: number): void => void c.submit(i).then((r) => settled.push(r));
      submit(1);
      await vi.advanceTimersByTimeAsync(1);
      submit(2);
      await vi.advanceTimersByTimeAsync(1);
      for (const i of [3, 4, 5]) {
        submit(i);
        await vi.advanceTimersByTimeAsync(1);
      }
      expect(batches).toEqual([[1], [2]]);
      expect(c.depth).toBe(3);
      // Answering the oldest commits the held items at once, inside the callback (before the next fsync would start).
      pending.shift()!();
      expect(batches).toEqual([[1], [2], [3, 4, 5]]);
      await vi.advanceTimersByTimeAsync(0);
      expect(settled).toEqual(['ok 1']);
      pending.shift()!();
      pending.shift()!();
      await vi.advanceTimersByTimeAsync(0);
      expect(settled).toEqual(['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5']);
    });

    it('commits held items when a waiting batch fails too, and when it is closed', async () => {
      const pending: { ok: () => void; fail: (e: Error) => void }[] = [];
      const c = make({ maxDelayMs: 0, maxBatch: 10, afterCommit: (ok, fail) => pending.push({ ok, fail }) });
      const first = c.submit(1).catch((e: unknown) => `rejected: ${(e as Error).message}`);
      await vi.advanceTimersByTimeAsync(1);
      void c.submit(2);
      await vi.advanceTimersByTimeAsync(1);
      void c.submit(3);
      await vi.advanceTimersByTimeAsync(1);
      expect(batches).toEqual([[1], [2]]);
      pending.shift()!.fail(new Error('fsync failed'));
      await expect(first).resolves.toBe('rejected: fsync failed');
      expect(batches).toEqual([[1], [2], [3]]);
      void c.submit(4);
      await vi.advanceTimersByTimeAsync(1);
      expect(batches).toEqual([[1], [2], [3]]);
      c.close();
      expect(batches).toEqual([[1], [2], [3], [4]]);
    });

    it('rejects the callers of a batch with the error afterCommit reports', async () => {
      const c = make({ maxDelayMs: 0, afterCommit: (_ok, fail) => fail(new Error('fsync failed')) });
      const a = c.submit(1);
      const assertion = expect(a).rejects.toThrow('fsync failed');
      await vi.advanceTimersByTimeAsync(1);
      await assertion;
    });
  });
});
