/** Why a presence webhook OpenIM would have produced never reached the receiver with a 2xx answer. */
export const DROP_REASONS = [
  /** The `loss` fault knob. */
  'loss',
  /** The gateway's 100-slot webhook queue stayed full for 3 s. */
  'queueFull',
  /** A flushed batch found its shard's 64-slot channel full and was dropped whole (Redis write included). */
  'shardOverflow',
  /** The version mode sends no presence webhooks (3.8.0, 3.8.1). */
  'version',
  /** The gateway crashed with the webhook unflushed, queued or in a batch being processed. */
  'crash',
  /** The receiver answered non-2xx, failed, or did not answer within the webhook timeout. */
  'receiverError',
  /** No webhook URL is configured. */
  'disabled',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * Counters of the whole simulator. For webhooks, at any moment:
 * `generated + duplicated = delivered + sum(dropped) + pending`.
 */
export interface SimulatorCounters {
  webhooks: {
    /** Webhooks implied by the states pushed into the gateways' flush buffers (one per Online/Offline entry). */
    generated: number;
    /** HTTP requests started. */
    sent: number;
    /** HTTP requests answered 2xx. */
    delivered: number;
    /** Extra copies made by the duplication knob. */
    duplicated: number;
    /** Pushes that found the gateway's queue full and had to wait (the receiver is not keeping up). */
    queueWaits: number;
    /** Not yet delivered or dropped (buffered, batched, delayed, queued or in flight). */
    pending: number;
    dropped: Record<DropReason, number>;
  };
  states: {
    /** States pushed by connection changes, renewals and self-heal. */
    pushed: number;
    /** States pushed by the 10-minute renewal. */
    renewals: number;
    /** States pushed because the Redis view differed from a gateway's own connections. */
    selfHeals: number;
    /** Batches processed (one operationID each). */
    batches: number;
    /** Batches dropped whole because the shard's channel was full. */
    batchesDropped: number;
  };
  presence: {
    connects: number;
    disconnects: number;
    onlineUsers: number;
    connections: number;
  };
  api: {
    requests: number;
    injectedErrors: number;
    injectedTimeouts: number;
    byRoute: Record<string, number>;
  };
  tokens: {
    issued: number;
    expiredByControl: number;
  };
}

export function emptyCounters(): SimulatorCounters {
  return {
    webhooks: {
      generated: 0,
      sent: 0,
      delivered: 0,
      duplicated: 0,
      queueWaits: 0,
      pending: 0,
      dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    },
    states: { pushed: 0, renewals: 0, selfHeals: 0, batches: 0, batchesDropped: 0 },
    presence: { connects: 0, disconnects: 0, onlineUsers: 0, connections: 0 },
    api: { requests: 0, injectedErrors: 0, injectedTimeouts: 0, byRoute: {} },
    tokens: { issued: 0, expiredByControl: 0 },
  };
}
