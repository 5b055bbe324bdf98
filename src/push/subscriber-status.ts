/** What `GET /v1/subscribers` and `openim-presence subscribers list` show of one push subscriber. */
import type { SubscriberCursor } from '../store/store.js';

/** `active`, `retrying` (backing off after a failure) or `dead` (dead-lettered until an operator retries or replays). */
export type SubscriberState = SubscriberCursor['state'];

export interface SubscriberStatus {
  name: string;
  /** The target URL without credentials or query string. */
  url: string;
  users: string[];
  types: string[];
  batchSize: number;
  maxAttempts: number;
  signed: boolean;
  state: SubscriberState;
  /** Events up to this seq are acknowledged (or filtered out). */
  cursor: number;
  head: number;
  /** head − cursor. */
  lag: number;
  /** Failed attempts in a row for the current batch. */
  attempts: number;
  nextAttemptAt: number | null;
  lastError: string;
  /** Last acknowledged delivery since the daemon started, or null. */
  lastDeliveredAt: number | null;
  /** Events acknowledged since the daemon started. */
  deliveredEvents: number;
}
