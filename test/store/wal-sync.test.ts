import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isOprError } from '../../src/errors.js';
import { WalSync } from '../../src/store/wal-sync.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('WalSync', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  function walFile(): string {
    const dir = tempDir('opr-walsync-');
    cleanups.push(dir.cleanup);
    const path = join(dir.path, 'x.db-wal');
    writeFileSync(path, 'frames');
    return path;
  }

  it('answers at once when nothing is pending', () => {
    const sync = new WalSync(walFile(), 7);
    let ran = false;
    sync.whenDurable(
      () => (ran = true),
      () => undefined,
    );
    expect(ran).toBe(true);
    expect(sync.durableSeq).toBe(7);
    sync.close();
  });

  it('advances the durable seq only when the fsync covering a commit returned, answering waiters in order', async () => {
    const sync = new WalSync(walFile(), 0);
    const seen: string[] = [];
    sync.committed(1);
    sync.whenDurable(
      () => seen.push(`a@${sync.durableSeq}`),
      () => seen.push('a failed'),
    );
    sync.committed(2);
    sync.whenDurable(
      () => seen.push(`b@${sync.durableSeq}`),
      () => seen.push('b failed'),
    );
    expect(sync.durableSeq).toBe(0);
    expect(seen).toEqual([]);
    await new Promise<void>((resolve, reject) => sync.whenDurable(resolve, reject));
    expect(seen).toEqual(['a@1', 'b@2']);
    expect(sync.durableSeq).toBe(2);
    sync.close();
  });

  it('fails every waiter, then and later, with OPR_ERR_STORE_SYNC when the WAL cannot be synced, and says so once', () => {
    const failures: Error[] = [];
    const sync = new WalSync('/nonexistent-dir/x.db-wal', 0, (e) => failures.push(e));
    const errors: unknown[] = [];
    sync.whenDurable(
      () => errors.push('ok'),
      (e) => errors.push(e),
    );
    sync.committed(1);
    sync.whenDurable(
      () => errors.push('ok'),
      (e) => errors.push(e),
    );
    sync.committed(2);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toBe('ok');
    expect(isOprError(errors[1]) && errors[1].code).toBe('OPR_ERR_STORE_SYNC');
    expect(failures).toHaveLength(1);
    expect(sync.durableSeq).toBe(0);
    sync.close();
  });
});
