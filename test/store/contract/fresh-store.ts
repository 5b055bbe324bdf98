/** Each contract test gets a fresh, empty store from the backend's factory, closed and cleaned up after it. */
import { afterEach, beforeEach } from 'vitest';
import type { StoreFactory, StoreHarness } from '../store-contract.js';

/** Registers the hooks; `use` receives each test's harness (a test that reopens the store sets `h.store`). */
export function freshStoreEachTest(factory: StoreFactory, use: (h: StoreHarness) => void): void {
  let h: StoreHarness | undefined;
  beforeEach(() => {
    h = factory();
    use(h);
  });
  afterEach(async () => {
    h?.store.close();
    await h?.cleanup();
  });
}
