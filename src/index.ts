/**
 * The package's public entry: the event stream client and the types of what the stream carries.
 * The daemon itself is run with the `openim-presence` command.
 */
export { subscribe, SubscribeError, eventsUrl } from './client/subscribe.js';
export type { Heartbeat, SubscribeErrorKind, SubscribeOptions, Subscription } from './client/subscribe.js';
export { SseParser } from './client/sse-parser.js';
export type { SseMessage } from './client/sse-parser.js';
export { EVENT_SOURCES, EVENT_TYPES, MISMATCH_KINDS, MISMATCH_STATUSES, eventToJson } from './domain.js';
export type {
  EventSource,
  EventType,
  EvidenceItem,
  Mismatch,
  MismatchKind,
  MismatchStatus,
  PresenceEvent,
  PresenceEventJson,
} from './domain.js';
