// @ts-check
// The shapes of the /v1 answers the dashboard reads: type declarations only (JSDoc), no code. Modules refer to
// them with `@import` comments, so the browser never loads this file. Only the fields the dashboard uses are named;
// optional ones are those it does not count on (older daemons, features turned off).

/**
 * @typedef {'missed_online' | 'missed_offline' | 'late_webhook' | 'transient' | 'suspect_poll' | 'initial_sync'} MismatchKind
 * @typedef {'open' | 'acknowledged' | 'resolved'} MismatchStatus
 * @typedef {'silent' | 'degraded' | 'healthy' | 'unknown'} HealthState
 */

/**
 * One entry of the webhook health: a platform × command.
 * @typedef {object} WebhookEntry
 * @property {number} platformID
 * @property {string} platform
 * @property {'online' | 'offline'} command
 * @property {HealthState} state
 * @property {number} byWebhook
 * @property {number} byCorrection
 * @property {number} receipts
 * @property {number} [silentRenewals]
 * @property {number | null} [correctionShare]
 * @property {number | null} [lateP50Ms]
 * @property {number | null} [lateP99Ms]
 * @property {string} message
 */

/**
 * @typedef {object} AffectedGroup
 * @property {HealthState} state
 * @property {string} command
 * @property {string[]} platforms
 */

/**
 * @typedef {object} WebhookSummary
 * @property {HealthState} state
 * @property {string} headline
 * @property {string} cause
 * @property {AffectedGroup[]} affected
 */

/**
 * @typedef {object} WebhookHealth
 * @property {HealthState} [state]
 * @property {WebhookSummary} [summary]
 * @property {WebhookEntry[]} entries
 * @property {number} [windowMinutes]
 */

/**
 * The mass-disagreement guard while it holds.
 * @typedef {object} Guard
 * @property {number} readOffline
 * @property {number} believedOnline
 * @property {string} since
 * @property {string | null} holdUntil
 * @property {number} mismatchID
 */

/**
 * @typedef {object} PollHealth
 * @property {boolean} enabled
 * @property {Guard | null} [guard]
 * @property {string | null} [lastCycleAt]
 * @property {boolean} [running]
 * @property {number} [cycles]
 * @property {number} [polledUsers]
 * @property {number} [trackedUsers]
 * @property {number} [excludedUsers]
 * @property {number} [openDisagreements]
 */

/**
 * @typedef {object} ApiHealth
 * @property {'ok' | 'failing' | 'unknown'} state
 * @property {string} [message]
 */

/**
 * `GET /v1/health`
 * @typedef {object} Health
 * @property {'active' | 'shadow'} [mode]
 * @property {{ headSeq?: number, onlineUsers?: number, keys?: number, heldOfflines?: number }} [stream]
 * @property {WebhookHealth} [webhooks]
 * @property {PollHealth} [poll]
 * @property {ApiHealth} [api]
 */

/**
 * `GET /v1/demo`, under `openim-presence demo` only.
 * @typedef {object} Demo
 * @property {{ number: number, name: string, title: string, since: string, watch: string }} episode
 * @property {number} episodes
 * @property {{ number: number, title: string, at: string } | null} [next]
 * @property {{ readOffline: number, at: string } | null} [guardRaised]
 * @property {{ report: string, incidents: string }} commands
 */

/**
 * @typedef {object} Evidence
 * @property {string} at
 * @property {string} what
 * @property {string} detail
 */

/**
 * @typedef {object} Mismatch
 * @property {number} id
 * @property {MismatchKind} kind
 * @property {MismatchStatus} status
 * @property {string} userID
 * @property {number | null} platformID
 * @property {string} platform
 * @property {string} detectedAt
 * @property {string | null} occurredAfter
 * @property {string | null} occurredBefore
 * @property {number | null} eventSeq
 * @property {number | null} lateByMs
 * @property {boolean} shadow
 * @property {string} note
 * @property {Evidence[]} evidence
 */

/**
 * `GET /v1/mismatches`
 * @typedef {object} MismatchPage
 * @property {Mismatch[]} mismatches
 * @property {number | null} next
 */

/**
 * @typedef {object} Incident
 * @property {number} id
 * @property {string} cause
 * @property {string} status
 * @property {string} title
 * @property {string} firstAt
 * @property {string} lastAt
 * @property {number} mismatches
 * @property {{ kind: string, count: number }[]} [byKind]
 * @property {string | null} closedReason
 * @property {string} note
 */

/**
 * `GET /v1/incidents`
 * @typedef {object} IncidentPage
 * @property {Incident[]} incidents
 * @property {{ open: number, acknowledged: number, closed: number }} counts
 */

/**
 * @typedef {object} TimeseriesBucket
 * @property {string} t
 * @property {number} webhook
 * @property {number} poll
 * @property {Record<string, number>} mismatches
 */

/**
 * `GET /v1/stats/timeseries`
 * @typedef {object} Timeseries
 * @property {string} since
 * @property {string} until
 * @property {number} bucketSeconds
 * @property {string[]} [kinds]
 * @property {TimeseriesBucket[]} buckets
 * @property {{ webhook: number, poll: number, receipts: number, mismatches: Record<string, number> }} totals
 */

/**
 * A published presence event, as `GET /v1/events` and the event stream carry it.
 * @typedef {object} PresenceEvent
 * @property {number} seq
 * @property {'presence.online' | 'presence.offline'} type
 * @property {string} userID
 * @property {number | null} platformID
 * @property {string} [platform]
 * @property {'webhook' | 'poll'} source
 * @property {number | null} [mismatchID]
 * @property {string} recordedAt
 * @property {string | null} [occurredAt]
 * @property {string | null} [occurredAfter]
 * @property {string | null} [occurredBefore]
 * @property {boolean} userOnline
 * @property {number} [userVersion]
 */

/**
 * `GET /v1/events`
 * @typedef {object} EventPage
 * @property {PresenceEvent[]} events
 * @property {number} [next]
 * @property {number} head
 */

/**
 * @typedef {'webhook' | 'poll' | 'event' | 'mismatch'} TimelineKind
 */

/**
 * @typedef {object} TimelineItem
 * @property {string} at
 * @property {TimelineKind} kind
 * @property {string} summary
 * @property {Record<string, unknown> | null} [details]
 */

/**
 * `GET /v1/users/:userID/timeline`
 * @typedef {object} Timeline
 * @property {string} userID
 * @property {string} since
 * @property {{ platformID: number, platform: string, online: boolean, changedAt: string, lastVerifiedAt: string | null, pendingOffline: boolean }[]} [presence]
 * @property {TimelineItem[]} [items]
 * @property {boolean} truncated
 * @property {string | null} completeUntil
 */

export {};
