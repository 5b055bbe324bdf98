/**
 * The contract every Store backend must meet (docs/architecture.md, durability), one suite per role of the store
 * (./contract/). A backend's test file calls `runStoreContract(name, factory)`; the factory gives a fresh, empty store
 * per test.
 */
import { describe } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { transactionsContract } from './contract/transactions.js';
import { receiptLogContract } from './contract/receipts.js';
import { presenceStateContract } from './contract/presence-state.js';
import { eventLogContract } from './contract/event-log.js';
import { reportQueriesContract } from './contract/reports.js';
import { mismatchStoreContract } from './contract/mismatches.js';
import { pollJournalContract } from './contract/poll-journal.js';
import { trackedUsersContract } from './contract/tracked-users.js';
import { subscriberCursorsContract } from './contract/subscriber-cursors.js';
import { incidentStoreContract } from './contract/incidents.js';
import { retentionContract } from './contract/retention.js';
import { lifecycleContract } from './contract/lifecycle.js';

export { event, mismatch, receipt } from './contract/fixtures.js';

export interface StoreHarness {
  store: Store;
  /** The file behind the store, when there is one (its permissions are checked). */
  file?: string;
  /** Closes the store and opens the same data again (backends that persist). */
  reopen?: () => Store;
  /** Removes whatever the harness created (and may check what the test left). The store is closed before. */
  cleanup: () => void | Promise<void>;
}

export type StoreFactory = () => StoreHarness;

export function runStoreContract(name: string, factory: StoreFactory): void {
  describe(`the ${name} store`, () => {
    transactionsContract(factory);
    receiptLogContract(factory);
    presenceStateContract(factory);
    eventLogContract(factory);
    reportQueriesContract(factory);
    mismatchStoreContract(factory);
    pollJournalContract(factory);
    trackedUsersContract(factory);
    subscriberCursorsContract(factory);
    incidentStoreContract(factory);
    retentionContract(factory);
    lifecycleContract(factory);
  });
}
