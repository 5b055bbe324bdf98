/** The store contract for the backing file and close(): every backend must pass it (run by ../store-contract.ts). */
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory, StoreHarness } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { event } from './fixtures.js';

export function lifecycleContract(factory: StoreFactory): void {
  describe('the backing file and close()', () => {
    let h: StoreHarness;
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      h = fresh;
      store = fresh.store;
    });

    describe('the backing file', () => {
      it('is readable and writable by its owner only (mode 0600)', () => {
        if (h.file === undefined) return;
        store.appendEvent(event());
        expect(statSync(h.file).mode & 0o777).toBe(0o600);
      });
    });

    it('can be closed twice', () => {
      store.close();
      expect(() => store.close()).not.toThrow();
    });
  });
}
